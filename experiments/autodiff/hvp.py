"""Section 4. Hessian-vector products: three ways to compose the modes, and the full Hessian.

For a scalar loss of P parameters, H v costs a few gradients by any composition of forward and
reverse mode, while forming H costs P of them and P^2 memory. Pearlmutter (1994) and the JAX
autodiff cookbook recommend forward-over-reverse; reverse-over-reverse differentiates a backward
pass and so stores it too.
"""
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from experiments.autodiff import random_params
from research import autodiff, report
from research.models.mlp import MLP

TITLE = 'Hessian-vector products: forward-over-reverse, reverse-over-reverse, reverse-over-forward'


def flat_loss(width: int, inputs: int, batch: int, key: jax.Array):
  """(theta_P, loss(theta_P)) for a tanh MLP regression with its parameters flattened."""
  k_x, k_y, k_init = jax.random.split(key, 3)
  x_BxI = random_params.host_normal(k_x, (batch, inputs))
  y_B = random_params.host_normal(k_y, (batch,))
  model = MLP(num_classes=1, depth=2, width=width, activation='tanh', weight_init='glorot')
  params = random_params.host_params(model, k_init, x_BxI)
  theta_P, unravel = ravel_pytree(params)

  def loss(theta_P):
    pred_B = model.apply({'params': unravel(theta_P)}, x_BxI, train=False)[:, 0]
    return jnp.mean((pred_B - y_B) ** 2)

  return theta_P, loss


def measure(cfg, probe, key: jax.Array) -> dict:
  rows = []
  for width in cfg.widths:
    k_problem, k_direction = jax.random.split(jax.random.fold_in(key, width))
    theta_P, loss = flat_loss(width, cfg.inputs, cfg.batch, k_problem)
    v_P = random_params.host_normal(k_direction, theta_P.shape)
    grad_cost = probe(jax.grad(loss), theta_P)
    reference = None
    for method in autodiff.HVP_METHODS:  # forward_over_reverse first: the reference
      if method == 'full_hessian' and theta_P.size > cfg.max_hessian_params:
        continue  # P^2 memory: the point is made at the smaller sizes
      cost = probe(lambda theta, v, m=method: autodiff.hvp(loss, theta, v, m), theta_P, v_P)
      value = cost.output
      reference = value if reference is None else reference
      rows.append({'width': width, 'params': int(theta_P.size), 'method': method,
                   'flops': cost.flops, 'time_s': cost.time_s, 'temp_bytes': cost.temp_bytes,
                   'per_gradient_time': cost.time_s / grad_cost.time_s,
                   'per_gradient_flops': cost.flops / grad_cost.flops,
                   'max_rel_diff': float(jnp.max(jnp.abs(value - reference))
                                         / jnp.max(jnp.abs(reference)))})
  return {'inputs': cfg.inputs, 'batch': cfg.batch, 'rows': rows}


CONSTANT = 2.0  # per-gradient FLOPs that vary less than this factor over P are "constant"


def constancy_finding(rows) -> str:
  """Theory: a Hessian-vector product costs a constant number of gradients whatever P. Tested on
  each composition's FLOPs per gradient (deterministic, unlike times) over the sizes run."""
  spans = {}
  for method in autodiff.HVP_METHODS:
    if method == 'full_hessian':
      continue
    ratios = [r['per_gradient_flops'] for r in rows if r['method'] == method]
    if len(ratios) > 1:
      spans[method] = (min(ratios), max(ratios))
  if not spans:
    return 'One size of P is too few to test whether the cost depends on P.'
  varying = [m for m, (low, high) in spans.items() if high > CONSTANT * low]
  ranges = '; '.join(f'{m} {low:.2f}-{high:.2f}' for m, (low, high) in spans.items())
  if varying:
    return (f"Per gradient, the FLOPs change with P ({ranges}): not a constant number of "
            f"gradients for {', '.join(varying)}.")
  return (f'Per gradient, the FLOPs stay within a factor {CONSTANT:g} over every P ({ranges}): '
          'a Hessian-vector product costs a small constant number of gradients, whatever P is.')


def analyze(results) -> dict:
  rows = results['rows']
  largest = max(r['params'] for r in rows)
  at_largest = {r['method']: r for r in rows if r['params'] == largest}
  headline = {f'{m}_per_gradient_time_P{largest}': r['per_gradient_time']
              for m, r in at_largest.items()}
  headline['max_rel_diff'] = max(r['max_rel_diff'] for r in rows)
  full = [r for r in rows if r['method'] == 'full_hessian']
  full_largest = max(full, key=lambda r: r['params']) if full else None
  if full_largest:
    same = next(r for r in rows if r['params'] == full_largest['params']
                and r['method'] == 'forward_over_reverse')
    headline['full_hessian_over_hvp_time'] = full_largest['time_s'] / same['time_s']
  return {'headline': headline, 'largest': largest, 'at_largest': at_largest,
          'fastest': min(at_largest.values(), key=lambda r: r['time_s'])['method'],
          'full_largest': full_largest, 'constancy': constancy_finding(rows),
          'forward_over_reverse_lighter': (at_largest['forward_over_reverse']['temp_bytes']
                                           < at_largest['reverse_over_reverse']['temp_bytes'])}


def plot(results, findings, workdir) -> None:
  series = {}
  for method in autodiff.HVP_METHODS:
    mine = [r for r in results['rows'] if r['method'] == method]
    series[method] = ([r['params'] for r in mine], [r['time_s'] * 1e3 for r in mine])
  report.plot_curves(workdir / 'hvp.png', series, 'parameters P', 'time (ms)', logx=True,
                     logy=True, title='Hessian-vector product cost')


def render(results, findings) -> str:
  rows, h, largest, at = (results['rows'], findings['headline'], findings['largest'],
                          findings['at_largest'])
  table = report.markdown_table(
      ['P', 'method', 'time ms', 'x gradient time', 'FLOPs', 'x gradient FLOPs', 'temp MiB',
       'max rel. diff to fwd-over-rev'],
      [[r['params'], r['method'], r['time_s'] * 1e3, r['per_gradient_time'], r['flops'],
        r['per_gradient_flops'], r['temp_bytes'] / 2**20, r['max_rel_diff']] for r in rows])
  full, full_text = findings['full_largest'], ''
  if full:
    full_text = (f" Forming the full Hessian at P={full['params']} took "
                 f"{h['full_hessian_over_hvp_time']:.0f}x the time of one "
                 f"forward-over-reverse product and {full['temp_bytes'] / 2**20:.1f} MiB "
                 'of scratch: the cost grows with P^2, the products with P.')
  memory_verdict = (': that, more than speed, is the case for forward-over-reverse'
                    if findings['forward_over_reverse_lighter']
                    else ', yet here it did not need more')
  per_gradient = {m: at[m]['per_gradient_time'] for m in at}
  return f"""A tanh MLP ({results['inputs']} inputs, two hidden layers of the given width, one
output) with mean squared error on a batch of {results['batch']}; H v by each method, its cost
in units of one gradient, and its agreement with forward-over-reverse.

{table}

![time against parameters](hvp.png)

**Conclusion.** All compositions agree to {h['max_rel_diff']:.1e} relative. At P={largest}
the fastest is {findings['fastest']}, at {per_gradient[findings['fastest']]:.2f}x a gradient; per
gradient, forward-over-reverse costs {per_gradient['forward_over_reverse']:.2f}x,
reverse-over-reverse {per_gradient['reverse_over_reverse']:.2f}x and
reverse-over-forward {per_gradient['reverse_over_forward']:.2f}x.
{findings['constancy']} In scratch memory
forward-over-reverse needs {at['forward_over_reverse']['temp_bytes'] / 2**20:.2f} MiB
against
{at['reverse_over_reverse']['temp_bytes'] / 2**20:.2f} MiB for reverse-over-reverse, which
stores its backward pass{memory_verdict}.{full_text}
"""
