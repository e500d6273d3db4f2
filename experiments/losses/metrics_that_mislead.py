"""Section 5. Metrics that mislead: the same models ranked by five metrics.

The notes (001 Q15) list accuracy, precision, recall, F1, ROC-AUC and log loss, and warn that
accuracy misleads on imbalanced data. The models of the imbalance section (every method, every
focal gamma), ranked on the test split by accuracy on a long-tailed test set (the training
proportions), balanced accuracy, macro-F1 on the long-tailed test set, ROC-AUC and log loss:
do the rankings agree, and where do they not?
"""
import math

import numpy as np
from scipy import stats as scipy_stats

from experiments.losses import imbalance
from research import report

TITLE = 'Metrics that mislead: one set of models, five rankings'
# metric -> (key in imbalance.model_figures, higher is better)
METRICS = {'accuracy (long-tailed test)': ('lt_accuracy', True),
           'balanced accuracy': ('balanced_accuracy', True),
           'macro-F1 (long-tailed test)': ('lt_f1_macro', True),
           'ROC-AUC (macro)': ('roc_auc', True),
           'log loss': ('log_loss', False)}
REFERENCE = 'balanced accuracy'


def measure(cfg, context) -> dict:
  """The imbalance section's models (read back where that section trained them)."""
  return imbalance.measure(cfg, context)


def rankings(figures: dict) -> dict[str, list[str]]:
  """metric -> the models, best first (mean over seeds on the test split); a model without a
  finite value (every seed diverged) last, as NaN does not order."""
  out = {}
  for metric, (key, higher) in METRICS.items():
    value = {label: f['test'][key]['mean'] for label, f in figures.items()}
    out[metric] = sorted(value, key=lambda k: (not math.isfinite(value[k]),
                                               -value[k] if higher else value[k]))
  return out


def agreement(ranked: dict[str, list[str]]) -> dict[str, float]:
  """Kendall's tau of each metric's ranking with the reference's (1: the same order)."""
  reference = ranked[REFERENCE]
  position = lambda order: [order.index(label) for label in reference]
  return {metric: float(scipy_stats.kendalltau(position(order), position(reference))[0])
          for metric, order in ranked.items()}


def analyze_setting(setting: dict) -> dict:
  figures = imbalance.analyze_setting(setting)['figures']
  ranked = rankings(figures)
  tau = agreement(ranked)
  tops = {metric: order[0] for metric, order in ranked.items()}
  disagree = sorted(m for m, top in tops.items() if top != tops[REFERENCE])
  verdict = ('every metric picks the same best model, ' + tops[REFERENCE] if not disagree else
             f"{', '.join(disagree)} pick{'s' if len(disagree) == 1 else ''} a different best "
             f"model from balanced accuracy ({tops[REFERENCE]}): "
             + ', '.join(f'{m}: {tops[m]}' for m in disagree))
  return {'figures': {label: {m: f['test'][key]['mean'] for m, (key, _) in METRICS.items()}
                      for label, f in figures.items()},
          'rankings': ranked, 'tau': tau, 'tops': tops, 'disagree': disagree,
          'verdict': verdict}


def analyze(results) -> dict:
  per = [analyze_setting(s) for s in results['settings']]
  headline = {}
  for s, a in zip(results['settings'], per):
    key = f"{s['data']}_{s['ratio']:g}"
    headline[f'metrics_disagreeing_{key}'] = len(a['disagree'])
    headline[f'tau_accuracy_{key}'] = a['tau']['accuracy (long-tailed test)']
  return {'headline': headline, 'settings': per}


def render(results, findings) -> str:
  parts = []
  for s, a in zip(results['settings'], findings['settings']):
    rank = {m: {label: i + 1 for i, label in enumerate(order)}
            for m, order in a['rankings'].items()}
    rows = [[label, *(f"{a['figures'][label][m]:.3f} ({rank[m][label]})" for m in METRICS)]
            for label in a['rankings'][REFERENCE]]
    rows.append(["Kendall's tau with balanced accuracy",
                 *(f"{a['tau'][m]:.2f}" for m in METRICS)])
    parts.append(f"#### {s['data']}, imbalance ratio {s['ratio']:g}\n\n"
                 + report.markdown_table(['model', *(f'{m} (rank)' for m in METRICS)], rows)
                 + f"\n\n{a['verdict'][0].upper() + a['verdict'][1:]}.")
  mean_tau = np.mean([a['tau']['accuracy (long-tailed test)'] for a in findings['settings']])
  return f"""Means over seeds on the test split; rank 1 is best (log loss: lowest). ROC-AUC and
log loss are on the balanced test split; the long-tailed figures are from its confusion
matrices with each row scaled to the training split's class share.

{chr(10).join(parts)}

**Conclusion.** Kendall's tau between the accuracy and balanced-accuracy rankings is
{mean_tau:.2f} on average over the settings ({'the two mostly agree' if mean_tau > 0.7 else
'they rank the models differently'}); {' '.join(a['verdict'] + '.' for a in
findings['settings'])}
"""
