"""Section 3. The classic architectures, scaled down, on one data set and one budget.

The notes (002 Q4-Q9): VGG-16 stacks 3 x 3 convolutions deep (Simonyan and Zisserman 2015);
Inception runs 1 x 1, 3 x 3 and 5 x 5 convolutions and pooling side by side, with 1 x 1
convolutions reducing the channels first to keep the cost down (Szegedy et al. 2015); Xception
replaces convolutions with depthwise-separable ones, in entry, middle and exit flows with
residual connections (Chollet 2017); ResNet adds identity shortcuts (He et al. 2016). Small
versions of each (research/models), with the reference CNN, train for the same epochs on the
same data, their learning rate chosen on validation: test accuracy over seeds, parameters,
XLA's FLOPs per example and training speed. Then the two savings the papers claim, measured on
this section's own layer sizes: the 1 x 1 reductions' (the naive module's weights and FLOPs over
the reduced module's) and the separable convolution's (its cost over a full convolution's:
1/N + 1/k^2, Howard et al. 2017).
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from experiments.cnn import groups
from research import report, stats
from research.models import inception
from research.nn import separable, switch

TITLE = 'VGG, Inception, Xception and ResNet: accuracy against cost'
NAMES = {'cnn': 'reference CNN', 'vgg': 'VGG-style', 'inception': 'Inception-style',
         'xception': 'Xception-style', 'resnet': 'ResNet'}


def model_options(cfg, config) -> dict[str, dict]:
  return {'cnn': groups.reference_options(config),
          'vgg': dict(stages=tuple(map(tuple, cfg.vgg_stages)), dense=tuple(cfg.vgg_dense)),
          'inception': dict(stem=cfg.inception_stem,
                            modules=tuple(map(tuple, cfg.inception_modules))),
          'xception': dict(entry=tuple(cfg.xception_entry),
                           middle_blocks=cfg.xception_middle_blocks,
                           exit=tuple(cfg.xception_exit), final=tuple(cfg.xception_final)),
          'resnet': dict(depth=cfg.resnet_depth)}


def _xla_flops(layer: nn.Module, x) -> float:
  variables = jax.eval_shape(lambda: layer.init(jax.random.key(0), x))
  return groups.xla_flops(layer.apply, variables, x)


def _weights(layer: nn.Module, x) -> int:
  """The layer's kernel weights (biases apart, as the closed forms count)."""
  shapes = jax.eval_shape(lambda: layer.init(jax.random.key(0), x))['params']
  leaves = jax.tree_util.tree_leaves_with_path(shapes)
  return int(sum(np.prod(v.shape) for path, v in leaves if 'kernel' in jax.tree_util.keystr(path)))


def savings(cfg, image_shape) -> dict:
  """The naive Inception module against the reduced one at the first module's input (the
  stem's channels, the image's side), and a separable against a full 3 x 3 convolution with
  the Xception-style network's middle-flow channels at the image's side: closed forms and
  counts."""
  with switch.forced('plain'):  # flax's layers: the arithmetic the closed forms describe
    return _savings(cfg, image_shape)


def _savings(cfg, image_shape) -> dict:
  side = image_shape[0]
  c, widths = cfg.inception_stem, tuple(cfg.inception_modules[0])
  x = jnp.zeros((1, side, side, c))
  module = {reduce: inception.InceptionModule(widths, reduce) for reduce in (True, False)}
  found = {'inception': {
      'channels_in': c, 'side': side, 'widths': list(widths),
      **{f'{kind}_closed_form': inception.module_weights(c, widths, reduce)
         for kind, reduce in (('reduced', True), ('naive', False))},
      **{f'{kind}_weights': _weights(module[reduce], x)
         for kind, reduce in (('reduced', True), ('naive', False))},
      **{f'{kind}_flops': _xla_flops(module[reduce], x)
         for kind, reduce in (('reduced', True), ('naive', False))}}}
  n = cfg.xception_entry[-1]  # the middle flow's channels, at the image's side
  x = jnp.zeros((1, side, side, n))
  found['separable'] = {
      'channels': n, 'side': side, 'kernel': 3,
      'separable_closed_form': separable.separable_weights(n, n, 3),
      'full_closed_form': separable.conv_weights(n, n, 3),
      'separable_weights': _weights(separable.SeparableConv(n, 3, use_bias=False), x),
      'full_weights': _weights(nn.Conv(n, (3, 3), use_bias=False), x),
      'separable_flops': _xla_flops(separable.SeparableConv(n, 3, use_bias=False), x),
      'full_flops': _xla_flops(nn.Conv(n, (3, 3), use_bias=False), x)}
  return found


def measure(cfg, context) -> dict:
  config, data = context.config, context.data()
  epochs = cfg.epochs or config.epochs
  results = {'train_examples': len(data.train_labels), 'rates': list(config.rates),
             'epochs': epochs, 'networks': [], 'savings': savings(cfg, data.image_shape)}
  options = model_options(cfg, config)
  for model in cfg.models:
    # The reference CNN is section 1's group when the budget is the same.
    name = model if model != 'cnn' or epochs == config.epochs else f'cnn_{epochs}_epochs'
    group = groups.train(name, context, data, model, options[model], epochs=epochs,
                         rates=config.rates)
    choice = groups.chosen(group, config.rates, config.seeds)
    results['networks'].append({
        'model': model, 'rate': choice['rate'], 'test': choice['test'],
        'parameters': groups.parameters(model, options[model], data),
        'flops': groups.forward_flops(model, options[model], data),
        'examples_per_s': groups.throughput(group)})
  return results


def saving_findings(found: dict) -> dict:
  inc, sep = found['inception'], found['separable']
  n, k = sep['channels'], sep['kernel']
  return {
      'reduction_weights': inc['naive_weights'] / inc['reduced_weights'],
      'reduction_closed_form': inc['naive_closed_form'] / inc['reduced_closed_form'],
      'reduction_flops': inc['naive_flops'] / inc['reduced_flops'],
      'separable_weights': sep['separable_weights'] / sep['full_weights'],
      'separable_closed_form': 1 / n + 1 / k ** 2,
      'separable_flops': sep['separable_flops'] / sep['full_flops']}


def analyze(results) -> dict:
  rows = [dict(r, test_stats=stats.over_seeds(r['test'])) for r in results['networks']]
  ranked = sorted(rows, key=lambda r: -r['test_stats']['mean'])
  best = ranked[0]
  tied = [r for r in ranked[1:] if stats.intervals_overlap(r['test_stats'], best['test_stats'])]
  parts = [f"{NAMES[best['model']]} is the most accurate ({best['test_stats']['mean']:.2%})"
           + (f"; {', '.join(NAMES[r['model']] for r in tied)} "
              f"{'is' if len(tied) == 1 else 'are'} inside its seed spread" if tied else
              ', beyond the seed spread of every other network')]
  cheapest = min(rows, key=lambda r: r['flops'])
  fewest = min(rows, key=lambda r: r['parameters'])
  parts.append(f"the fewest FLOPs per example are {NAMES[cheapest['model']]}'s "
               f"({cheapest['flops'] / 1e6:.2f} M) and the fewest parameters "
               f"{NAMES[fewest['model']]}'s ({fewest['parameters']:,})")
  found = saving_findings(results['savings'])
  parts.append(
      f"the naive Inception module has {found['reduction_weights']:.2f}x the reduced one's "
      f"weights (closed form {found['reduction_closed_form']:.2f}x) and "
      f"{found['reduction_flops']:.2f}x its FLOPs; the separable convolution has "
      f"{found['separable_weights']:.3f} of a full one's weights and "
      f"{found['separable_flops']:.3f} of its FLOPs, against 1/N + 1/k^2 = "
      f"{found['separable_closed_form']:.3f}")
  headline = {f"test_{r['model']}": r['test_stats']['mean'] for r in rows}
  headline.update({k: v for k, v in found.items()})
  return {'headline': headline, 'rows': rows, 'savings': found, 'verdict': '; '.join(parts)}


def plot(results, findings, workdir) -> None:
  with report.figure(workdir / 'architectures.png') as (_, (ax,)):
    for row in findings['rows']:
      s = row['test_stats']
      ax.errorbar(row['flops'] / 1e6, s['mean'],
                  yerr=0 if s['n'] < 2 else s['ci95_high'] - s['mean'], marker='o', capsize=3,
                  label=f"{NAMES[row['model']]} ({row['parameters']:,} parameters)")
    ax.set_xscale('log')
    ax.set_xlabel('MFLOPs per example (forward, XLA)')
    ax.set_ylabel('test accuracy')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def render(results, findings) -> str:
  table = groups.cost_table(findings['rows'], [NAMES[r['model']] for r in findings['rows']])
  inc, sep = results['savings']['inception'], results['savings']['separable']
  savings = report.markdown_table(
      ['layer', 'weights', 'closed form', 'XLA FLOPs (forward, one example)'],
      [[f"Inception module {tuple(inc['widths'])}, reduced", f"{inc['reduced_weights']:,}",
        f"{inc['reduced_closed_form']:,}", f"{inc['reduced_flops']:,.0f}"],
       ['the same, naive', f"{inc['naive_weights']:,}", f"{inc['naive_closed_form']:,}",
        f"{inc['naive_flops']:,.0f}"],
       [f"3 x 3 convolution, {sep['channels']} -> {sep['channels']} channels",
        f"{sep['full_weights']:,}", f"{sep['full_closed_form']:,}", f"{sep['full_flops']:,.0f}"],
       ['the same, depthwise-separable', f"{sep['separable_weights']:,}",
        f"{sep['separable_closed_form']:,}", f"{sep['separable_flops']:,.0f}"]])
  return f"""Each network trained for {results['epochs']} epochs on {results['train_examples']}
examples, its learning rate (of {', '.join(f'{r:g}' for r in results['rates'])}) chosen on
validation; test accuracy mean ± 95% half-width over seeds. FLOPs are XLA's count for one
example's forward pass; the speed counts every seed's examples (vmapped together).

{table}

![accuracy against FLOPs](architectures.png)

The savings, on this section's layer sizes (the Inception module at {inc['side']} x
{inc['side']} x {inc['channels_in']}, the convolutions at {sep['side']} x {sep['side']} x
{sep['channels']}). XLA does not count the kernel taps that fall on 'SAME' padding, so its
FLOPs fall short of the closed forms' weights x positions on small images:

{savings}

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
