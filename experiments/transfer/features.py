"""Section 4. Features: how generic is each layer?

The notes (001 Q13): early layers learn general features, later ones features specific to the
task. A linear probe (logistic regression, scikit-learn) on each hidden layer's activations of
the network trained on A, fitted on B's training split and scored on B's test split, beside the
same probes on randomly initialised networks of the same architecture (whose random features
are a real baseline: a wide random layer is already a useful projection).
"""
import jax
import jax.numpy as jnp
import numpy as np

from experiments import network_features
from experiments.transfer import groups
from research import report, stats
from research.data import pipeline
from research.models import build_model
from research.train import state as state_lib, transfer

TITLE = 'Features: a linear probe on every layer, trained network against random'


def probe_network(variables, model, data, layers, max_iter: int) -> dict[str, float]:
  features = {split: network_features.layer_features(
      model, variables, pipeline.normalize(data.split(split)[0], data.mean, data.std), layers)
      for split in ('train', 'test')}
  return {name: network_features.probe_accuracy(features['train'][name], data.train_labels,
                                      features['test'][name], data.test_labels, max_iter)
          for name in layers}


def measure(cfg, context) -> dict:
  config = context.config
  source = groups.source_run(context, 'source_A', config.classes_a)
  data = groups.half(context, config.classes_b, cfg.examples)
  model = build_model(config.model, groups.model_options(config), len(config.classes_a))
  layers = groups.layers(config, data.image_shape, data.num_classes)[:-1]
  weights, _ = transfer.source_weights(source)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0),
                                             jnp.zeros((1, *data.image_shape)), train=False))
  trained = transfer.transplant(jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes),
                                source)
  init = lambda seed: state_lib.init_variables(model, seed, data.image_shape)
  return {'layers': layers, 'train_examples': len(data.train_labels),
          'trained': probe_network(trained, model, data, layers, cfg.max_iter),
          'random': [probe_network(init(config.seed + 100 + k), model, data, layers,
                                   cfg.max_iter) for k in range(cfg.random_seeds)]}


def analyze(results) -> dict:
  rows = []
  for name in results['layers']:
    random = stats.over_seeds([r[name] for r in results['random']])
    trained = results['trained'][name]
    rows.append({'layer': name, 'trained': trained, 'random': random,
                 'advantage': trained - random['mean'],
                 'beats_random': bool(trained > random['ci95_high'] if random['n'] > 1
                                      else trained > random['mean'])})
  first, last = rows[0]['advantage'], rows[-1]['advantage']
  peak = max(rows, key=lambda r: r['advantage'])['layer']
  verdict = (f"the trained network's features beat random ones at "
             f"{sum(r['beats_random'] for r in rows)} of {len(rows)} layers; the advantage is "
             f"largest at {peak}, and it "
             + ('falls from the first hidden layer to the last, as specific features would'
                if last < first else 'does not fall from the first hidden layer to the last'))
  return {'headline': {**{f'probe_{r["layer"]}': r['trained'] for r in rows},
                       **{f'advantage_{r["layer"]}': r['advantage'] for r in rows}},
          'rows': rows, 'verdict': verdict}


def plot(results, findings, workdir) -> None:
  rows = findings['rows']
  with report.figure(workdir / 'features.png') as (_, (ax,)):
    x = range(len(rows))
    ax.plot(x, [r['trained'] for r in rows], 'o-', label='trained on A')
    ax.errorbar(x, [r['random']['mean'] for r in rows],
                yerr=[r['random']['ci95_high'] - r['random']['mean'] if r['random']['n'] > 1
                      else 0 for r in rows], fmt='s--', capsize=3, label='random networks')
    ax.set_xticks(list(x), [r['layer'] for r in rows])
    ax.set_ylabel('linear probe test accuracy on B')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def render(results, findings) -> str:
  table = report.markdown_table(
      ['layer', 'trained on A', 'random (mean, 95% interval)', 'advantage', 'beats random'],
      [[r['layer'], f"{r['trained']:.1%}",
        f"{r['random']['mean']:.1%} ({r['random']['ci95_low']:.1%} to "
        f"{r['random']['ci95_high']:.1%})", f"{r['advantage']:+.1%}",
        'yes' if r['beats_random'] else 'no'] for r in findings['rows']])
  return f"""Probes: standardised logistic regression (scikit-learn) on each hidden layer's
activations (convolutional maps averaged over space), fitted on B's
{results['train_examples']} training examples, scored on B's test split; the trained network is
section 1's source, the random ones {len(results['random'])} fresh initialisations.

{table}

![probe accuracy per layer](features.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
