"""Groups of training runs trained as one vmapped ensemble (research/train/ensemble.py), each
member a (seed, rate) pair, in WORKDIR/runs/NAME with checkpoints: an interrupted section
resumes inside its group, and a finished group is read back, not retrained. Shared by the
experiments that sweep a rate over seeds (dropout, optimisation).
"""
import dataclasses
import json
import math
import time

from experiments import rundir
from research.data.dataset import Dataset
from research.train import ensemble, metrics_log

KEPT = ('accuracy', 'loss', 'log_loss', 'ece')


def _finite_or_none(value):
  """A diverged member's metric is None in results.json, which strict JSON can read (a list,
  such as a confusion matrix, is kept as it is)."""
  return value if isinstance(value, list) or math.isfinite(value) else None


def members(rates, seeds: int, base_seed: int) -> tuple[list[int], list[float]]:
  """Every (rate, seed) pair, rate-major: seed base_seed + i for i < seeds, at every rate, so
  variants and rates are compared on the same initialisations and data orders."""
  pairs = [(base_seed + i, float(r)) for r in rates for i in range(seeds)]
  return [s for s, _ in pairs], [r for _, r in pairs]


def train_group(name: str, cfg: ensemble.EnsembleConfig, dataset: Dataset, rates, context,
                keep_states: bool = False, kept=KEPT, probe=None, **extra) -> dict:
  """Trains (or resumes, or reads) one group: each member's `kept` metrics on the training set
  and on every evaluated split (val where the dataset has one, test), and with `keep_states`
  the trained members (`states`, restored from the checkpoint if need be). Its per-epoch
  records are in run_dir/metrics.jsonl (`records`), with the `probe`'s after every call
  (research/train/ensemble.Ensemble)."""
  run_dir = context.workdir / 'runs' / name
  saved = run_dir / 'results.json'
  config = {'ensemble': dataclasses.asdict(cfg), 'rates': list(rates),
            'seeds': context.config.seeds, 'seed': context.config.seed,
            'data': dataset.name, 'train_examples': len(dataset.train_labels), **extra}
  config = json.loads(json.dumps(config, default=str))
  rundir.prepare(run_dir, config)  # refuses a different config in the same place
  if saved.exists() and not keep_states:
    print(f'  {name}: finished before, reusing', flush=True)
    return json.loads(saved.read_text())
  seeds, member_rates = members(rates, context.config.seeds, context.config.seed)
  start = time.perf_counter()
  group = ensemble.Ensemble(cfg, dataset, seeds, member_rates, probe=probe)
  states = group.train(run_dir, config, context.manifest, desc=name)
  if saved.exists():
    return {**json.loads(saved.read_text()), 'states': states, 'ensemble': group}
  by_split = {split: group.split_metrics(states, split)
              for split in ('train', *dataset.eval_splits)}
  results = {
      'name': name, 'train_examples': len(dataset.train_labels),
      'steps': group.total_steps, 'seconds': time.perf_counter() - start,
      'vmap_members': cfg.vmap_members, **group.timing,
      'members': [{'seed': s, 'rate': r,
                   **{split: {k: _finite_or_none(found[i][k]) for k in kept}
                      for split, found in by_split.items()}}
                  for i, (s, r) in enumerate(zip(seeds, member_rates))]}
  rundir.write_json(saved, results)
  print(f'  {name}: {len(seeds)} members in {results["seconds"]:.1f} s', flush=True)
  # For sections that probe the trained models; not saved.
  return {**results, 'states': states, 'ensemble': group}


def records(context, name: str) -> list[dict]:
  """The per-epoch records of group `name` (one value per member: `loss/3`)."""
  return metrics_log.read_records(context.workdir / 'runs' / name)
