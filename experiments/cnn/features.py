"""Section 4. What the layers learn: the first filters, and a linear probe on every layer.

The notes (001 Q11, 002 Q6): a CNN's features are hierarchical, edges and simple textures in
the first layer, parts and shapes later, the classes at the top. Two measurements on the
reference CNN of section 1 (read back, not retrained): its first layer's filters as images,
with how much of each filter is its mean (an edge or gradient detector has none; a random
filter about a third); and a linear probe (logistic regression, scikit-learn) on each layer's
frozen features, from the pixels to the logits, beside the same probes on randomly initialised
networks of the same architecture. A feature map enters its probe averaged over grid x grid
regions (the pixels enter whole); the probe fits on training features, scores on test ones.
"""
import numpy as np

from experiments import network_features
from experiments.cnn import groups
from research import report, stats
from research.data import pipeline
from research.train import ensemble, state as state_lib

TITLE = 'Hierarchical features: the first filters, and a linear probe on every layer'
FILTERS_SHOWN = 16


def _variables(state) -> dict:
  return {'params': state.params, **({'batch_stats': state.batch_stats}
                                     if state.batch_stats else {})}


def dc_fraction(kernel_KxKxCxN: np.ndarray) -> float:
  """Mean over filters of |sum of weights| / sum of |weights|: 0 for a filter that only sees
  differences (an edge or a gradient), 1 for one that only averages."""
  flat = np.asarray(kernel_KxKxCxN).reshape(-1, kernel_KxKxCxN.shape[-1])
  return float(np.mean(np.abs(flat.sum(0)) / np.abs(flat).sum(0)))


def probes(model, variables, data, layers, cfg, count: int) -> dict[str, float]:
  inputs = {split: pipeline.normalize(data.split(split)[0], data.mean, data.std)
            for split in ('train', 'test')}
  labels = {'train': data.train_labels[:count], 'test': data.test_labels}
  inputs['train'] = inputs['train'][:count]
  found = {split: network_features.layer_features(model, variables, x, layers, cfg.grid,
                                                  linear=('output',))
           for split, x in inputs.items()}
  return {name: network_features.probe_accuracy(found['train'][name], labels['train'],
                                                found['test'][name], labels['test'],
                                                cfg.probe_max_iter)
          for name in layers}


def measure(cfg, context) -> dict:
  config, data = context.config, context.data()
  group = groups.train('cnn', context, data, 'cnn', groups.reference_options(config),
                       epochs=config.epochs, rates=config.rates)
  choice = groups.chosen(group, config.rates, config.seeds)
  model = group['ensemble'].model(choice['rate'])
  layers = [f'conv_{i}' for i in range(len(config.channels))] + \
           [f'dense_{i}' for i in range(len(config.dense))] + ['output']
  count = cfg.probe_examples or len(data.train_labels)
  pixels = {split: np.asarray(pipeline.normalize(data.split(split)[0], data.mean, data.std))
            .reshape(len(data.split(split)[1]), -1) for split in ('train', 'test')}
  pixel_probe = network_features.probe_accuracy(pixels['train'][:count],
                                                data.train_labels[:count], pixels['test'],
                                                data.test_labels, cfg.probe_max_iter)
  init = lambda seed: state_lib.init_variables(model, seed, data.image_shape)
  trained = [_variables(ensemble.member(group['states'], k)) for k in choice['members']]
  randoms = [init(config.seed + 100 + k) for k in range(len(trained))]
  return {
      'layers': layers, 'rate': choice['rate'], 'grid': cfg.grid, 'probe_examples': count,
      'pixels': pixel_probe,
      'trained': [probes(model, v, data, layers, cfg, count) for v in trained],
      'random': [probes(model, v, data, layers, cfg, count) for v in randoms],
      'dc_trained': [dc_fraction(v['params']['conv_0']['kernel']) for v in trained],
      'dc_random': [dc_fraction(v['params']['conv_0']['kernel']) for v in randoms],
      'filters': np.round(np.asarray(trained[0]['params']['conv_0']['kernel'])[
          ..., :FILTERS_SHOWN], 4).tolist(),
      'random_filters': np.round(np.asarray(randoms[0]['params']['conv_0']['kernel'])[
          ..., :FILTERS_SHOWN], 4).tolist()}


def analyze(results) -> dict:
  rows = []
  for name in results['layers']:
    trained = stats.over_seeds([p[name] for p in results['trained']])
    random = stats.over_seeds([p[name] for p in results['random']])
    rows.append({'layer': name, 'trained': trained, 'random': random,
                 'beats_random': (trained['mean'] > random['mean']
                                  and not stats.intervals_overlap(trained, random))})
  means = [results['pixels']] + [r['trained']['mean'] for r in rows]
  rises = sum(b > a for a, b in zip(means, means[1:]))
  parts = [f"the probe's test accuracy goes from {means[0]:.2%} on the pixels to "
           f"{means[-1]:.2%} on the logits, rising at {rises} of {len(means) - 1} steps"
           + (' (every one: each layer is more linearly separable than the one before)'
              if rises == len(means) - 1 else '')]
  advantage = [r['trained']['mean'] - r['random']['mean'] for r in rows]
  beats = [r['layer'] for r in rows if r['beats_random']]
  parts.append(f"the trained network's features beat random ones beyond the seed spread at "
               f"{len(beats)} of {len(rows)} layers"
               + (f"; the advantage grows from {advantage[0] * 100:+.1f} points at "
                  f"{rows[0]['layer']} to {advantage[-1] * 100:+.1f} at {rows[-1]['layer']}"
                  if advantage[-1] > advantage[0] else
                  f"; the advantage does not grow from {rows[0]['layer']} "
                  f"({advantage[0] * 100:+.1f} points) to {rows[-1]['layer']} "
                  f"({advantage[-1] * 100:+.1f})"))
  dc_trained, dc_random = (stats.over_seeds(results[k]) for k in ('dc_trained', 'dc_random'))
  parts.append(f"the first layer's filters keep {dc_trained['mean']:.2f} of their weight in "
               f"their mean, against {dc_random['mean']:.2f} at initialisation: "
               + ('a difference inside the seed spread, so no sign that training made them '
                  'more like edge detectors' if stats.intervals_overlap(dc_trained, dc_random)
                  else 'more like edge and gradient detectors after training'
                  if dc_trained['mean'] < dc_random['mean']
                  else 'less like edge detectors than random filters'))
  headline = {'probe_pixels': results['pixels'],
              **{f"probe_{r['layer']}": r['trained']['mean'] for r in rows},
              'dc_fraction_trained': dc_trained['mean'], 'dc_fraction_random': dc_random['mean']}
  return {'headline': headline, 'rows': rows, 'advantage': advantage,
          'verdict': '; '.join(parts)}


def _filter_rows(kernel, label: str) -> tuple[str, np.ndarray]:
  k = np.asarray(kernel)  # K x K x C x N: N images of K x K x C, each scaled to [0, 1]
  images = np.moveaxis(k, -1, 0)
  if images.shape[-1] not in (1, 3):
    images = images[..., :1]
  low = images.min(axis=(1, 2, 3), keepdims=True)
  high = images.max(axis=(1, 2, 3), keepdims=True)
  return label, (images - low) / np.maximum(high - low, 1e-12)


def plot(results, findings, workdir) -> None:
  rows = findings['rows']
  with report.figure(workdir / 'features.png') as (_, (ax,)):
    x = np.arange(len(rows) + 1)
    labels = ['pixels'] + [r['layer'] for r in rows]
    for key, style, label in (('trained', 'o-', 'trained'), ('random', 's--', 'random')):
      means = [results['pixels']] + [r[key]['mean'] for r in rows]
      half = [0] + [0 if r[key]['n'] < 2 else r[key]['ci95_high'] - r[key]['mean']
                    for r in rows]
      ax.errorbar(x, means, yerr=half, fmt=style, capsize=3, label=f'{label} network')
    ax.set_xticks(x, labels)
    ax.set_ylabel("linear probe's test accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
  report.image_grid(workdir / 'first_filters.png',
                    [_filter_rows(results['filters'], 'trained'),
                     _filter_rows(results['random_filters'], 'random')])


def render(results, findings) -> str:
  table = report.markdown_table(
      ['layer', 'trained network', 'random network'],
      [['pixels', f"{results['pixels']:.1%}", f"{results['pixels']:.1%}"]]
      + [[r['layer'], report.percent_interval(r['trained']), report.percent_interval(r['random'])]
         for r in findings['rows']])
  return f"""A linear probe fitted on {results['probe_examples']} training examples' features
of each layer (after its ReLU; the logits as they are; feature maps averaged over
{results['grid']} x {results['grid']} regions), scored on the test set; mean ± 95% half-width
over the seeds of the trained reference CNN (learning rate {results['rate']:g}) and over as
many random initialisations:

{table}

![linear probe accuracy per layer](features.png)

![the first layer's filters, trained and at initialisation](first_filters.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
