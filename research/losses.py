"""Classification losses by name, each a per-example function (logits_BxC, labels) -> loss_B.

Labels are integer class ids (shape B) or, for cross-entropy, one-hot / soft targets (B x C).
The regression-style losses (MSE, MAE, Huber) compare the softmax probabilities with one-hot
targets, as Keras' `mse` on a softmax output does; the notes (001) derive backprop for exactly
such a squared error. `batch_loss` reduces them to the batch's loss, exactly on any number of
devices.
"""
import dataclasses

import jax
import jax.numpy as jnp
import optax
from jax import lax

from research import traced
from research.errors import UserError


def cross_entropy(logits_BxC, labels, label_smoothing: float = 0.0):
  """Softmax cross-entropy with integer labels (B) or one-hot / probability targets (BxC)."""
  if labels.ndim == logits_BxC.ndim:
    targets_BxC = labels
  elif not traced.is_on(label_smoothing):
    return optax.softmax_cross_entropy_with_integer_labels(logits_BxC, labels)
  else:
    targets_BxC = jax.nn.one_hot(labels, logits_BxC.shape[-1])
  if traced.is_on(label_smoothing):
    targets_BxC = optax.smooth_labels(targets_BxC, label_smoothing)
  return optax.softmax_cross_entropy(logits_BxC, targets_BxC)


def focal(logits_BxC, labels_B, gamma: float, alpha_C=None):
  """Multi-class focal loss (Lin et al. 2017, eq. 5): -alpha_t (1 - p_t)^gamma log p_t, with
  alpha_t = alpha_C[label] (the paper's binary alpha for the positive class and 1 - alpha for
  the negative is alpha_C = (1 - alpha, alpha)); no alpha_C is alpha_t = 1; gamma=0 is CE.

  (1 - p_t)^gamma is exp(gamma log(1 - p_t)), with log(1 - p_t) the log-sum-exp of the other
  classes' logits less that of all: `(1 - p_t) ** gamma` has an infinite derivative where p_t
  rounds to 1 and gamma < 1, and a confident network's gradients become NaN."""
  logp_t = jnp.take_along_axis(jax.nn.log_softmax(logits_BxC), labels_B[:, None], -1)[:, 0]
  others_BxC = jnp.where(jax.nn.one_hot(labels_B, logits_BxC.shape[-1], dtype=bool), -jnp.inf,
                         logits_BxC)
  log1m_p_t = jax.nn.logsumexp(others_BxC, -1) - jax.nn.logsumexp(logits_BxC, -1)
  loss_B = -jnp.exp(gamma * log1m_p_t) * logp_t
  return loss_B if alpha_C is None else jnp.asarray(alpha_C)[labels_B] * loss_B


@dataclasses.dataclass(frozen=True)
class LossConfig:
  name: str = ''                         # any of NAMES below; '' = the task's own
  label_smoothing: float = 0.0           # cross-entropy's label smoothing
  focal_gamma: float = 2.0               # the focal loss's focusing exponent
  huber_delta: float = 1.0               # where Huber turns from squared to absolute
  class_weights: tuple[float, ...] = ()  # for weighted_cross_entropy; empty = all ones
  # weighted_cross_entropy's batch loss: 'weights' = sum(w l) / sum(w), PyTorch's
  # CrossEntropyLoss(weight=...); 'count' = sum(w l) / B, Keras's class_weight.
  class_weight_norm: str = 'weights'     # weights (PyTorch's) or count (Keras's) normalisation
  focal_alpha: tuple[float, ...] = ()    # per class, for focal; empty = no alpha term


def _one_hot_like(logits_BxC, labels_B):
  return jax.nn.one_hot(labels_B, logits_BxC.shape[-1])


WEIGHT_NORMS = ('weights', 'count')


def check_per_class(cfg: LossConfig, num_classes: int) -> None:
  """Per-class options must have one entry per class: a short tuple would be read past its end
  (JAX clamps the index) and silently weight the missing classes like the last one."""
  for key, values in (('class_weights', cfg.class_weights), ('focal_alpha', cfg.focal_alpha)):
    if values and len(values) != num_classes:
      raise UserError(f'loss.{key} has {len(values)} entries; the data has {num_classes} '
                      'classes: give one per class')


def class_weights_B(cfg: LossConfig, labels_B, num_classes: int):
  """Each example's class weight for weighted_cross_entropy, None for every other loss."""
  if cfg.name != 'weighted_cross_entropy':
    return None
  return jnp.asarray(cfg.class_weights or (1.0,) * num_classes, jnp.float32)[labels_B]


def per_example_loss(cfg: LossConfig, logits_BxC, labels_B):
  check_per_class(cfg, logits_BxC.shape[-1])
  probs_BxC = jax.nn.softmax(logits_BxC)
  if cfg.name in ('', 'cross_entropy'):  # '' is a classifier's own loss (tasks.DEFAULT_LOSS)
    return cross_entropy(logits_BxC, labels_B, cfg.label_smoothing)
  if cfg.name == 'weighted_cross_entropy':
    return (class_weights_B(cfg, labels_B, logits_BxC.shape[-1])
            * cross_entropy(logits_BxC, labels_B, cfg.label_smoothing))
  if cfg.name == 'focal':
    return focal(logits_BxC, labels_B, cfg.focal_gamma, cfg.focal_alpha or None)
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


def batch_loss(cfg: LossConfig, logits_BxC, labels_B, axis_name: str | None = None):
  """This device's share of the global batch's loss: averaged over devices (`lax.pmean` over
  `axis_name`) it is the global loss, and so are its gradients. The global loss is the mean of
  the per-example losses, or for weighted_cross_entropy with class_weight_norm='weights'
  sum(w l) / sum(w) over the whole global batch."""
  loss_B = per_example_loss(cfg, logits_BxC, labels_B)
  weights_B = class_weights_B(cfg, labels_B, logits_BxC.shape[-1])
  if weights_B is None or cfg.class_weight_norm == 'count':
    return loss_B.mean()
  # The weights are data, not parameters: their global sum is a constant for the gradient.
  devices = lax.psum(1, axis_name) if axis_name else 1
  total_weight = lax.psum(weights_B.sum(), axis_name) if axis_name else weights_B.sum()
  return loss_B.sum() * devices / total_weight
