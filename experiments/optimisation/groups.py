"""What the network sections share: the data with its validation split, ensembles of seeds (and
rates) trained as one vmapped program each, and per-epoch curves read from their logs.

A group evaluates the validation and test splits after every epoch, so curves are per epoch;
every epoch of a group takes the same time, so a curve against wall time is the same curve
with its axis scaled by the group's seconds per epoch.
"""
import math

import numpy as np

from experiments import ensemble_runs
from research import losses, optim, stats
from research.data import splits
from research.data.dataset import with_normalization
from research.train import ensemble


def prepare(dataset, val_fraction: float):
  """The dataset normalised by its training statistics, with a fixed stratified validation
  split (the same for every seed)."""
  return splits.apply(with_normalization(dataset, 'channel'),
                      splits.SplitConfig(val_fraction=val_fraction))


def train(name: str, context, *, model: str, options: dict, optim_cfg: optim.OptimConfig,
          epochs: int, batch_size: int, rates=None, keep_states: bool = False,
          dataset=None) -> dict:
  """One group on `dataset` (default: the section's): every seed at every learning rate in
  `rates` (default: optim_cfg's only), diverged members kept as NaN. Its results
  (ensemble_runs.train_group) and `records`, per epoch, of train, val and test."""
  rates = tuple(rates or (optim_cfg.learning_rate,))
  cfg = ensemble.EnsembleConfig(
      model=model, options=options, rate_field='optim.learning_rate', epochs=epochs,
      batch_size=batch_size, optim=optim_cfg, loss=losses.LossConfig(), epochs_per_call=1,
      stop_on_divergence=False, fast_compile=context.config.fast_compile)
  group = ensemble_runs.train_group(name, cfg, dataset or context.dataset, rates, context,
                                    keep_states=keep_states)
  return {**group, 'records': ensemble_runs.records(context, name)}


def curve(records: list[dict], split: str, metric: str, member: int) -> list[float]:
  """One member's per-epoch values of `metric` on `split` ('train': the epoch's batch mean)."""
  return [r[f'{metric}/{member}'] for r in records if r['split'] == split]


def nan_to_none(values) -> list:
  return [v if v is not None and math.isfinite(v) else None for v in values]


def member_value(m: dict, split: str, metric: str) -> float:
  """A member's final metric, NaN where it diverged (saved as None)."""
  value = m[split][metric]
  return math.nan if value is None else value


def by_rate(group: dict, split: str, metric: str) -> dict[float, dict]:
  """{rate: stats.over_seeds of the members' final `metric` on `split`}."""
  out = {}
  for rate in sorted({m['rate'] for m in group['members']}):
    values = [member_value(m, split, metric) for m in group['members'] if m['rate'] == rate]
    out[rate] = stats.over_seeds(values)
  return out


def first_epoch_at(values, target: float, below: bool = True):
  """The first epoch (1-based) whose value is at or below `target` (above, with below=False);
  None when none is."""
  for epoch, v in enumerate(values, 1):
    if v is not None and np.isfinite(v) and (v <= target if below else v >= target):
      return epoch
  return None


def interval(s: dict, scale: float = 1.0, digits: int = 2, none: str = 'diverged') -> str:
  """'mean [low, high]' of stats.over_seeds, the mean alone with one seed, `none` with none."""
  if not s['n']:
    return none
  if s['n'] == 1:
    return f"{s['mean'] * scale:.{digits}f}"
  return (f"{s['mean'] * scale:.{digits}f} [{s['ci95_low'] * scale:.{digits}f}, "
          f"{s['ci95_high'] * scale:.{digits}f}]")


def train_sweep(cfg, context) -> dict[str, dict]:
  """Sections 3 and 4's groups, one per optimizer, each every rate x seed: trained by
  whichever section runs first and read back by the other."""
  options = dict(depth=cfg.depth, width=cfg.width, activation='relu', weight_init='he')
  return {name: train(f'sweep_{name}', context, model='mlp', options=options,
                      optim_cfg=optim.OptimConfig(
                          name=name, learning_rate=cfg.rates[0],
                          weight_decay=cfg.adamw_weight_decay if name == 'adamw' else 0.0),
                      epochs=cfg.epochs, batch_size=cfg.batch_size, rates=cfg.rates)
          for name in cfg.optimizers}
