"""What every dropout section shares: training subsets, ensembles of (seed, rate) members
trained as one vmapped program, mean +/- std over seeds, and the rate plot.

A group is one model variant; its members are every (rate, seed) pair. It trains in
WORKDIR/runs/GROUP with checkpoints, so an interrupted section resumes inside the group.
"""
import dataclasses
import pathlib

import numpy as np

from experiments.ensemble_runs import members, train_group
from research import report
from research.data.dataset import Dataset
from research.errors import UserError

__all__ = ['members', 'train_group']  # shared with other experiments (experiments/ensemble_runs.py)


def subset(dataset: Dataset, train_examples: int, seed: int) -> Dataset:
  """The first `train_examples` of a fixed shuffle of the training set (0 = all of it), a
  function of `seed`. Normalisation statistics stay those of the full training set."""
  n = len(dataset.train_labels)
  if train_examples > n:
    raise UserError(f'train_examples={train_examples} but {dataset.name} has only {n} '
                    'training examples')
  if not train_examples or train_examples == n:
    return dataset
  chosen = np.sort(np.random.default_rng(seed).permutation(n)[:train_examples])
  return dataclasses.replace(dataset, train_images=dataset.train_images[chosen],
                             train_labels=dataset.train_labels[chosen])


def plan(variants, rates, carrier: str, own_baseline=()) -> dict[str, tuple]:
  """The groups to train: {variant: its rates}. 'none' is no group of its own: it is rate 0
  in `carrier`'s group (that network at rate 0 has no dropout), which saves one compile.
  Variants in `own_baseline` (a different network, e.g. SELU) get their own rate 0."""
  groups = {}
  for variant in variants:
    if variant == 'none':
      groups.setdefault(carrier, set()).add(0.0)
    else:
      groups.setdefault(variant, set()).update(
          float(r) for r in (*rates, *((0.0,) if variant in own_baseline else ())))
  return {v: tuple(sorted(r)) for v, r in groups.items()}


def labelled_rows(group: dict, variant: str, carrier: str, variants) -> list[dict]:
  """by_rate rows of one group, the carrier's rate 0 labelled 'none' (and only the rates asked
  for: the carrier may be in the plan for the sake of 'none' alone)."""
  out = []
  for row in by_rate(group, variant):
    if variant == carrier and row['rate'] == 0 and 'none' in variants:
      out.insert(0, {**row, 'variant': 'none'})
    elif variant in variants:
      out.append(row)
  return out


def train_variants(prefix: str, variant_rates: dict, make_config, dataset: Dataset, context,
                   carrier: str, variants) -> tuple[list[dict], dict]:
  """Trains every group of a plan; the by-rate rows ('none' first) and each group's results."""
  rows, trained = [], {}
  for variant, rates in variant_rates.items():
    trained[variant] = train_group(f'{prefix}_{variant}', make_config(variant), dataset, rates,
                                   context)
    rows += labelled_rows(trained[variant], variant, carrier, variants)
  rows.sort(key=lambda r: r['variant'] != 'none')
  return rows, trained


def by_rate(group: dict, variant: str) -> list[dict]:
  """One row per rate: mean and std over seeds of train and test accuracy and the gap."""
  rows = []
  for rate in sorted({m['rate'] for m in group['members']}):
    ms = [m for m in group['members'] if m['rate'] == rate]
    train = np.array([m['train']['accuracy'] for m in ms])
    test = np.array([m['test']['accuracy'] for m in ms])
    ece = np.array([m['test']['ece'] for m in ms])
    rows.append({'variant': variant, 'rate': rate, 'seeds': len(ms),
                 **_stats('train_accuracy', train), **_stats('test_accuracy', test),
                 **_stats('gap', train - test), **_stats('test_ece', ece)})
  return rows


def _stats(name: str, values: np.ndarray) -> dict:
  return {name: float(values.mean()), f'{name}_std': float(values.std(ddof=1))
          if len(values) > 1 else 0.0}


def pm(row: dict, name: str, percent: bool = True) -> str:
  """'mean +/- std' of a by_rate figure."""
  scale, unit = (100, '%') if percent else (1, '')
  return f"{row[name] * scale:.2f} ± {row[f'{name}_std'] * scale:.2f}{unit}"


def rate_table(rows: list[dict]) -> str:
  return report.markdown_table(
      ['variant', 'rate', 'train accuracy', 'test accuracy', 'gap (train - test)', 'test ECE'],
      [[r['variant'], r['rate'], pm(r, 'train_accuracy'), pm(r, 'test_accuracy'), pm(r, 'gap'),
        pm(r, 'test_ece', percent=False)] for r in rows])


def rate_plot(path: pathlib.Path, rows: list[dict], title: str) -> None:
  """Test accuracy and generalisation gap against the rate, one line per variant, error bars
  one standard deviation over seeds; the no-dropout baseline as a horizontal band."""
  with report.figure(path, panels=2) as (fig, (acc_ax, gap_ax)):
    for variant in dict.fromkeys(r['variant'] for r in rows):
      rs = [r for r in rows if r['variant'] == variant]
      for ax, name in ((acc_ax, 'test_accuracy'), (gap_ax, 'gap')):
        if len(rs) == 1 and rs[0]['rate'] == 0:
          mean, std = rs[0][name], rs[0][f'{name}_std']
          ax.axhline(mean, color='k', lw=1, label=variant)
          ax.axhspan(mean - std, mean + std, color='k', alpha=0.1)
        else:
          ax.errorbar([r['rate'] for r in rs], [r[name] for r in rs],
                      yerr=[r[f'{name}_std'] for r in rs], marker='o', capsize=3, label=variant)
    acc_ax.set(xlabel='dropout rate', ylabel='test accuracy', title=title)
    gap_ax.set(xlabel='dropout rate', ylabel='train - test accuracy',
               title='generalisation gap')
    acc_ax.legend(fontsize=8)


# The dropout sections hold out no validation split: their "best" rate is the test set's.
TEST_SELECTION = ('WARNING: the best settings below are chosen on the test set (these sections '
                  'hold out no validation split), so their accuracies are optimistic.')


def best(rows: list[dict]) -> dict:
  """The row with the highest mean test accuracy: a choice made on the test set
  (TEST_SELECTION says so where it is reported)."""
  return max(rows, key=lambda r: r['test_accuracy'])


def versus(row: dict, baseline: dict) -> str:
  """How a row's test accuracy compares with the baseline's, in units of their spread."""
  diff = row['test_accuracy'] - baseline['test_accuracy']
  spread = np.hypot(row['test_accuracy_std'], baseline['test_accuracy_std'])
  verdict = ('beyond' if abs(diff) > 2 * spread else 'within') + ' two standard deviations'
  return f'{diff * 100:+.2f} points ({verdict} of the seed spread)'
