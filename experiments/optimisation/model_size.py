"""Section 6. Choosing a network's size: cross-validation, one split, or the test set.

The notes choose the number of layers and units by cross-validation. Over a grid of MLP depths
and widths: which size does k-fold cross-validation choose, which does one validation split
choose, and which the test set? Choosing on the test set makes its score optimistic: by how
much, measured on a half of the test set that the choice never saw? And does stopping at the
best validation epoch, or L2 weight decay, change test accuracy beyond the seed spread?
"""
import dataclasses

import numpy as np

from experiments.optimisation import groups
from research import optim, report, stats
from research.data import splits
from research.data.dataset import with_normalization
from research.train import ensemble

TITLE = 'Model size: cross-validation against one split and against the test set'
WEIGHT_DECAY = 1e-4  # L2 (coupled, with Adam) for the weight-decay comparison


def arch_name(depth: int, width: int) -> str:
  return f'd{depth}_w{width}'


def fold_dataset(context, folds: int, fold: int):
  return splits.apply(with_normalization(context.load(), 'channel'),
                      splits.SplitConfig(folds=folds, fold=fold))


def test_halves(dataset) -> tuple:
  """The test split cut in two fixed halves: one to choose on, one never seen by the choice."""
  order = np.random.default_rng(0x7E57).permutation(len(dataset.test_labels))
  halves = np.sort(order[:len(order) // 2]), np.sort(order[len(order) // 2:])
  return tuple(dataclasses.replace(dataset, test_images=dataset.test_images[h],
                                   test_labels=dataset.test_labels[h]) for h in halves)


def half_accuracies(group: dict, halves) -> list[list[float]]:
  """[half][member] test accuracy of a trained group on each test half."""
  out = []
  for half in halves:
    e = ensemble.Ensemble(group['ensemble'].cfg, half,
                          np.asarray(group['ensemble'].seeds).tolist(),
                          np.asarray(group['ensemble'].rates).tolist())
    out.append([m['accuracy'] for m in e.split_metrics(group['states'], 'test')])
  return out


def early_stopped(group: dict) -> list[float]:
  """Each member's test accuracy at its epoch of lowest validation loss (the best checkpoint
  that early stopping with unlimited patience would restore)."""
  out = []
  for k in range(len(group['members'])):
    val = np.array(groups.curve(group['records'], 'val', 'loss', k), float)
    test = groups.curve(group['records'], 'test', 'accuracy', k)
    out.append(test[int(np.nanargmin(val))])
  return out


def measure(cfg, context) -> dict:
  adam = optim.OptimConfig(name='adam', learning_rate=cfg.learning_rate)
  common = dict(model='mlp', epochs=cfg.epochs, batch_size=cfg.batch_size)
  halves = test_halves(context.dataset)
  rows = []
  for depth in cfg.depths:
    for width in cfg.widths:
      options = dict(depth=depth, width=width, activation='relu', weight_init='he')
      name = arch_name(depth, width)
      single = groups.train(f'size_{name}', context, options=options, optim_cfg=adam,
                            keep_states=True, **common)
      cv = [groups.train(f'size_{name}_fold{f}', context, options=options, optim_cfg=adam,
                         dataset=fold_dataset(context, cfg.folds, f), **common)
            for f in range(cfg.folds)]
      rows.append({
          'depth': depth, 'width': width,
          'cv_accuracy': float(np.mean([groups.member_value(m, 'val', 'accuracy')
                                        for g in cv for m in g['members']])),
          'val_accuracy': stats.over_seeds([groups.member_value(m, 'val', 'accuracy')
                                            for m in single['members']]),
          'test_accuracy': stats.over_seeds([groups.member_value(m, 'test', 'accuracy')
                                             for m in single['members']]),
          'test_halves': half_accuracies(single, halves),
          'early_stopped_test': stats.over_seeds(early_stopped(single))})
  return {'rows': rows, 'regularised': weight_decay(cfg, context, rows), 'folds': cfg.folds,
          'epochs': cfg.epochs, 'data': context.dataset.name}


def weight_decay(cfg, context, rows: list[dict]) -> dict:
  """The largest network with L2 weight decay, beside the same network without."""
  depth, width = max(cfg.depths), max(cfg.widths)
  group = groups.train(
      f'size_{arch_name(depth, width)}_l2', context,
      options=dict(depth=depth, width=width, activation='relu', weight_init='he'),
      optim_cfg=optim.OptimConfig(name='adam', learning_rate=cfg.learning_rate,
                                  weight_decay=WEIGHT_DECAY),
      model='mlp', epochs=cfg.epochs, batch_size=cfg.batch_size)
  without = next(r for r in rows if (r['depth'], r['width']) == (depth, width))
  return {'depth': depth, 'width': width, 'weight_decay': WEIGHT_DECAY,
          'with': stats.over_seeds([groups.member_value(m, 'test', 'accuracy')
                                    for m in group['members']]),
          'without': without['test_accuracy']}


def analyze(results) -> dict:
  rows = results['rows']
  label = lambda r: arch_name(r['depth'], r['width'])
  by_cv = max(rows, key=lambda r: r['cv_accuracy'])
  by_val = max(rows, key=lambda r: r['val_accuracy']['mean'])
  half = lambda r, h: float(np.mean(r['test_halves'][h]))
  by_test = max(rows, key=lambda r: half(r, 0))  # chosen on test half A
  # The halves differ in difficulty: the gap every size shows is not the choice's doing.
  offset = float(np.mean([half(r, 0) - half(r, 1) for r in rows]))
  optimism = half(by_test, 0) - half(by_test, 1) - offset
  largest = max(rows, key=lambda r: (r['depth'], r['width']))
  stopped = [r for r in rows
             if stats.intervals_overlap(r['early_stopped_test'], r['test_accuracy'])]
  reg = results['regularised']
  return {
      'headline': {'chosen_by_cv': label(by_cv), 'chosen_by_val': label(by_val),
                   'chosen_by_test': label(by_test), 'test_selection_optimism': optimism,
                   'test_accuracy_cv_choice': half(by_cv, 1)},
      'chosen': {'cv': label(by_cv), 'val': label(by_val), 'test': label(by_test)},
      'honest': {'cv': half(by_cv, 1), 'val': half(by_val, 1), 'test': half(by_test, 1)},
      'reported_by_test': half(by_test, 0), 'optimism': optimism, 'halves_offset': offset,
      'optimism_text': (f'overstates its accuracy by {100 * optimism:.2f} points here'
                        if optimism > 0 else 'does not overstate it here (beyond the halves\' '
                        'difference)'),
      'agree': ('cross-validation and the single split choose the same size'
                if by_cv is by_val else
                f'cross-validation chooses {label(by_cv)}, the single split {label(by_val)}'),
      'early_stopping': (f'stopping at the best validation epoch changes test accuracy outside '
                         f'the seed spread for {len(rows) - len(stopped)} of {len(rows)} sizes'
                         if len(stopped) < len(rows) else
                         'stopping at the best validation epoch is inside the seed spread of '
                         f'the fixed budget for every size (largest: {label(largest)})'),
      'l2': ('inconclusive: with and without weight decay are inside each other\'s seed spread'
             if stats.intervals_overlap(reg['with'], reg['without']) else
             'weight decay ' + ('raises' if reg['with']['mean'] > reg['without']['mean']
                                else 'lowers') + ' test accuracy outside the seed spread')}


def render(results, findings) -> str:
  table = report.markdown_table(
      ['depth', 'width', f"{results['folds']}-fold CV accuracy %", 'val accuracy %',
       'test half A %', 'test half B %', 'test (fixed budget) %', 'test (early stopped) %'],
      [[r['depth'], r['width'], 100 * r['cv_accuracy'], groups.interval(r['val_accuracy'], 100),
        100 * np.mean(r['test_halves'][0]), 100 * np.mean(r['test_halves'][1]),
        groups.interval(r['test_accuracy'], 100), groups.interval(r['early_stopped_test'], 100)]
       for r in results['rows']])
  c, h, reg = findings['chosen'], findings['honest'], results['regularised']
  return f"""MLPs on {results['data']}, Adam, {results['epochs']} epochs, means over seeds.
Cross-validation trains every size on each of {results['folds']} folds of the training data;
the single split is the experiment's validation split. The test set is cut into two fixed
halves: "choosing on the test set" picks the best size on half A, and half B, which that choice
never saw, gives the honest figure.

{table}

| chosen by | size | test half B % |
|---|---|---|
| {results['folds']}-fold cross-validation | {c['cv']} | {100 * h['cv']:.2f} |
| one validation split | {c['val']} | {100 * h['val']:.2f} |
| test half A (wrong) | {c['test']} | {100 * h['test']:.2f} |

Chosen on test half A, {c['test']} reports {100 * findings['reported_by_test']:.2f}% there.
Half A scores {100 * findings['halves_offset']:+.2f} points against half B on average over
every size; beyond that, the choice's own optimism is {100 * findings['optimism']:+.2f}
points.

L2 weight decay {reg['weight_decay']} on the largest network ({reg['depth']} x {reg['width']}):
test accuracy {groups.interval(reg['with'], 100)}% with, {groups.interval(reg['without'], 100)}%
without.

**Conclusion.** {findings['agree'][0].upper() + findings['agree'][1:]}. Choosing on the test set
{findings['optimism_text']}. Early stopping:
{findings['early_stopping']}. Weight decay: {findings['l2']}.
"""
