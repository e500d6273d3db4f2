"""Section 3. Class imbalance: cross-entropy, weighted cross-entropy, focal loss, re-sampling.

The notes (003 Q9): focal and weighted cross-entropy are "for imbalanced datasets"; and (001 Q15)
accuracy misleads on them: a model that always says the majority class can score high. The
training split is made long-tailed (class c keeps ratio^(-c/(C-1)) of the largest class's
count); validation and test stay balanced. Each method over seeds: accuracy, balanced accuracy
(mean per-class recall), macro-F1 and per-class recall, beside the majority-class model; and
accuracy and macro-F1 on a test set with the training split's class proportions (its expected
confusion matrix: the balanced one's rows, each scaled to its class's share).
"""
import dataclasses

import numpy as np

from experiments.losses import groups
from research import losses, metrics, report, stats
from research.data import splits

TITLE = 'Class imbalance: weighted cross-entropy, focal loss and re-sampling'
METHODS = ('cross_entropy', 'weighted_cross_entropy', 'focal', 'focal_alpha', 'resampled')
LIN_GAMMA = 'focal gamma=2'  # the label of Lin et al. 2017's gamma for dense detection


def inverse_frequency(counts) -> tuple[float, ...]:
  """Per-class weights n / (C n_c): mean 1 over the examples' classes in a balanced set, and a
  class's total weight the same for every class in the training split."""
  counts = np.asarray(counts, np.float64)
  return tuple(float(w) for w in counts.sum() / (len(counts) * np.maximum(counts, 1)))


def resampled(data, seed: int):
  """The same number of training examples, equally many of each class, drawn with replacement
  from the class's own (a fixed draw)."""
  rng = np.random.default_rng([seed, 33])
  per_class = len(data.train_labels) // data.num_classes
  index = np.concatenate([rng.choice(np.flatnonzero(data.train_labels == c), per_class)
                          for c in range(data.num_classes)])
  return dataclasses.replace(data, train_images=data.train_images[index],
                             train_labels=data.train_labels[index])


def methods(counts, gammas) -> dict[str, tuple[losses.LossConfig, str, tuple]]:
  """name -> (loss, what varies per member, its values)."""
  weights = inverse_frequency(counts)
  lr = ('optim.learning_rate', None)
  return {
      'cross_entropy': (losses.LossConfig(name='cross_entropy'), *lr),
      'weighted_cross_entropy': (losses.LossConfig(name='weighted_cross_entropy',
                                                   class_weights=weights), *lr),
      'focal': (losses.LossConfig(name='focal'), 'loss.focal_gamma', tuple(gammas)),
      'focal_alpha': (losses.LossConfig(name='focal', focal_alpha=weights), 'loss.focal_gamma',
                      tuple(gammas)),
      'resampled': (losses.LossConfig(name='cross_entropy'), *lr)}


def train_setting(cfg, context, name: str, ratio: float) -> dict:
  """Every method on `name` made long-tailed with `ratio`: {'train_counts', 'models': {label:
  [member: {'seed', 'val': {...}, 'test': {...}}]}} (focal: one label per gamma)."""
  data = splits.long_tail(groups.prepare(context.load(name), context.config.val_fraction), ratio)
  counts = np.bincount(data.train_labels, minlength=data.num_classes)
  model, options = groups.model_for(data, cfg.model)
  found = {}
  for method, (loss, field, values) in methods(counts, cfg.gammas).items():
    group = groups.train(
        f'imbalance_{name}_{ratio:g}_{method}', context,
        resampled(data, context.config.seed) if method == 'resampled' else data,
        model=model, options=options, epochs=cfg.epochs, batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate, loss=loss, rate_field=field, rates=values)
    for m in group['members']:
      label = method if values is None else f'{method} gamma={m["rate"]:g}'
      found.setdefault(label, []).append({k: m[k] for k in ('seed', 'val', 'test')})
  return {'data': name, 'ratio': ratio, 'model': model, 'train_counts': counts.tolist(),
          'test_counts': np.bincount(data.test_labels, minlength=data.num_classes).tolist(),
          'models': found}


def measure(cfg, context) -> dict:
  return {'settings': [train_setting(cfg, context, name, ratio) for name in cfg.datasets
                       for ratio in cfg.ratios],
          'epochs': cfg.epochs, 'gammas': list(cfg.gammas)}


def confusion_figures(confusion, proportions=None) -> dict:
  """Accuracy, balanced accuracy, macro-F1 and per-class recall of a confusion matrix [true,
  predicted]; with `proportions`, of the expected matrix on a test set with those class
  shares (each row scaled to its share)."""
  cm = np.asarray(confusion, np.float64)
  if proportions is not None:
    rows = np.maximum(cm.sum(1, keepdims=True), 1)
    cm = cm / rows * np.asarray(proportions, np.float64)[:, None] / np.sum(proportions)
  classes = metrics.per_class(cm)
  return {'accuracy': float(np.trace(cm) / cm.sum()),
          'balanced_accuracy': float(classes['recall'].mean()),
          'f1_macro': float(classes['f1'].mean()), 'recall': classes['recall'].tolist()}


def majority_confusion(train_counts, test_counts) -> list:
  """The confusion matrix of the model that always says the training split's largest class."""
  cm = np.zeros((len(test_counts),) * 2)
  cm[:, int(np.argmax(train_counts))] = test_counts
  return cm.tolist()


def model_figures(members: list[dict], split: str, proportions) -> dict:
  """Over seeds: each figure of confusion_figures on `split` (balanced) and, with
  `proportions`, accuracy and macro-F1 on the long-tailed test ('lt_'), plus AUC and log loss."""
  per = [confusion_figures(m[split]['confusion_matrix']) for m in members]
  out = {k: stats.over_seeds([p[k] for p in per])
         for k in ('accuracy', 'balanced_accuracy', 'f1_macro')}
  lt = [confusion_figures(m[split]['confusion_matrix'], proportions) for m in members]
  out.update({f'lt_{k}': stats.over_seeds([p[k] for p in lt]) for k in ('accuracy', 'f1_macro')})
  out['roc_auc'] = stats.over_seeds([m[split]['roc_auc_macro'] for m in members])
  out['log_loss'] = stats.over_seeds([m[split]['log_loss'] for m in members])
  out['recall'] = np.mean([p['recall'] for p in per], 0).tolist()
  return out


def analyze_setting(setting: dict) -> dict:
  proportions = setting['train_counts']
  figures = {label: {'val': model_figures(ms, 'val', proportions),
                     'test': model_figures(ms, 'test', proportions)}
             for label, ms in setting['models'].items()}
  majority = majority_confusion(setting['train_counts'], setting['test_counts'])
  chosen = max(figures, key=lambda k: figures[k]['val']['balanced_accuracy']['mean'])
  ce, best = figures['cross_entropy']['test'], figures[chosen]['test']
  if chosen == 'cross_entropy':
    verdict = 'the validation choice is plain cross-entropy'
  elif stats.intervals_overlap(best['balanced_accuracy'], ce['balanced_accuracy']):
    verdict = (f'the validation choice is {chosen}, but its test balanced accuracy is inside '
               "cross-entropy's seed spread: inconclusive")
  else:
    better = best['balanced_accuracy']['mean'] > ce['balanced_accuracy']['mean']
    verdict = (f"the validation choice is {chosen}, and its test balanced accuracy "
               f"({best['balanced_accuracy']['mean']:.1%}) is {'above' if better else 'below'} "
               f"cross-entropy's ({ce['balanced_accuracy']['mean']:.1%}) outside the seed spread")
  focal = [k for k in figures if k.startswith('focal gamma=')]
  best_focal = max(focal, key=lambda k: figures[k]['val']['balanced_accuracy']['mean'],
                   default=None)
  return {'figures': figures, 'chosen': chosen, 'verdict': verdict, 'best_focal': best_focal,
          'focal_verdict': focal_verdict(figures, best_focal),
          'majority': {'test': confusion_figures(majority),
                       'lt_test': confusion_figures(majority, proportions)}}


def focal_verdict(figures: dict, best: str | None) -> str:
  """A sentence: the validation's best focal gamma (without alpha), and its test balanced
  accuracy against Lin et al.'s gamma = 2 where both were trained, apart only outside the seed
  spread ('' without a focal model)."""
  if best is None:
    return ''
  text = f'Best focal loss on validation: {best}'
  if best == LIN_GAMMA:
    return f"{text}, Lin et al. 2017's gamma."
  if LIN_GAMMA not in figures:
    return f'{text}.'
  found, lin = (figures[k]['test']['balanced_accuracy'] for k in (best, LIN_GAMMA))
  if stats.intervals_overlap(found, lin):
    return (f"{text}; its test balanced accuracy is inside the seed spread of gamma = 2, "
            "Lin et al. 2017's value: inconclusive.")
  side = 'above' if found['mean'] > lin['mean'] else 'below'
  return (f"{text}; its test balanced accuracy ({found['mean']:.1%}) is {side} gamma = 2's "
          f"({lin['mean']:.1%}), Lin et al. 2017's value, outside the seed spread.")


def analyze(results) -> dict:
  per = [analyze_setting(s) for s in results['settings']]
  headline = {}
  for s, a in zip(results['settings'], per):
    key = f"{s['data']}_{s['ratio']:g}"
    headline[f'chosen_{key}'] = a['chosen']
    headline[f'balanced_accuracy_{key}'] = a['figures'][a['chosen']]['test'][
        'balanced_accuracy']['mean']
  return {'headline': headline, 'settings': per}


def plot(results, findings, workdir) -> None:
  for s, a in zip(results['settings'], findings['settings']):
    labels = ['cross_entropy', 'weighted_cross_entropy', a['best_focal'], 'resampled']
    labels = [k for k in labels if k]
    with report.figure(workdir / f"imbalance_{s['data']}_{s['ratio']:g}.png") as (_, (ax,)):
      classes = np.arange(len(s['train_counts']))
      for i, label in enumerate(labels):
        ax.bar(classes + (i - len(labels) / 2 + 0.5) * 0.8 / len(labels),
               a['figures'][label]['test']['recall'], width=0.8 / len(labels), label=label)
      ax.set_xlabel('class (training examples fall from left to right)')
      ax.set_ylabel('test recall (mean over seeds)')
      ax.set_title(f"{s['data']}, imbalance ratio {s['ratio']:g}")
      ax.legend(fontsize=7)



def diverged_mark(figures: dict) -> str:
  """' (k of n diverged)' where k members' test log loss is not finite: their predictions are
  the argmax of NaN logits, which scores like a model that says one class."""
  k = figures['test']['log_loss']['n_nonfinite']
  return f" ({k} of {k + figures['test']['log_loss']['n']} diverged)" if k else ''


def render_setting(s: dict, a: dict) -> str:
  ci = report.percent_interval
  rows = [[label + diverged_mark(f), ci(f['test']['accuracy']),
           ci(f['test']['balanced_accuracy']), ci(f['test']['f1_macro']), f"{f['test']['lt_accuracy']['mean']:.1%}",
           f"{f['test']['lt_f1_macro']['mean']:.1%}", f"{min(f['test']['recall']):.1%}",
           f"{f['val']['balanced_accuracy']['mean']:.1%}" + (' chosen' if label == a['chosen']
                                                              else '')]
          for label, f in a['figures'].items()]
  m, lt = a['majority']['test'], a['majority']['lt_test']
  rows.append(['always the majority class', f"{m['accuracy']:.1%}",
               f"{m['balanced_accuracy']:.1%}", f"{m['f1_macro']:.1%}", f"{lt['accuracy']:.1%}",
               f"{lt['f1_macro']:.1%}", '0.0%', ''])
  table = report.markdown_table(
      ['method', 'test accuracy', 'balanced accuracy', 'macro-F1', 'accuracy (long-tailed test)',
       'macro-F1 (long-tailed test)', 'worst class recall', 'val balanced accuracy'], rows)
  return f"""#### {s['data']}, imbalance ratio {s['ratio']:g} ({s['model']})

Training examples per class: {s['train_counts']}.

{table}

![per-class recall](imbalance_{s['data']}_{s['ratio']:g}.png)

{a['verdict'][0].upper() + a['verdict'][1:]}. {a['focal_verdict']}
"""


def render(results, findings) -> str:
  parts = [render_setting(s, a) for s, a in zip(results['settings'], findings['settings'])]
  return f"""Adam at one rate for every method, {results['epochs']} epochs of the long-tailed
training split; means over seeds with 95% intervals. Weighted cross-entropy and the focal loss's
alpha use inverse-frequency class weights n / (C n_c). Lin et al. 2017 used the binary alpha =
0.25 on the rare foreground class (down-weighting it, against the intuition) with gamma = 2 for
dense detection; the multi-class alpha here is inverse frequency, so "focal_alpha" is not their
setting. Re-sampling draws equally many examples of each class (with replacement) to the same
training-set size. The validation split chooses (by balanced accuracy); the test set reports.

{chr(10).join(parts)}
**Conclusion.** {' '.join(a['verdict'][0].upper() + a['verdict'][1:] + f" ({s['data']}, "
                          f"ratio {s['ratio']:g})." for s, a in zip(results['settings'],
                                                                   findings['settings']))}
"""
