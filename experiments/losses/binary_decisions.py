"""Section 4. Binary decisions: ROC and precision-recall curves, and a threshold chosen for recall.

The notes (001 Q15): ROC-AUC summarises a classifier over every threshold, and the threshold is
a choice that depends on the cost of each error. Where missing a positive is costly (a
malignant tumour), ask for recall >= 0.95: choose the threshold on the validation split, then
apply it to the test split and report the recall and precision it actually gets there. The
exact curves (every threshold, scikit-learn) beside the area every run streams from histograms.
"""
import numpy as np

from experiments.losses import groups
from research import report, stats
from research.data import splits
from research.tasks import Binary

TITLE = 'Binary decisions: ROC, precision-recall, and a threshold chosen for recall'
# name -> (dataset, (negative class, positive class)): the positive becomes label 1.
SOURCES = {'breast_cancer': ('breast_cancer', (1, 0)),   # positive: malignant (sklearn's 0)
           'cat_dog': ('cifar10', (5, 3))}              # positive: cat (3) against dog (5)


def threshold_for_recall(logits, labels, target: float) -> float:
  """The highest threshold t whose rule `logit >= t` has recall >= target on (logits, labels):
  the most precise rule that still finds that share of the positives."""
  positives = np.sort(np.asarray(logits, np.float64)[np.asarray(labels) == 1])[::-1]
  if not len(positives):
    return float('-inf')
  needed = int(np.ceil(target * len(positives) - 1e-9))
  return float(positives[max(needed, 1) - 1])


def decide(logits, labels, threshold: float) -> dict:
  predicted, labels = np.asarray(logits) >= threshold, np.asarray(labels) == 1
  tp, fp = int(np.sum(predicted & labels)), int(np.sum(predicted & ~labels))
  fn, tn = int(np.sum(~predicted & labels)), int(np.sum(~predicted & ~labels))
  return {'recall': tp / max(tp + fn, 1), 'precision': tp / max(tp + fp, 1),
          'confusion_matrix': [[tn, fp], [fn, tp]]}


def measure_one(cfg, context, name: str) -> dict:
  source, classes = SOURCES[name]
  data = splits.select_classes(context.load(source), classes)
  data = groups.prepare(data, context.config.val_fraction)
  model, options = groups.model_for(data, cfg.model)
  group = groups.train(f'binary_{name}', context, data, model=model, options=options,
                       epochs=cfg.epochs, batch_size=cfg.batch_size,
                       learning_rate=cfg.learning_rate, task='binary', keep_states=True)
  outputs = {split: group['ensemble'].outputs(group['states'], split)[..., 0]
             for split in ('val', 'test')}
  members = []
  for k, m in enumerate(group['members']):
    threshold = threshold_for_recall(outputs['val'][k], data.val_labels, cfg.target_recall)
    curves = Binary.curves(outputs['test'][k][:, None], data.test_labels)
    members.append({'seed': m['seed'], 'threshold': threshold,
                    'val': decide(outputs['val'][k], data.val_labels, threshold),
                    'test': decide(outputs['test'][k], data.test_labels, threshold),
                    'roc_auc': curves['roc_auc'], 'average_precision':
                        curves['average_precision'],
                    'streamed_roc_auc': m['test']['roc_auc_macro'],
                    **({'curves': curves} if k == 0 else {})})
  return {'data': name, 'model': model, 'positives_test': int(data.test_labels.sum()),
          'positives_val': int(data.val_labels.sum()),
          'test_examples': len(data.test_labels), 'members': members}


def measure(cfg, context) -> dict:
  return {'datasets': [measure_one(cfg, context, name) for name in cfg.datasets],
          'target_recall': cfg.target_recall, 'epochs': cfg.epochs}


def analyze(results) -> dict:
  target, per = results['target_recall'], {}
  for d in results['datasets']:
    ms = d['members']
    over = lambda f: stats.over_seeds([f(m) for m in ms])
    recall = over(lambda m: m['test']['recall'])
    per[d['data']] = {
        'roc_auc': over(lambda m: m['roc_auc']), 'average_precision':
            over(lambda m: m['average_precision']),
        'test_recall': recall, 'test_precision': over(lambda m: m['test']['precision']),
        'auc_gap': max(abs(m['roc_auc'] - m['streamed_roc_auc']) for m in ms),
        'met': sum(m['test']['recall'] >= target for m in ms), 'seeds': len(ms)}
    p = per[d['data']]
    p['verdict'] = (f"the threshold chosen on validation keeps test recall at or above "
                    f"{target:.0%} for every seed" if p['met'] == p['seeds'] else
                    f"the threshold chosen on validation gives test recall below {target:.0%} "
                    f"for {p['seeds'] - p['met']} of {p['seeds']} seeds (mean "
                    f"{recall['mean']:.1%}; the validation split has {d['positives_val']} "
                    "positives, each 1/" f"{d['positives_val']} of its recall)")
  return {'headline': {**{f'roc_auc_{n}': p['roc_auc']['mean'] for n, p in per.items()},
                       **{f'test_recall_{n}': p['test_recall']['mean'] for n, p in per.items()}},
          'per_data': per}


def plot(results, findings, workdir) -> None:
  for d in results['datasets']:
    m = d['members'][0]
    with report.figure(workdir / f"binary_{d['data']}.png", panels=3,
                       panel_size=(4.2, 3.8)) as (_, (roc, pr, heat)):
      roc.plot(m['curves']['roc']['fpr'], m['curves']['roc']['tpr'])
      roc.plot([0, 1], [0, 1], color='grey', ls=':')
      roc.set(xlabel='false positive rate', ylabel='true positive rate',
              title=f"ROC, AUC {m['roc_auc']:.4f}")
      pr.plot(m['curves']['precision_recall']['recall'],
              m['curves']['precision_recall']['precision'])
      pr.axvline(results['target_recall'], color='grey', ls=':')
      pr.set(xlabel='recall', ylabel='precision', title=f"precision-recall, AP "
             f"{m['average_precision']:.4f}")
      report.confusion_heatmap(heat, m['test']['confusion_matrix'],
                               f"test, threshold {m['threshold']:.3g}")


def render(results, findings) -> str:
  rows = [[n, f"{p['roc_auc']['mean']:.4f}", f"{p['auc_gap']:.1e}",
           f"{p['average_precision']['mean']:.4f}", f"{p['test_recall']['mean']:.1%}",
           f"{p['test_precision']['mean']:.1%}", f"{p['met']} of {p['seeds']}"]
          for n, p in findings['per_data'].items()]
  table = report.markdown_table(
      ['data', 'test ROC-AUC (exact)', 'streamed AUC differs by at most', 'average precision',
       f"test recall at the val threshold (target {results['target_recall']:.0%})",
       'test precision there', 'seeds meeting the target'], rows)
  plots = '\n\n'.join(f"![ROC, precision-recall and confusion matrix](binary_{d['data']}.png)"
                      for d in results['datasets'])
  sizes = ', '.join(f"{d['data']}: {d['model']}, {d['positives_test']} positives of "
                    f"{d['test_examples']} test examples" for d in results['datasets'])
  verdicts = ' '.join(f"{n}: {p['verdict']}." for n, p in findings['per_data'].items())
  return f"""One logit and a sigmoid (binary cross-entropy), Adam, {results['epochs']} epochs;
means over seeds. ({sizes}.) The exact curves are scikit-learn's over every threshold; every
run's streamed AUC comes from histograms of log-odds (research/metrics.py), and the table shows
how far it is from the exact one. The threshold: the highest logit whose rule "logit >= t" has
validation recall >= {results['target_recall']:.0%}; the plots are the first seed's.

{table}

{plots}

**Conclusion.** {verdicts}
"""
