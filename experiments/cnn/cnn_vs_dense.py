"""Section 1. Convolution against a fully connected network, at the same parameter count.

The notes (001 Q4-Q6): a convolution connects each unit to a small neighbourhood (sparse
connectivity) and uses the same weights at every position (parameter sharing), which makes it
efficient and makes what it detects move with the image (translation equivariance; pooling adds
some invariance). Three networks with about the same number of parameters: the reference CNN;
a locally connected network, the same architecture without weight sharing (its channels
narrowed until it has the CNN's parameter count); and an MLP with one hidden layer as wide as
that count allows. Each is trained over seeds (learning rate chosen on validation), then scored
on the test images and on the same images moved by 1, 2, ... pixels (up, down, left and right,
the vacated border filled with the background): translation invariance measured, not assumed.
"""
import numpy as np

from experiments.cnn import groups
from research import report, stats

TITLE = 'Convolution, locally connected and fully connected networks at one parameter count'
NAMES = {'cnn': 'CNN', 'local': 'locally connected', 'mlp': 'MLP'}


def shifted(images: np.ndarray, pixels: int, direction: int) -> np.ndarray:
  """Images (N x H x W x C) moved `pixels` down, up, right or left (direction 0-3), the border
  they leave filled with zeros (the raw images' background)."""
  if pixels == 0:
    return images
  out = np.zeros_like(images)
  axis, sign = 1 + direction // 2, 1 if direction % 2 == 0 else -1
  source = [slice(None)] * 4
  target = [slice(None)] * 4
  source[axis] = slice(0, -pixels) if sign > 0 else slice(pixels, None)
  target[axis] = slice(pixels, None) if sign > 0 else slice(0, -pixels)
  out[tuple(target)] = images[tuple(source)]
  return out


def matched_options(config, data) -> dict:
  """The three networks' model options, the locally connected and MLP ones sized to the
  CNN's parameter count: the local network's channels scaled by a common factor, the MLP's
  one hidden layer's width, each the size whose count is nearest."""
  cnn = groups.reference_options(config)
  target = groups.parameters('cnn', cnn, data)
  first = config.channels[0]
  local = [dict(cnn, local=True, channels=tuple(max(1, round(c * m / first))
                                                for c in config.channels))
           for m in range(1, first + 1)]
  local_best = min(local, key=lambda o: abs(groups.parameters('cnn', o, data) - target))
  inputs, classes = int(np.prod(data.image_shape)), data.num_classes
  width = max(1, round((target - classes) / (inputs + 1 + classes)))  # one hidden layer
  return {'cnn': ('cnn', cnn), 'local': ('cnn', local_best),
          'mlp': ('mlp', dict(depth=1, width=width))}


def measure(cfg, context) -> dict:
  config, data = context.config, context.data()
  test_images, test_labels = data.split('test')
  if cfg.shift_examples:
    test_images, test_labels = test_images[:cfg.shift_examples], test_labels[:cfg.shift_examples]
  results = {'train_examples': len(data.train_labels), 'shifts': list(cfg.shifts),
             'shift_examples': len(test_labels), 'rates': list(config.rates), 'networks': []}
  for name, (model, options) in matched_options(config, data).items():
    group = groups.train(name, context, data, model, options, epochs=config.epochs,
                         rates=config.rates)
    choice = groups.chosen(group, config.rates, config.seeds)
    members = choice['members']
    by_shift = []
    for pixels in cfg.shifts:
      correct = [(group['ensemble'].outputs_on(group['states'], shifted(test_images, pixels, d))
                  .argmax(-1) == test_labels)[members].mean(-1) for d in range(4)]
      by_shift.append(np.mean(correct, axis=0).tolist())  # per member, over the 4 directions
    results['networks'].append({
        'name': name, 'model': model, 'options': {k: list(v) if isinstance(v, tuple) else v
                                                  for k, v in options.items()},
        'parameters': groups.parameters(model, options, data), 'rate': choice['rate'],
        'test': choice['test'], 'shifted': by_shift})
  return results


def analyze(results) -> dict:
  rows = []
  for net in results['networks']:
    curve = [stats.over_seeds(v) for v in net['shifted']]
    rows.append({'name': net['name'], 'parameters': net['parameters'], 'rate': net['rate'],
                 'test': stats.over_seeds(net['test']), 'shifted': curve,
                 'kept': [c['mean'] / curve[0]['mean'] for c in curve]})
  by_name = {r['name']: r for r in rows}
  parts = []
  ranked = sorted(rows, key=lambda r: -r['test']['mean'])
  best, second = ranked[0], ranked[1] if len(ranked) > 1 else None
  text = f"{NAMES[best['name']]} is the most accurate ({best['test']['mean']:.2%})"
  if second:
    text += (f", against {NAMES[second['name']]}'s {second['test']['mean']:.2%}: " +
             ('inside the seed spread, so inconclusive'
              if stats.intervals_overlap(best['test'], second['test'])
              else 'beyond the seed spread'))
  parts.append(text)
  shifts = results['shifts']
  if len(shifts) > 1 and shifts[0] == 0:
    far = len(shifts) - 1
    robust = sorted(rows, key=lambda r: -r['kept'][far])
    parts.append(
        f"moved {shifts[far]} pixels, the test images keep "
        + ', '.join(f"{r['kept'][far]:.0%} of {NAMES[r['name']]}'s accuracy" for r in robust))
    if 'cnn' in by_name and 'mlp' in by_name:
      cnn, mlp = by_name['cnn']['shifted'][far], by_name['mlp']['shifted'][far]
      outcome = ('inconclusive (inside the seed spread)' if stats.intervals_overlap(cnn, mlp)
                 else 'supported' if cnn['mean'] > mlp['mean'] else 'contradicted')
      parts.append(f"the claim that convolution makes a network more tolerant of translation "
                   f"is {outcome}: on images moved {shifts[far]} pixels the CNN scores "
                   f"{cnn['mean']:.2%} and the MLP {mlp['mean']:.2%}")
  headline = {f"test_{r['name']}": r['test']['mean'] for r in rows}
  headline.update({f"shifted_{r['name']}": r['shifted'][-1]['mean'] for r in rows})
  return {'headline': headline, 'rows': rows, 'verdict': '; '.join(parts)}


def plot(results, findings, workdir) -> None:
  with report.figure(workdir / 'cnn_vs_dense.png') as (_, (ax,)):
    for row in findings['rows']:
      means = [c['mean'] for c in row['shifted']]
      half = [0 if c['n'] < 2 else c['ci95_high'] - c['mean'] for c in row['shifted']]
      ax.errorbar(results['shifts'], means, yerr=half, marker='o', capsize=3,
                  label=f"{NAMES[row['name']]} ({row['parameters']:,} parameters)")
    ax.set_xlabel('pixels the test images are moved (mean of 4 directions)')
    ax.set_ylabel('test accuracy')
    ax.grid(alpha=0.3)
    ax.legend()


def render(results, findings) -> str:
  shifts = results['shifts']
  table = report.markdown_table(
      ['network', 'parameters', 'learning rate', 'test accuracy',
       *(f'moved {s} px' for s in shifts[1:])],
      [[NAMES[r['name']], f"{r['parameters']:,}", f"{r['rate']:g}",
        report.percent_interval(r['test']),
        *(report.percent_interval(c) for c in r['shifted'][1:])] for r in findings['rows']])
  return f"""Each network trained on {results['train_examples']} examples, its learning rate
(of {', '.join(f'{r:g}' for r in results['rates'])}) chosen on the validation split; test
accuracy on all test images, and on the first {results['shift_examples']} moved by each
distance (mean of the four directions), mean ± 95% half-width over seeds:

{table}

![accuracy against translation](cnn_vs_dense.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
