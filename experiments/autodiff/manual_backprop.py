"""Section 7. Backpropagation by hand (the delta rule of the notes, 001) against `jax.grad`.

Sigmoid units, squared error, explicit per-layer deltas (research/backprop.py), on batches of
the embedded digits data with one-hot targets. Same gradients to rounding error, and the time
each takes when jitted: AD derives the same computation, so neither should be faster.
"""
import jax
import jax.numpy as jnp
import numpy as np

from research import backprop, report
from research.data import load_dataset

TITLE = 'Manual backpropagation (delta rule) against jax.grad'


def _max_relative_difference(manual, automatic) -> float:
  """max |manual - automatic| over every weight, relative to the largest |automatic| entry."""
  diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in
             zip(jax.tree.leaves(manual), jax.tree.leaves(automatic)))
  scale = max(float(jnp.max(jnp.abs(b))) for b in jax.tree.leaves(automatic))
  return diff / scale


def measure(cfg, probe, key: jax.Array) -> dict:
  digits = load_dataset('digits')
  images = digits.train_images[:cfg.batch].reshape(cfg.batch, -1)
  x_BxI = jnp.asarray(images / 16.0, jnp.float32)  # digits pixels are 0..16
  t_BxO = jax.nn.one_hot(digits.train_labels[:cfg.batch], digits.num_classes)
  rows = []
  for hidden in cfg.hidden_layers:
    sizes = (x_BxI.shape[1], *hidden, digits.num_classes)
    params = backprop.init_params(jax.random.fold_in(key, len(hidden) * 1000 + hidden[0]), sizes)
    manual_fn, auto_fn = backprop.manual_gradients, jax.grad(backprop.squared_error)
    manual_cost = probe(manual_fn, params, x_BxI, t_BxO)
    auto_cost = probe(auto_fn, params, x_BxI, t_BxO)
    with jax.enable_x64(True):  # the same comparison with rounding 2^29 times finer
      args64 = jax.tree.map(lambda a: np.asarray(a, np.float64), (params, x_BxI, t_BxO))
      difference64 = _max_relative_difference(jax.jit(manual_fn)(*args64),
                                              jax.jit(auto_fn)(*args64))
    rows.append({'sizes': list(sizes),
                 'max_rel_diff_float32': _max_relative_difference(manual_cost.output,
                                                                  auto_cost.output),
                 'max_rel_diff_float64': difference64,
                 'manual_time_s': manual_cost.time_s, 'grad_time_s': auto_cost.time_s,
                 'manual_flops': manual_cost.flops, 'grad_flops': auto_cost.flops})
  return {'batch': cfg.batch, 'rows': rows}


# Rounding-level agreement: a few hundred ulps of each precision, for sums over a batch.
ROUNDING = {'float32': 1e-4, 'float64': 1e-12}


def agreement_finding(worst32: float, worst64: float) -> str:
  """Whether the two gradients differ only by rounding: below ROUNDING in both precisions (a
  wrong derivation differs by far more, and in float64 just as much as in float32)."""
  agree = worst32 < ROUNDING['float32'] and worst64 < ROUNDING['float64']
  measured = (f'{worst32:.1e} relative in float32 and {worst64:.1e} in float64')
  if agree:
    return (f'The hand-written delta rule and `jax.grad` agree to {measured}: the same sums, '
            'rounded in a different order. Reverse-mode AD derives backpropagation, with '
            'nothing to gain by writing it by hand and the derivation to get wrong.')
  return (f'The hand-written delta rule and `jax.grad` differ by {measured}, beyond rounding '
          f"(bounds {ROUNDING['float32']:g} and {ROUNDING['float64']:g}): one of them computes "
          'another derivative.')


def analyze(results) -> dict:
  rows = results['rows']
  worst32 = max(r['max_rel_diff_float32'] for r in rows)
  worst64 = max(r['max_rel_diff_float64'] for r in rows)
  speed = [r['manual_time_s'] / r['grad_time_s'] for r in rows]
  return {'headline': {'max_rel_diff_float32': worst32, 'max_rel_diff_float64': worst64,
                       'manual_over_grad_time_min': min(speed),
                       'manual_over_grad_time_max': max(speed)},
          'agreement': agreement_finding(worst32, worst64)}


def _labels(rows) -> list[str]:
  return ['-'.join(map(str, r['sizes'])) for r in rows]


def plot(results, findings, workdir) -> None:
  rows = results['rows']
  with report.figure(workdir / 'manual_backprop.png') as (_, (ax,)):
    positions = np.arange(len(rows))
    ax.bar(positions - 0.2, [r['manual_time_s'] * 1e6 for r in rows], 0.4, label='delta rule')
    ax.bar(positions + 0.2, [r['grad_time_s'] * 1e6 for r in rows], 0.4, label='jax.grad')
    ax.set_xticks(positions, _labels(rows), fontsize=8)
    ax.set_xlabel('layer widths')
    ax.set_ylabel('time per gradient (us)')
    ax.legend()
    ax.grid(alpha=0.3, axis='y')


def render(results, findings) -> str:
  rows, h = results['rows'], findings['headline']
  table = report.markdown_table(
      ['network', 'max rel. diff float32', 'max rel. diff float64', 'delta rule us',
       'jax.grad us', 'delta rule FLOPs', 'jax.grad FLOPs'],
      [[label, r['max_rel_diff_float32'], r['max_rel_diff_float64'], r['manual_time_s'] * 1e6,
        r['grad_time_s'] * 1e6, r['manual_flops'], r['grad_flops']]
       for label, r in zip(_labels(rows), rows)])
  return f"""Sigmoid MLPs on {results['batch']} digits images, E = 1/2 sum (t - o)^2; gradients
of every weight and bias by the delta rule and by `jax.grad`, both jitted.

{table}

![time per gradient](manual_backprop.png)

**Conclusion.** {findings['agreement']} The delta rule takes
{h['manual_over_grad_time_min']:.2f} to {h['manual_over_grad_time_max']:.2f} times the time of
`jax.grad`.
"""
