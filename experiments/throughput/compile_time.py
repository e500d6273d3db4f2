"""Compile time, cold and warm

How long does XLA take to compile each workload's train step with an empty persistent
compilation cache (cold) and with the cache a previous process left (warm); and how long
does the quick `train` run take from launch to its first training step when warm?
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

from research import report

TITLE = 'Compile time, cold and warm'


def _fresh_cache(workdir: pathlib.Path, name: str) -> dict:
  cache = workdir / 'compile-cache' / name
  shutil.rmtree(cache, ignore_errors=True)
  return {**os.environ, 'JAX_COMPILATION_CACHE_DIR': str(cache),
          'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0', 'XLA_FLAGS': ''}


def _probe(workload: str, batch: int, env: dict) -> dict:
  done = subprocess.run([sys.executable, '-m', 'experiments.throughput.compile_probe',
                         workload, str(batch)], env=env, capture_output=True, text=True,
                        check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])


def _quick_train(workdir: pathlib.Path, env: dict) -> float:
  """Seconds from launching `python -m experiments run train --quick` to its first step."""
  shutil.rmtree(workdir, ignore_errors=True)
  launched = time.time()
  subprocess.run([sys.executable, '-m', 'experiments', 'run', 'train', '--quick', '--workdir',
                  str(workdir)], env=env, capture_output=True, text=True, check=True)
  results = json.loads((workdir / 'results.json').read_text())
  return results['timing']['first_step_unix'] - launched


def measure(config, workdir: pathlib.Path) -> dict:
  rows = []
  for name in config.workloads:
    env = _fresh_cache(workdir, name)
    cold, warm = _probe(name, config.batch_size, env), _probe(name, config.batch_size, env)
    rows.append({'workload': name, 'cold_s': cold['first_step_s'], 'warm_s': warm['first_step_s'],
                 'startup_s': warm['build_s']})
  env = _fresh_cache(workdir, 'quick-train')
  cold = _quick_train(workdir / 'quick-train-runs' / 'cold', env)
  warm = _quick_train(workdir / 'quick-train-runs' / 'warm', env)
  return {'rows': rows, 'quick_train_first_step_cold_s': cold,
          'quick_train_first_step_warm_s': warm}


GOAL_S = 2.0  # the quick run's launch-to-first-step goal with a warm cache


def analyze(results: dict) -> dict:
  warm = results['quick_train_first_step_warm_s']
  return {'headline': {'quick_train_warm_start_s': warm,
                       'quick_train_cold_start_s': results['quick_train_first_step_cold_s']},
          'meets_goal': warm < GOAL_S}


def render(results: dict, findings: dict) -> str:
  table = report.markdown_table(
      ['workload', 'first step, cold cache (s)', 'first step, warm cache (s)',
       'process start to step built (s)'],
      [[r['workload'], f'{r["cold_s"]:.2f}', f'{r["warm_s"]:.2f}', f'{r["startup_s"]:.2f}']
       for r in results['rows']])
  cold, warm = results['quick_train_first_step_cold_s'], results['quick_train_first_step_warm_s']
  return (f'Each in a fresh process; "first step" is compile plus one step. The persistent '
          f'cache is JAX\'s (`JAX_COMPILATION_CACHE_DIR`).\n\n{table}\n\n'
          f'`python -m experiments run train --quick`, launch to first training step: '
          f'{cold:.2f} s cold, {warm:.2f} s warm.\n\nConclusion: the warm cache turns the '
          f'quick run\'s start into {warm:.2f} s '
          f'({"under" if findings["meets_goal"] else "over"} the {GOAL_S:g} s goal).')
