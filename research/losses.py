"""Classification losses by name, each a per-example function (logits_BxC, labels) -> loss_B.

Labels are integer class ids (shape B) or, for cross-entropy, one-hot / soft targets (B x C).
The regression-style losses (MSE, MAE, Huber) compare the softmax probabilities with one-hot
targets, as Keras' `mse` on a softmax output does; the notes (001) derive backprop for exactly
such a squared error. Mean-reducing is left to the caller, so the sharded mean is exact.
"""
import dataclasses

import jax
import jax.numpy as jnp
import optax

from research.errors import UserError


def cross_entropy(logits_BxC, labels, label_smoothing: float = 0.0):
  """Softmax cross-entropy with integer labels (B) or one-hot / probability targets (BxC)."""
  if labels.ndim == logits_BxC.ndim:
    targets_BxC = labels
  elif label_smoothing == 0.0:
    return optax.softmax_cross_entropy_with_integer_labels(logits_BxC, labels)
  else:
    targets_BxC = jax.nn.one_hot(labels, logits_BxC.shape[-1])
  if label_smoothing:
    targets_BxC = optax.smooth_labels(targets_BxC, label_smoothing)
  return optax.softmax_cross_entropy(logits_BxC, targets_BxC)


def focal(logits_BxC, labels_B, gamma: float):
  """Multi-class focal loss (Lin et al. 2017): -(1 - p_t)^gamma log p_t; gamma=0 is CE."""
  logp_t = jnp.take_along_axis(jax.nn.log_softmax(logits_BxC), labels_B[:, None], -1)[:, 0]
  return -((1.0 - jnp.exp(logp_t)) ** gamma) * logp_t


@dataclasses.dataclass(frozen=True)
class LossConfig:
  name: str = 'cross_entropy'
  label_smoothing: float = 0.0
  focal_gamma: float = 2.0
  huber_delta: float = 1.0
  class_weights: tuple[float, ...] = ()  # for weighted_cross_entropy; empty = all ones


def _one_hot_like(logits_BxC, labels_B):
  return jax.nn.one_hot(labels_B, logits_BxC.shape[-1])


def per_example_loss(cfg: LossConfig, logits_BxC, labels_B):
  probs_BxC = jax.nn.softmax(logits_BxC)
  if cfg.name == 'cross_entropy':
    return cross_entropy(logits_BxC, labels_B, cfg.label_smoothing)
  if cfg.name == 'weighted_cross_entropy':
    weights_C = jnp.asarray(cfg.class_weights or (1.0,) * logits_BxC.shape[-1])
    return weights_C[labels_B] * cross_entropy(logits_BxC, labels_B, cfg.label_smoothing)
  if cfg.name == 'focal':
    return focal(logits_BxC, labels_B, cfg.focal_gamma)
  if cfg.name == 'binary_cross_entropy':  # one sigmoid per class, as in multi-label training
    bce = optax.sigmoid_binary_cross_entropy(logits_BxC, _one_hot_like(logits_BxC, labels_B))
    return bce.sum(-1)
  if cfg.name == 'mse':
    return optax.squared_error(probs_BxC, _one_hot_like(logits_BxC, labels_B)).mean(-1)
  if cfg.name == 'mae':
    return jnp.abs(probs_BxC - _one_hot_like(logits_BxC, labels_B)).mean(-1)
  if cfg.name == 'huber':
    return optax.huber_loss(probs_BxC - _one_hot_like(logits_BxC, labels_B),
                            delta=cfg.huber_delta).mean(-1)
  raise UserError(f'loss {cfg.name!r} is unknown; choose one of {", ".join(NAMES)}')


NAMES = ('cross_entropy', 'weighted_cross_entropy', 'focal', 'binary_cross_entropy', 'mse',
         'mae', 'huber')
