"""throughput: how fast an idea becomes a number.

Question: how many samples per second does our training engine process, against PyTorch on
the same model, batch and optimizer on the same machine, and against the machine's own
matrix-multiply rate; what do compiling, the training loop and checkpoints cost on top? Three
sections: throughput of four workloads (tiny MLP, MLP 4x512, CNN, ResNet-20), compile time
cold and warm, and the loop's overheads.

PyTorch is optional (`make torch` installs the CPU build); without it the report gives ours
alone and says so. Each finished section is saved under sections/ and reused on a rerun.
"""
import pathlib

import ml_collections

from experiments import sections
from research import checks, typed_config
from experiments.throughput import compile_time, overheads, steps
from experiments.throughput import config as config_lib
from experiments.throughput.workloads import WORKLOADS

DESCRIPTION = 'training throughput against PyTorch and the machine; compile and loop costs'
SECTIONS = {'steps': steps, 'compile': compile_time, 'overheads': overheads}
assert tuple(SECTIONS) == config_lib.SECTION_NAMES


get_config, describe = typed_config.command_line(config_lib.ThroughputConfig)


def quick(c: ml_collections.ConfigDict) -> None:
  """About a minute on a 2-core CPU: the two MLPs and the CNN, short repeats."""
  c.workloads = ('tiny_mlp', 'mlp_4x512', 'cnn')
  c.repeats, c.min_repeat_s, c.matmul_size = 3, 0.2, 1024
  c.steps_per_call = 20
  c.overheads.steps, c.overheads.checkpoint_every, c.overheads.repeats = 400, 100, 2


def validate(c: ml_collections.ConfigDict) -> None:
  sections.validate_shared(c, SECTIONS)
  checks.subset('workloads', c.workloads, WORKLOADS)
  checks.subset('scan_workloads', c.scan_workloads, WORKLOADS)
  for key in ('batch_size', 'steps_per_call', 'repeats', 'matmul_size'):
    checks.at_least(key, c[key], 1)
  checks.greater_than_zero('min_repeat_s', c.min_repeat_s)
  checks.choice('overheads.workload', c.overheads.workload, WORKLOADS)
  checks.at_least('overheads.steps', c.overheads.steps, 2 * c.steps_per_call)
  checks.at_least('overheads.checkpoint_every', c.overheads.checkpoint_every, 1)
  checks.at_least('overheads.repeats', c.overheads.repeats, 1)


def run(config, workdir: pathlib.Path, manifest: dict) -> dict:
  measures = {'steps': lambda: steps.measure(config),
              'compile': lambda: compile_time.measure(config, workdir),
              'overheads': lambda: overheads.measure(config, workdir)}
  results = sections.run_sections(
      SECTIONS, config.sections, {name: measures[name] for name in config.sections}, workdir,
      'throughput: our engine against PyTorch and the machine', __doc__.split('\n\n')[1],
      manifest)
  return results


def summary(results: dict) -> str:
  head = results['headline']
  parts = [f'{name} {row["ours_over_torch"]:.2f}x PyTorch' for name, row in
           head.get('steps', {}).items() if row.get('ours_over_torch')]
  if 'compile' in head:
    parts.append(f'warm start {head["compile"]["quick_train_warm_start_s"]:.2f} s')
  return ', '.join(parts) or 'done'
