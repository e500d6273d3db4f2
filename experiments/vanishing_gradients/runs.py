"""Training runs inside an experiment: each one the `train` experiment, in its own run directory.

A sub-run lives in WORKDIR/runs/NAME with its own config, checkpoints, metrics and results, so
an interrupted experiment resumes each run where it stopped and skips finished ones.
"""
import json
import pathlib

from experiments import rundir
from research.train import config as config_lib
from research.train import loop, metrics_log


def train_config(settings: dict) -> config_lib.TrainConfig:
  """train's config with `settings` ({'mlp.depth': 32, ...}) applied, then validated."""
  config = config_lib.replace(config_lib.TrainConfig(), **settings)
  config_lib.validate(config)
  return config


def train_run(name: str, settings: dict, workdir: pathlib.Path, dataset, manifest: dict) -> dict:
  """Trains (or resumes, or just reads) one run; its results plus its metric records."""
  run_dir = workdir / 'runs' / name
  results_path = run_dir / 'results.json'
  config = train_config(settings)
  rundir.prepare(run_dir, config_lib.to_dict(config))  # refuses another config there
  if results_path.exists():
    results = json.loads(results_path.read_text())
    print(f'  {name}: finished before, reusing', flush=True)
  else:
    results = loop.train_and_evaluate(config, run_dir, dataset, manifest)
    rundir.write_json(results_path, results)
    print(f'  {name}: test accuracy {results["test"]["accuracy"]:.4f} '
          f'({results["train_time_s"]:.1f} s)', flush=True)
  return {**results, 'records': metrics_log.read_records(run_dir)}


def final_train_accuracy(records: list[dict], fraction: float = 0.1) -> float:
  """Mean training-batch accuracy over the last `fraction` of logged steps (the paper's
  training error is measured on the augmented mini-batches too)."""
  train = [r for r in records if r['split'] == 'train']
  tail = train[-max(1, int(len(train) * fraction)):]
  return sum(r['accuracy'] for r in tail) / len(tail)
