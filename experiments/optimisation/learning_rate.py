"""Section 3. The learning rate: loss after a fixed budget, from too low to too high.

The notes: too low a learning rate makes training slow, too high a rate overshoots the minimum
and can diverge. For each optimizer, over a grid of rates and seeds (trained as one vmapped
ensemble per optimizer), what is the training loss after a fixed number of epochs, where does
training diverge, and does the curve have the claimed shape?
"""
import math

import numpy as np

from experiments.optimisation import groups
from research import report, stats

TITLE = 'The learning rate: too low, too high, and the divergence threshold'


def measure(cfg, context) -> dict:
  trained = groups.train_sweep(cfg, context)
  return {'epochs': cfg.epochs, 'batch_size': cfg.batch_size, 'data': context.dataset.name,
          'num_classes': context.dataset.num_classes,
          'optimizers': {name: {'train_loss': groups.by_rate(group, 'train', 'loss'),
                                'val_accuracy': groups.by_rate(group, 'val', 'accuracy')}
                         for name, group in trained.items()}}


DIVERGED_OVER_CHANCE = 1.5  # a mean loss this far above guessing's has blown up, not stalled


def _rate_rows(by_rate: dict, chance_loss: float) -> list[dict]:
  rows = []
  for rate, s in sorted(by_rate.items(), key=lambda kv: float(kv[0])):
    # A loss near guessing's is a rate too low to move (or one that stalled); far above it,
    # or not finite for some seed, the run has diverged.
    diverged = s['n_nonfinite'] > 0 or not s['mean'] < DIVERGED_OVER_CHANCE * chance_loss
    rows.append({'rate': float(rate), 'loss': s, 'diverged': bool(diverged)})
  return rows


def claim_for(rows: list[dict]) -> dict:
  """The notes' two halves for one optimizer's loss-against-rate rows."""
  finite = [r for r in rows if not r['diverged']]
  if not finite:
    return {'best_rate': None, 'too_low_slow': False, 'too_high_worse': False,
            'threshold': rows[0]['rate'] if rows else None}
  best = min(finite, key=lambda r: r['loss']['mean'])
  lowest = rows[0]
  above = [r for r in rows if r['rate'] > best['rate']]
  threshold = next((r['rate'] for r in above if r['diverged']), None)
  return {
      'best_rate': best['rate'], 'threshold': threshold,
      'too_low_slow': (lowest is not best and not lowest['diverged']
                       and lowest['loss']['mean'] > best['loss']['mean']
                       and not stats.intervals_overlap(lowest['loss'], best['loss'])),
      'too_high_worse': any(r['diverged'] or (
          r['loss']['mean'] > best['loss']['mean']
          and not stats.intervals_overlap(r['loss'], best['loss'])) for r in above)}


def analyze(results) -> dict:
  chance = math.log(results['num_classes'])
  per = {}
  for name, r in results['optimizers'].items():
    rows = _rate_rows(r['train_loss'], chance)
    per[name] = {'rows': rows, **claim_for(rows)}
  holds = [n for n, p in per.items() if p['too_low_slow'] and p['too_high_worse']]
  fails = [n for n in per if n not in holds]
  return {
      'headline': {**{f'best_rate_{n}': p['best_rate'] for n, p in per.items()},
                   **{f'divergence_threshold_{n}': p['threshold'] for n, p in per.items()}},
      'per_optimizer': per, 'chance_loss': chance,
      'verdict': ('no optimizer ran' if not per else
                  'the notes\' claim holds for every optimizer: the lowest rate leaves the '
                  'loss higher than the best rate does, and a higher rate than the best is '
                  'worse or diverges, each outside the seed spread' if not fails else
                  f"the notes' claim holds for {', '.join(holds) or 'no optimizer'}; not (or "
                  f"not outside the seed spread) for {', '.join(fails)}")}


def plot(results, findings, workdir) -> None:
  with report.figure(workdir / 'learning_rate.png') as (_, (ax,)):
    for name, p in findings['per_optimizer'].items():
      rates = [r['rate'] for r in p['rows']]
      losses = [r['loss']['mean'] if not r['diverged'] else np.nan for r in p['rows']]
      ax.plot(rates, losses, marker='o', ms=3, label=name)
    ax.axhline(findings['chance_loss'], color='grey', ls=':', label='log C (guessing)')
    ax.set_xscale('log')
    ax.set_yscale('log')
    ax.set_xlabel('learning rate')
    ax.set_ylabel(f"training loss after {results['epochs']} epochs")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def render(results, findings) -> str:
  per = findings['per_optimizer']
  rates = [r['rate'] for r in next(iter(per.values()))['rows']] if per else []
  table = report.markdown_table(
      ['optimizer', *(f'{r:g}' for r in rates)],
      [[name, *('diverged' if r['diverged'] else f"{r['loss']['mean']:.3g}" for r in p['rows'])]
       for name, p in per.items()])
  summary = report.markdown_table(
      ['optimizer', 'best rate', 'diverges from', 'too low is slow', 'too high is worse'],
      [[name, p['best_rate'], p['threshold'] or 'beyond the grid',
        'yes' if p['too_low_slow'] else 'no', 'yes' if p['too_high_worse'] else 'no']
       for name, p in per.items()])
  return f"""An MLP on {results['data']}, {results['epochs']} epochs of batch
{results['batch_size']} at each constant learning rate, for each optimizer; the training loss
over the whole training split at the end, mean over seeds. "Diverged": a seed's loss is not
finite, or the mean is above {DIVERGED_OVER_CHANCE} x the loss of guessing (log C =
{findings['chance_loss']:.3f}).

{table}

{summary}

![loss against learning rate](learning_rate.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
