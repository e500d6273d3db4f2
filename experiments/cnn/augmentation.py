"""Section 5. Data augmentation against overfitting, and when it is too strong.

The notes (001 Q13, 002 Q11): augmentation (flips, shifts, rotations, zooms, changes of
brightness and contrast, noise) makes new training examples from old ones, which reduces
overfitting, most of all on small data sets; a transformation too strong (or one that changes
the class) hurts. On small stratified training subsets the reference CNN trains with each
augmentation alone at several strengths (the strengths of one augmentation are members of one
vmapped ensemble), then with the best combination: every augmentation whose best strength beat
no augmentation on the validation split, each at that strength. Test accuracy, and the gap
between training accuracy (on the un-augmented training images) and test accuracy, over seeds.
"""

import numpy as np

from experiments.cnn import groups
from research import report, stats
from research.data.augment import AugmentConfig

TITLE = 'Augmentation: each kind alone at several strengths, then the best combination'
WHOLE = ('translate', 'cutout')  # strengths in whole pixels
SWITCHES = ('flip', 'vflip')     # on or off


def _rows(group: dict, strengths, seeds: int) -> list[dict]:
  """Per strength: its members' train, validation and test accuracies."""
  return [{'strength': float(s),
           **{split: [groups.accuracy(m, split) for m in group['members'][i * seeds:
                                                                            (i + 1) * seeds]]
              for split in ('train', 'val', 'test')}}
          for i, s in enumerate(strengths)]


def combination(kinds: list[dict], none: dict) -> dict:
  """{kind: strength} of every kind whose best strength on validation beat no augmentation."""
  baseline = np.mean(none['val'])
  found = {}
  for kind in kinds:
    best = max(kind['rows'], key=lambda r: np.mean(r['val']))
    if np.mean(best['val']) > baseline:
      found[kind['kind']] = best['strength']
  return found


def as_config(strengths: dict) -> AugmentConfig:
  typed = {k: (bool(v) if k in SWITCHES else int(v) if k in WHOLE else float(v))
           for k, v in strengths.items()}
  return AugmentConfig(**typed)


def measure_subset(cfg, context, examples: int) -> dict:
  config = context.config
  data = context.subset(examples)
  options = (groups.reference_options(config) if cfg.model == 'cnn'
             else dict(depth=config.architectures.resnet_depth))
  train = lambda name, **kw: groups.train(f'aug{examples}_{name}', context, data, cfg.model,
                                          options, epochs=cfg.epochs,
                                          learning_rate=cfg.learning_rate,
                                          batch_size=cfg.batch_size, **kw)
  none = _rows(train('none', rates=(cfg.learning_rate,)), (0.0,), config.seeds)[0]
  kinds = []
  for kind in cfg.kinds:
    strengths = tuple(cfg[kind])
    group = train(kind, rates=strengths, rate_field=f'augment.{kind}')
    kinds.append({'kind': kind, 'rows': _rows(group, strengths, config.seeds)})
  chosen = combination(kinds, none)
  combined = None
  if chosen:
    group = train('combined', rates=(cfg.learning_rate,), augment=as_config(chosen))
    combined = {'strengths': chosen, **_rows(group, (0.0,), config.seeds)[0]}
  return {'train_examples': len(data.train_labels), 'none': none, 'kinds': kinds,
          'combined': combined}


def measure(cfg, context) -> dict:
  return {'epochs': cfg.epochs, 'learning_rate': cfg.learning_rate, 'model': cfg.model,
          'subsets': [measure_subset(cfg, context, n) for n in cfg.train_examples]}


def _summary(row: dict) -> dict:
  gap = np.asarray(row['train']) - np.asarray(row['test'])
  return {'test': stats.over_seeds(row['test']), 'gap': stats.over_seeds(gap),
          'val_mean': float(np.mean(row['val']))}


def _compare(a: dict, b: dict, lower_is_better: bool = False) -> str:
  """'better', 'worse' or 'inconclusive' (inside the seed spread) for a against b."""
  if stats.intervals_overlap(a, b):
    return 'inconclusive'
  return 'better' if (a['mean'] < b['mean']) == lower_is_better else 'worse'


def analyze_subset(subset: dict) -> dict:
  none = _summary(subset['none'])
  kinds = []
  for kind in subset['kinds']:
    rows = [dict(strength=r['strength'], **_summary(r)) for r in kind['rows']]
    best = max(rows, key=lambda r: r['val_mean'])  # chosen on validation
    strongest = max(rows, key=lambda r: r['strength'])
    kinds.append({'kind': kind['kind'], 'rows': rows, 'best': best,
                  'versus_none': _compare(best['test'], none['test']),
                  'too_strong': (strongest is not best
                                 and _compare(strongest['test'], best['test']) == 'worse')})
  combined = subset['combined'] and dict(strengths=subset['combined']['strengths'],
                                         **_summary(subset['combined']))
  final = combined or none  # what augmentation as a whole gives here, chosen on validation
  return {'train_examples': subset['train_examples'], 'none': none, 'kinds': kinds,
          'combined': combined,
          'accuracy_verdict': _compare(final['test'], none['test']) if combined else 'none',
          'gap_verdict': (_compare(final['gap'], none['gap'], lower_is_better=True)
                          if combined else 'none')}


def analyze(results) -> dict:
  subsets = [analyze_subset(s) for s in results['subsets']]
  parts = []
  for s in subsets:
    n = s['train_examples']
    if not s['combined']:
      parts.append(f'on {n} examples no augmentation beat none on validation, so none is '
                   'combined')
      continue
    c, none = s['combined'], s['none']
    parts.append(
        f"on {n} examples the best combination ({', '.join(c['strengths'])}) scores "
        f"{c['test']['mean']:.2%} against {none['test']['mean']:.2%} without augmentation "
        f"({s['accuracy_verdict']}), its train-test gap {c['gap']['mean'] * 100:.1f} points "
        f"against {none['gap']['mean'] * 100:.1f} ({s['gap_verdict']})")
  gaps = [s['gap_verdict'] for s in subsets if s['combined']]
  claim = ('supported' if gaps and all(v == 'better' for v in gaps) else
           'contradicted' if gaps and all(v == 'worse' for v in gaps) else
           'inconclusive' if gaps else 'not tested (nothing to combine)')
  parts.append(f"the claim that augmentation reduces overfitting (a smaller train-test gap) "
               f"is {claim} here")
  strong = sorted({k['kind'] for s in subsets for k in s['kinds'] if k['too_strong']})
  tried = sorted({k['kind'] for s in subsets for k in s['kinds'] if len(k['rows']) > 1})
  parts.append((f"too strong hurts, beyond the seed spread, for {', '.join(strong)}" if strong
                else 'no augmentation was hurt by its strongest setting beyond the seed '
                'spread') + f" (of {', '.join(tried) or 'none with several strengths'})")
  headline = {}
  for s in subsets:
    n = s['train_examples']
    headline[f'test_none_{n}'] = s['none']['test']['mean']
    headline[f'gap_none_{n}'] = s['none']['gap']['mean']
    if s['combined']:
      headline[f'test_combined_{n}'] = s['combined']['test']['mean']
      headline[f'gap_combined_{n}'] = s['combined']['gap']['mean']
  return {'headline': headline, 'subsets': subsets, 'overfitting_claim': claim,
          'too_strong': strong, 'verdict': '; '.join(parts)}


def plot(results, findings, workdir) -> None:
  subsets = findings['subsets']
  with report.figure(workdir / 'augmentation.png', panels=len(subsets)) as (_, axes):
    for ax, s in zip(axes, subsets):
      for kind in s['kinds']:
        rows = kind['rows']
        ax.plot(range(len(rows) + 1), [s['none']['test']['mean']]
                + [r['test']['mean'] for r in rows], 'o-', label=kind['kind'])
      ax.axhline(s['none']['test']['mean'], color='gray', ls=':', label='none')
      if s['combined']:
        ax.axhline(s['combined']['test']['mean'], color='black', ls='--', label='combined')
      ax.set_xlabel('strength (0 = none, then each setting in order)')
      ax.set_ylabel('test accuracy')
      ax.set_title(f"{s['train_examples']} training examples")
      ax.grid(alpha=0.3)
      ax.legend(fontsize=7)


def render(results, findings) -> str:
  pm = lambda s: report.percent_interval(s)
  tables = []
  for s in findings['subsets']:
    rows = [['none', '', pm(s['none']['test']), pm(s['none']['gap'])]]
    for kind in s['kinds']:
      for r in kind['rows']:
        chosen = ' (chosen)' if r is kind['best'] else ''
        rows.append([kind['kind'], f"{r['strength']:g}{chosen}", pm(r['test']), pm(r['gap'])])
    if s['combined']:
      rows.append(['combined', ', '.join(f'{k} {v:g}' for k, v in
                                         s['combined']['strengths'].items()),
                   pm(s['combined']['test']), pm(s['combined']['gap'])])
    tables.append(f"{s['train_examples']} training examples:\n\n" + report.markdown_table(
        ['augmentation', 'strength', 'test accuracy', 'train - test gap'], rows))
  network = ('The reference CNN' if results.get('model', 'cnn') == 'cnn'
             else 'The ResNet of section 3')
  return f"""{network}, {results['epochs']} epochs at learning rate
{results['learning_rate']:g} (Adam, cosine decay), on each training subset; each strength
chosen on validation; mean ± 95% half-width over seeds. Strengths: flips are on (1) or off;
translation and cutout in pixels; rotation in degrees; scale as the zoom's range; brightness
and noise in units of the pixels' standard deviation; contrast as the factor's range.

{chr(10).join(t + chr(10) for t in tables)}
![test accuracy per augmentation and strength](augmentation.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
