"""Per-layer gradient norms and activation statistics: where gradients vanish, where units die.

One jittable function of (params, batch_stats, images, labels, key) returns flat arrays keyed
`statistic/layer`:
  grad_norm/L   ||dLoss/dW_L||, the Frobenius norm of layer L's kernel gradient (scaled by its
                largest entry before squaring, so a vanished gradient reads tiny, not 0)
  act_mean/L, act_std/L   over the batch and units of layer L's output
  saturated/L   for sigmoid and tanh: the fraction of outputs where the derivative is below 10%
                of its maximum (sigmoid a < 0.026 or a > 0.974; tanh |a| > 0.949): units there
                pass back almost no gradient (Glorot and Bengio 2010)
  dead/L        for ReLU: the fraction of units that are zero for every example of the batch
Layers are the modules holding kernels, from input to output (`layer_names`); activations are
whatever the model sows into its 'activations' collection, named after their layer with an
`_act` suffix.
"""
import re

import flax.traverse_util
import jax
import jax.numpy as jnp
import numpy as np

from research import losses, metrics, tasks

SATURATING = {'sigmoid': lambda a: a * (1 - a) < 0.1 * 0.25,
              'tanh': lambda a: 1 - a ** 2 < 0.1}


def _depth_order(layer: str):
  """'stem' first, 'output' last, numbers compared as numbers (hidden_2 before hidden_10):
  pytrees keep dict keys sorted as text, so creation order is not available after a jit."""
  rank = 0 if layer == 'stem' else 2 if layer == 'output' else 1
  return rank, [int(part) if part.isdigit() else part
                for part in re.split(r'(\d+)', layer)]


def layer_names(params) -> list[str]:
  """Every module holding a kernel, as a '/'-joined path, from the input to the output."""
  flat = flax.traverse_util.flatten_dict(params, sep='/')
  return sorted((path.rsplit('/', 1)[0] for path in flat if path.endswith('/kernel')),
                key=_depth_order)


def gradient_norms(grads) -> dict[str, jax.Array]:
  flat = flax.traverse_util.flatten_dict(grads, sep='/')
  return {f'grad_norm/{path.rsplit("/", 1)[0]}': metrics.scaled_norm(g)
          for path, g in flat.items() if path.endswith('/kernel')}


def _layer_of(sown_path: str) -> str:
  for suffix in ('/act', '_act'):
    if sown_path.endswith(suffix):
      return sown_path[:-len(suffix)]
  return sown_path


def activation_statistics(sown, activation: str) -> dict[str, jax.Array]:
  stats = {}
  for path, (value,) in flax.traverse_util.flatten_dict(sown, sep='/').items():
    layer = _layer_of(path)
    stats[f'act_mean/{layer}'] = value.mean()
    stats[f'act_std/{layer}'] = value.std()
    if activation in SATURATING:
      stats[f'saturated/{layer}'] = SATURATING[activation](value).mean()
    if activation == 'relu':
      units = value.reshape(-1, value.shape[-1])
      stats[f'dead/{layer}'] = jnp.all(units <= 0, axis=0).mean()
  return stats


def make_diagnostics(model, activation: str, loss_cfg: losses.LossConfig = losses.LossConfig(),
                     task=tasks.Classification()):
  """The jittable (params, batch_stats, images, labels, key) -> {statistic/layer: scalar}.

  The model runs in training mode (BatchNorm on batch statistics, dropout drawn from `key`),
  as the train step sees it; nothing is updated.
  """
  def diagnostics(params, batch_stats, images, labels, key):
    def loss_fn(p):
      variables = {'params': p, **({'batch_stats': batch_stats} if batch_stats else {})}
      logits, sown = model.apply(variables, images, train=True, rngs={'dropout': key},
                                 mutable=['activations', 'batch_stats'])
      loss = task.batch_loss(loss_cfg, logits, task.targets(images, labels))
      return loss, sown.get('activations', {})

    (loss, sown), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    return {'loss': loss, **gradient_norms(grads), **activation_statistics(sown, activation)}

  return diagnostics


def profile(values: dict, statistic: str, layers: list[str]) -> np.ndarray:
  """One statistic over the layers, in layer order, from a diagnostics dict (or a log record);
  NaN where a layer has no such entry."""
  return np.array([float(values.get(f'{statistic}/{layer}', np.nan)) for layer in layers])
