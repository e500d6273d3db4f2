"""Section 3. Domain shift: how far apart may the source and the target be?

The notes (003 Q8): transfer across a domain gap can hurt (negative transfer). The gap here is
made and measured: the source network on A is trained on images whose pixel positions (or a
feature vector's entries) are shuffled by a fixed permutation of a fraction f of them, 0 to 1,
while B stays as it is. Fine-tuning each source on B against training from scratch: up to
which f does transfer help, and is any source worse than none, outside the seed spread?
"""
import dataclasses
import json
import pathlib

import numpy as np

from experiments import overrides, rundir
from experiments import train as train_experiment
from experiments.transfer import groups
from research import report, stats
from research.train import config as config_lib
from research.train import loop

TITLE = 'Domain shift: transfer from sources ever further from the target'


def shuffled_positions(shape, fraction: float, seed: int) -> np.ndarray:
  """A permutation of an example's positions (H x W pixels, or a vector's entries) that moves a
  `fraction` of them among themselves (a fixed draw), the rest in place."""
  positions = int(np.prod(shape[:-1])) if len(shape) == 3 else int(np.prod(shape))
  rng = np.random.default_rng([seed, 44])
  moved = rng.choice(positions, round(fraction * positions), replace=False)
  order = np.arange(positions)
  order[moved] = moved[rng.permutation(len(moved))]
  return order


def shifted(data, order: np.ndarray):
  """The dataset with every image's positions (all channels together) taken in `order`."""
  def move(images):
    flat = images.reshape(len(images), len(order), -1)
    return flat[:, order].reshape(images.shape)
  return dataclasses.replace(data, train_images=move(data.train_images),
                             test_images=move(data.test_images))


def shifted_source(context, fraction: float) -> str:
  """The source on A (the `train` run of groups.source_overrides) trained on shifted images."""
  config = context.config
  if fraction == 0:
    return groups.source_run(context, 'source_A', config.classes_a)
  workdir = context.workdir / f'source_A_shift_{fraction:g}'
  if not (workdir / 'results.json').exists():
    c = train_experiment.get_config()
    for assignment in groups.source_overrides(config, config.classes_a):
      overrides.apply_override(c, assignment)
    data = context.load()
    order = shuffled_positions(data.image_shape, fraction, config.seed)
    workdir.mkdir(parents=True, exist_ok=True)
    results = loop.train_and_evaluate(config_lib.from_config_dict(c), workdir,
                                      shifted(data, order), context.manifest)
    rundir.write_json(workdir / 'results.json', {
        'test': results['test'], 'shift_fraction': fraction,
        'moved_positions': int(np.sum(order != np.arange(len(order))))})
  return str(workdir)


def measure(cfg, context) -> dict:
  config = context.config
  data = groups.half(context, config.classes_b, cfg.examples)
  head = (groups.layers(config, data.image_shape, data.num_classes)[-1],)
  train = lambda name, start: groups.train(name, context, data, start, cfg.steps,
                                           cfg.batch_size, cfg.learning_rate)
  found = {'scratch': train('shift_scratch', groups.Start())}
  for fraction in cfg.fractions:
    source = shifted_source(context, fraction)
    found[f'{fraction:g}'] = train(f'shift_{fraction:g}',
                                   groups.Start(init_from=source, reinit=head))
    found[f'{fraction:g}']['source_test_accuracy'] = json.loads(
        (pathlib.Path(source) / 'results.json').read_text())['test']['accuracy']
  return {'runs': found, 'fractions': list(cfg.fractions), 'steps': cfg.steps,
          'train_examples': len(data.train_labels)}


def analyze(results) -> dict:
  scratch = stats.over_seeds(results['runs']['scratch']['test_accuracy'])
  rows = []
  for fraction in results['fractions']:
    run = results['runs'][f'{fraction:g}']
    s = stats.over_seeds(run['test_accuracy'])
    verdict = ('inconclusive' if stats.intervals_overlap(s, scratch) else
               'helps' if s['mean'] > scratch['mean'] else 'hurts (negative transfer)')
    rows.append({'fraction': fraction, 'accuracy': s, 'gain': s['mean'] - scratch['mean'],
                 'source_accuracy': run['source_test_accuracy'], 'verdict': verdict})
  helps = [r['fraction'] for r in rows if r['verdict'] == 'helps']
  hurts = [r['fraction'] for r in rows if r['verdict'].startswith('hurts')]
  verdict = (f'transfer helps up to a shift of {max(helps):g}' if helps else
             'transfer does not help at any shift, outside the seed spread')
  verdict += (f'; negative transfer (worse than scratch, outside the spread) at '
              f'{", ".join(f"{f:g}" for f in hurts)}' if hurts else
              '; no source is worse than none outside the spread')
  return {'headline': {**{f'gain_shift_{r["fraction"]:g}': r['gain'] for r in rows},
                       'scratch_accuracy': scratch['mean']},
          'scratch': scratch, 'rows': rows, 'verdict': verdict}


def plot(results, findings, workdir) -> None:
  with report.figure(workdir / 'domain_shift.png') as (_, (ax,)):
    rows = findings['rows']
    ax.errorbar([r['fraction'] for r in rows], [r['accuracy']['mean'] for r in rows],
                yerr=[r['accuracy']['ci95_high'] - r['accuracy']['mean'] for r in rows],
                marker='o', capsize=3, label='fine-tuned from the shifted source')
    ax.axhline(findings['scratch']['mean'], color='grey', ls=':', label='from scratch')
    ax.set_xlabel("fraction of the source's input positions shuffled")
    ax.set_ylabel('test accuracy on B (mean over seeds)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def render(results, findings) -> str:
  rows = [[f"{r['fraction']:g}", f"{r['source_accuracy']:.1%}", f"{r['accuracy']['mean']:.1%}",
           f"{r['gain']:+.1%}", r['verdict']]
          for r in findings['rows']]
  table = report.markdown_table(['shift f', "source's own test accuracy (shifted A)",
                                 'test accuracy on B', 'over scratch', 'verdict'], rows)
  s = findings['scratch']
  return f"""Each source: the same `train` run on A as section 1's, on images with a fraction f of
their positions shuffled (one fixed permutation; f = 0 is section 1's source). Fine-tuned on B's
{results['train_examples']} training examples (unshuffled), new head, about {results['steps']}
Adam steps; from scratch: {s['mean']:.1%} ({s['ci95_low']:.1%} to {s['ci95_high']:.1%}). Means
over seeds.

{table}

![accuracy against the shift](domain_shift.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
