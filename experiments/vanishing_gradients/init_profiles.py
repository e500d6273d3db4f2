"""Section 1. At initialisation: how the gradient norm changes from the last layer to the first.

Backpropagation multiplies the gradient by W^T diag(act'(z)) once per layer. A sigmoid's
derivative is at most 1/4, so with Glorot's weights a plain sigmoid network shrinks the gradient
by a roughly constant factor per layer: exponentially in depth (Glorot and Bengio 2010). tanh
(derivative 1 at 0) and ReLU with He's initialisation (He et al. 2015) are built to keep it
level. A skip connection adds an identity path, dh_i/dh_{i-1} = I + dF/dh, along which the
gradient reaches the first layer undiminished; a highway gate adds a learned share of it.
"""
import itertools
import math

import jax
import numpy as np

from research import diagnostics, report
from research.models.mlp import MLP

TITLE = 'Gradient norm profiles at initialisation: depth x activation x init x skip'


def _probe_batch(dataset, count: int):
  images = dataset.train_images[:count].reshape(count, -1).astype(np.float32)
  return (images - dataset.mean) / dataset.std, dataset.train_labels[:count]


def measure(cfg, dataset, key) -> dict:
  images, labels = _probe_batch(dataset, cfg.batch)
  rows, compiled = [], {}
  for depth, activation, skip, init in itertools.product(cfg.depths, cfg.activations, cfg.skips,
                                                         cfg.inits):
    model = MLP(num_classes=dataset.num_classes, depth=depth, width=cfg.width,
                activation=activation, weight_init=init, skip=skip)
    params = model.init(jax.random.fold_in(key, depth), images[:1], train=False)['params']
    # The diagnostics program does not depend on the initialiser: compile it once per shape.
    shape_key = (depth, activation, skip)
    if shape_key not in compiled:
      compiled[shape_key] = jax.jit(diagnostics.make_diagnostics(model, activation))
    values = compiled[shape_key](params, {}, images, labels, key)
    hidden = [f'hidden_{i}' for i in range(depth)]
    norms = diagnostics.profile(values, 'grad_norm', hidden)
    rows.append({'depth': depth, 'activation': activation, 'skip': skip, 'init': init,
                 'grad_norms': norms.tolist(),
                 'first_over_last': float(norms[0] / norms[-1]),
                 'saturated_top': float(values.get(f'saturated/hidden_{depth - 1}', np.nan)),
                 'dead_top': float(values.get(f'dead/hidden_{depth - 1}', np.nan))})
  return {'width': cfg.width, 'batch': cfg.batch, 'rows': rows}


def _plot(path, rows, depth: int) -> None:
  activations = sorted({r['activation'] for r in rows}, key=['sigmoid', 'tanh', 'relu'].index)
  with report.figure(path, panels=len(activations), panel_size=(4.6, 4)) as (_, axes):
    for ax, activation in zip(axes, activations):
      for r in rows:
        if r['activation'] == activation and r['depth'] == depth:
          norms = np.maximum(np.array(r['grad_norms']), 1e-30)  # log10(0) would hide the line
          ax.plot(range(depth), np.log10(norms), ls='-' if r['init'] == 'glorot' else '--',
                  color={'none': 'C3', 'residual': 'C0', 'highway': 'C2'}[r['skip']],
                  label=f"{r['skip']}, {r['init']}")
      ax.set_title(f'{activation}, depth {depth}')
      ax.set_xlabel('layer index (0 = first)')
      ax.set_ylabel('log10 ||dL/dW||')
      ax.grid(alpha=0.3)
      ax.legend(fontsize=7)


VANISHES, EXPLODES = 0.9, 1.1  # per-layer factors beyond which a trend is not "level"


def depth_trend(rows) -> dict:
  """The first-over-last ratio's geometric factor per layer of depth: log10(ratio) fitted as
  slope * (depth - 1) through the origin (depth 1 has ratio 1), over every row given (any
  activations and inits), with the span of the ratios at the deepest depth."""
  usable = [r for r in rows if r['depth'] > 1 and not math.isnan(r['first_over_last'])]
  if not usable:
    return {'factor': math.nan, 'verdict': 'not measured', 'deepest': None}
  d = np.array([r['depth'] - 1 for r in usable], np.float64)
  # A norm of exactly 0 has vanished as far as float64 can tell.
  y = np.log10([max(r['first_over_last'], np.finfo(np.float64).tiny) for r in usable])
  factor = 10 ** float((d @ y) / (d @ d))
  deepest = max(r['depth'] for r in usable)
  at_deepest = [r['first_over_last'] for r in usable if r['depth'] == deepest]
  verdict = ('vanishes' if factor < VANISHES else 'explodes' if factor > EXPLODES else 'level')
  return {'factor': factor, 'verdict': verdict, 'deepest': deepest,
          'span': (min(at_deepest), max(at_deepest))}


def describe(rows) -> str:
  trend = depth_trend(rows)
  if trend['deepest'] is None:
    return 'were not measured'
  low, high = trend['span']
  what = {'vanishes': 'the gradient vanishes exponentially with depth',
          'explodes': 'the gradient grows exponentially with depth',
          'level': 'the gradient stays level with depth'}[trend['verdict']]
  return (f"give a first-over-last ratio that changes by a factor of {trend['factor']:.3g} per "
          f"layer ({low:.1e} to {high:.1e} at depth {trend['deepest']}): {what}")


def analyze(results) -> dict:
  rows = results['rows']
  by = {(r['activation'], r['init'], r['skip'], r['depth']): r for r in rows}
  headline = {f'first_over_last_depth32_sigmoid_glorot_{skip}': by[key]['first_over_last']
              for skip in ('none', 'residual', 'highway')
              for key in [('sigmoid', 'glorot', skip, 32)] if key in by}
  plain_sigmoid = [r for r in rows if r['activation'] == 'sigmoid' and r['skip'] == 'none']
  matched = [r for r in rows if r['skip'] == 'none' and (r['activation'], r['init']) in
             (('tanh', 'glorot'), ('relu', 'he'))]
  skipped = [r for r in rows if r['skip'] != 'none']
  return {'headline': headline, 'plain_sigmoid': describe(plain_sigmoid),
          'matched': describe(matched), 'skipped': describe(skipped)}


def plot(results, findings, workdir) -> None:
  rows = results['rows']
  _plot(workdir / 'init_profiles.png', rows, max(r['depth'] for r in rows))


def render(results, findings) -> str:
  rows = results['rows']
  depths = sorted({r['depth'] for r in rows})
  by = {(r['activation'], r['init'], r['skip'], r['depth']): r for r in rows}
  combos = sorted({(r['activation'], r['init'], r['skip']) for r in rows},
                  key=lambda c: (['sigmoid', 'tanh', 'relu'].index(c[0]), c[1],
                                 ['none', 'residual', 'highway'].index(c[2])))
  table = report.markdown_table(
      ['activation', 'init', 'skip'] + [f'depth {d}' for d in depths],
      [[*combo] + [f"{by[(*combo, d)]['first_over_last']:.1e}" for d in depths]
       for combo in combos])
  return f"""Per-layer ||dL/dW|| of an MLP (width {results['width']}) at initialisation, mean
cross-entropy on {results['batch']} training images. The table gives the first hidden layer's
norm over the last hidden layer's: 1 is level, below 1e-3 the first layer barely learns.

{table}

![log10 gradient norm against layer index](init_profiles.png)

**Conclusion.** Fitted over depths {', '.join(map(str, depths))} (the ratio is 1 at depth 1):
plain sigmoid networks, whichever initialiser they start from, {findings['plain_sigmoid']}.
tanh with Glorot's and ReLU with He's initialisation, the pairs those initialisers were designed
for, {findings['matched']}. With a residual or highway connection the networks of every
activation and initialiser {findings['skipped']}.
"""
