"""What the training loop costs beyond its steps

How much longer is a training run through the real loop (per-epoch permutations, batch
gathering, metrics fetched every `log_every` steps, the progress bar, metrics.jsonl and
TensorBoard) than the same number of bare train steps; and what does an asynchronous
checkpoint every N steps add?
"""
import pathlib
import shutil
import statistics
import time

from experiments.throughput import ours
from experiments.throughput.workloads import WORKLOADS
from research import report
from research.train import driver, loop
from research.train import config as config_lib

TITLE = 'What the training loop costs beyond its steps'


def _loop_step_s(config, dataset, workdir: pathlib.Path) -> float:
  shutil.rmtree(workdir, ignore_errors=True)
  workdir.mkdir(parents=True)
  timing = driver.Timing()
  results = loop.train_and_evaluate(config, workdir, dataset, {}, timing)
  steady = timing.results(results['steps_run'])
  return steady['steady_s'] / steady['steady_steps']


def _bare_step_s(trainer: ours.Trainer, steps: int) -> float:
  start = time.perf_counter()
  trainer.steps(steps)  # ends with a fetch of the last loss, so the device is done
  return (time.perf_counter() - start) / steps


def measure(config, workdir: pathlib.Path) -> dict:
  workload = WORKLOADS[config.overheads.workload]
  dataset = workload.dataset()
  k = config.steps_per_call
  bare = ours.Trainer(workload, dataset, config.batch_size, k)
  bare.steps(k)  # compile
  steps = config.overheads.steps
  runs = {}
  for name, every in (('plain', steps), ('checkpointed', config.overheads.checkpoint_every)):
    runs[name] = config_lib.replace(ours.config_for(workload, config.batch_size, k),
                                    steps=steps, log_every=50, eval_every=steps,
                                    checkpoint_every=every)
  # Bare steps and whole runs in turn, so that a slow spell of the machine hits all three.
  times = {'bare': [], **{name: [] for name in runs}}
  for _ in range(config.overheads.repeats):
    times['bare'].append(_bare_step_s(bare, steps // k * k))
    for name, run in runs.items():
      times[name].append(_loop_step_s(run, dataset, workdir / 'loop-runs' / name))
  return {'workload': workload.name, 'steps': steps, 'steps_per_call': k,
          'bare_step_s': statistics.median(times['bare']),
          'loop_step_s': statistics.median(times['plain']),
          'checkpointed_step_s': statistics.median(times['checkpointed']),
          'loop_runs_s': times, 'checkpoint_every': config.overheads.checkpoint_every}


GOAL = 0.05  # each overhead's goal: under 5%


def analyze(results: dict) -> dict:
  loop_overhead = results['loop_step_s'] / results['bare_step_s'] - 1
  ckpt_overhead = results['checkpointed_step_s'] / results['loop_step_s'] - 1
  return {'headline': {'loop_overhead': loop_overhead, 'checkpoint_overhead': ckpt_overhead},
          'meets_goal': {'loop': loop_overhead < GOAL, 'checkpoint': ckpt_overhead < GOAL}}


def render(results: dict, findings: dict) -> str:
  loop_overhead = findings['headline']['loop_overhead']
  ckpt_overhead = findings['headline']['checkpoint_overhead']
  table = report.markdown_table(['', 'ms per step', 'overhead'], [
      ['bare train steps', f'{1e3 * results["bare_step_s"]:.3f}', ''],
      ['the training loop (log every 50)', f'{1e3 * results["loop_step_s"]:.3f}',
       f'{loop_overhead:+.1%} over bare steps'],
      [f'... and a checkpoint every {results["checkpoint_every"]} steps',
       f'{1e3 * results["checkpointed_step_s"]:.3f}', f'{ckpt_overhead:+.1%} over the loop']])
  met = [name for name, ok in findings['meets_goal'].items() if ok]
  return (f'{results["workload"]}, {results["steps"]} steps, steps_per_call '
          f'{results["steps_per_call"]}; the loop is timed after its first call (compile) up '
          f'to its final evaluation; medians of {len(results["loop_runs_s"]["plain"])} rounds, '
          f'each timing the bare steps, then the two runs.\n\n{table}\n\n'
          f'Conclusion: input pipeline and logging cost '
          f'{loop_overhead:+.1%}, asynchronous checkpoints every {results["checkpoint_every"]} '
          f'steps {ckpt_overhead:+.1%} (goal: under {GOAL:.0%} each; met by '
          f'{" and ".join(met) or "neither"}).')
