"""Section 2. The cheap gradient principle: grad(loss) costs a small constant times loss.

Reverse mode computes all P partial derivatives of a scalar loss for a bounded multiple of one
evaluation, whatever P is. Griewank and Walther (2008) bound the multiple by a constant below 6
for operation counts; Baydin et al. (2018) report 2 to 3 in practice. For a dense layer the
forward pass is one matrix product and the backward pass two (input and weight gradients), so
3 is what an MLP should show.
"""
import jax
import optax

from experiments.autodiff import random_params
from research import report
from research.models.mlp import MLP

TITLE = 'The cheap gradient principle: cost of grad(loss) over cost of loss'
BOUND = 6.0  # Griewank and Walther: the ratio is a constant below this


def _loss_fn(model: MLP):
  def loss(params, x_BxI, labels_B):
    logits_BxC = model.apply({'params': params}, x_BxI, train=False)
    return optax.softmax_cross_entropy_with_integer_labels(logits_BxC, labels_B).mean()
  return loss


def measure(cfg, probe, key: jax.Array) -> dict:
  rows = []
  k_data, k_labels, k_init = jax.random.split(key, 3)
  x_BxI = jax.random.normal(k_data, (cfg.batch, cfg.inputs))
  labels_B = jax.random.randint(k_labels, (cfg.batch,), 0, 10)
  for width in cfg.widths:
    model = MLP(num_classes=10, depth=cfg.depth, width=width, activation='relu')
    params = random_params.host_params(model, jax.random.fold_in(k_init, width), x_BxI)
    loss = _loss_fn(model)
    evaluation = probe(loss, params, x_BxI, labels_B)
    gradient = probe(jax.grad(loss), params, x_BxI, labels_B)
    rows.append({'width': width, 'params': sum(p.size for p in jax.tree.leaves(params)),
                 'eval_flops': evaluation.flops, 'grad_flops': gradient.flops,
                 'eval_time_s': evaluation.time_s, 'grad_time_s': gradient.time_s,
                 'flop_ratio': gradient.flops / evaluation.flops,
                 'time_ratio': gradient.time_s / evaluation.time_s})
  return {'depth': cfg.depth, 'batch': cfg.batch, 'inputs': cfg.inputs, 'rows': rows}


def analyze(results) -> dict:
  rows = results['rows']
  flop = [r['flop_ratio'] for r in rows]
  time = [r['time_ratio'] for r in rows]
  return {'headline': {'flop_ratio_min': min(flop), 'flop_ratio_max': max(flop),
                       'time_ratio_min': min(time), 'time_ratio_max': max(time),
                       'model_sizes': len(rows)},
          'within_bound': all(r < BOUND for r in flop),
          'flop_ratio_smallest': flop[0], 'flop_ratio_largest': flop[-1]}


def plot(results, findings, workdir) -> None:
  rows = results['rows']
  report.plot_curves(workdir / 'cheap_gradient.png', {
      'FLOPs ratio': ([r['params'] for r in rows], [r['flop_ratio'] for r in rows]),
      'time ratio': ([r['params'] for r in rows], [r['time_ratio'] for r in rows]),
      f'bound c < {BOUND:g}': ([rows[0]['params'], rows[-1]['params']], [BOUND, BOUND])},
      'parameters', 'cost(grad loss) / cost(loss)', logx=True,
      title='the cheap gradient principle')


def render(results, findings) -> str:
  rows, h = results['rows'], findings['headline']
  table = report.markdown_table(
      ['width', 'parameters', 'loss FLOPs', 'grad FLOPs', 'FLOP ratio', 'loss us', 'grad us',
       'time ratio'],
      [[r['width'], r['params'], r['eval_flops'], r['grad_flops'], r['flop_ratio'],
        r['eval_time_s'] * 1e6, r['grad_time_s'] * 1e6, r['time_ratio']] for r in rows])
  within = ('inside the bound at every size' if findings['within_bound']
            else 'NOT inside the bound at every size')
  return f"""ReLU MLP {results['inputs']}-(width x {results['depth']})-10, batch {results['batch']},
mean cross-entropy; `jax.grad` of it against the loss alone, both jitted (XLA's FLOP counts,
median wall times).

{table}

![ratio against model size](cheap_gradient.png)

**Conclusion.** Over {len(rows)} model sizes the gradient costs {h['flop_ratio_min']:.2f} to
{h['flop_ratio_max']:.2f} times the FLOPs of the loss ({h['time_ratio_min']:.2f} to
{h['time_ratio_max']:.2f} times the wall time), against the bound c < {BOUND:g} of Griewank and
Walther and the 2 to 3 of Baydin et al. (2018): {within}. From the smallest model to the largest
the FLOP ratio goes from {findings['flop_ratio_smallest']:.2f} to
{findings['flop_ratio_largest']:.2f}: the matrix products take over from the fixed costs
(softmax, biases), and their ratio is 3 (one product forward, two backward), less the first
layer's input gradient, which is never formed.
"""
