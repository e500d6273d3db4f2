"""What a run trains: its targets, the size of the model's output, its loss and its metrics.

A task is a few pure functions of (outputs, targets); the step, the backends, the loop and
ensembles call them and never ask which task runs. Each loss is this device's share of the
global batch's loss, as research/losses.batch_loss is, so gradients are exact on any number of
devices; evaluation statistics are sums, `psum`-ed over devices and added over batches, turned
into numbers only at the end (as research/metrics.py does for classification).

- classification: integer labels, one logit per class, the losses of research/losses.py;
- binary: labels 0 and 1, one logit z and a sigmoid, binary cross-entropy. Its evaluation is
  classification's on the two logits (0, z), whose softmax is exactly (1 - sigmoid z, sigmoid z);
- regression: float targets, one linear output. The model predicts the target standardised by
  the training split's mean and std (so one learning rate suits any units); the loss is taken
  on that scale, and RMSE and MAE are reported in the target's own units.
"""
import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from research import losses, metrics

NAMES = ('classification', 'binary', 'regression')
REGRESSION_LOSSES = ('mse', 'mae', 'huber')
BINARY_LOSSES = ('cross_entropy', 'binary_cross_entropy')  # the same for one logit


@dataclasses.dataclass(frozen=True)
class Classification:
  name = 'classification'
  headline = ('accuracy', 'loss')  # what an ensemble logs per member

  def output_units(self, num_classes: int) -> int:
    return num_classes

  def batch_loss(self, cfg: losses.LossConfig, logits_BxC, labels_B, axis_name=None):
    return losses.batch_loss(cfg, logits_BxC, labels_B, axis_name)

  def train_metrics(self, logits_BxC, labels_B) -> dict:
    """Batch means, averaged over devices by the step."""
    return {'accuracy': (jnp.argmax(logits_BxC, -1) == labels_B).mean()}

  def eval_stats(self, cfg: losses.LossConfig, logits_BxC, labels_B, mask_B):
    loss_B = losses.per_example_loss(cfg, logits_BxC, labels_B)
    return metrics.classification_stats(logits_BxC, labels_B, loss_B, mask_B)

  def summarize(self, stats) -> dict:
    return metrics.summarize(stats)


@dataclasses.dataclass(frozen=True)
class Binary(Classification):
  name = 'binary'

  def output_units(self, num_classes: int) -> int:
    return 1

  @staticmethod
  def _per_example(logit_Bx1, labels_B):
    return optax.sigmoid_binary_cross_entropy(logit_Bx1[:, 0], labels_B.astype(jnp.float32))

  @staticmethod
  def two_class_logits(logit_Bx1):
    """(0, z): their softmax is (1 - sigmoid z, sigmoid z), class 1 the positive one."""
    return jnp.concatenate([jnp.zeros_like(logit_Bx1), logit_Bx1], -1)

  def batch_loss(self, cfg: losses.LossConfig, logit_Bx1, labels_B, axis_name=None):
    return self._per_example(logit_Bx1, labels_B).mean()

  def train_metrics(self, logit_Bx1, labels_B) -> dict:
    return {'accuracy': ((logit_Bx1[:, 0] > 0) == (labels_B == 1)).mean()}

  def eval_stats(self, cfg: losses.LossConfig, logit_Bx1, labels_B, mask_B):
    return metrics.classification_stats(self.two_class_logits(logit_Bx1), labels_B,
                                        self._per_example(logit_Bx1, labels_B), mask_B)


@flax.struct.dataclass
class RegressionStats:
  """Sums over examples, on the standardised scale: the sufficient statistics of RMSE, MAE and
  R^2 (whose ratio needs no units)."""
  count: jax.Array
  loss_sum: jax.Array
  squared_error_sum: jax.Array
  absolute_error_sum: jax.Array
  target_sum: jax.Array
  target_squared_sum: jax.Array


@dataclasses.dataclass(frozen=True)
class Regression:
  target_mean: float = 0.0   # of the training targets: the model predicts (y - mean) / std
  target_std: float = 1.0
  name = 'regression'
  headline = ('rmse', 'loss')

  def output_units(self, num_classes: int) -> int:
    return 1

  def _errors(self, output_Bx1, targets_B):
    """(prediction - target, standardised target), both on the standardised scale."""
    standard_B = (targets_B.astype(jnp.float32) - self.target_mean) / self.target_std
    return output_Bx1[:, 0] - standard_B, standard_B

  def per_example_loss(self, cfg: losses.LossConfig, output_Bx1, targets_B):
    error_B, _ = self._errors(output_Bx1, targets_B)
    if cfg.name == 'mse':
      return error_B ** 2
    if cfg.name == 'mae':
      return jnp.abs(error_B)
    if cfg.name == 'huber':
      return optax.huber_loss(error_B, delta=cfg.huber_delta)
    raise ValueError(f'regression loss {cfg.name!r} is unknown; choose one of '
                     f'{", ".join(REGRESSION_LOSSES)}')

  def batch_loss(self, cfg: losses.LossConfig, output_Bx1, targets_B, axis_name=None):
    return self.per_example_loss(cfg, output_Bx1, targets_B).mean()

  def train_metrics(self, output_Bx1, targets_B) -> dict:
    error_B, _ = self._errors(output_Bx1, targets_B)
    return {'mae': jnp.abs(error_B).mean() * self.target_std}

  def eval_stats(self, cfg: losses.LossConfig, output_Bx1, targets_B, mask_B):
    error_B, standard_B = self._errors(output_Bx1, targets_B)
    mask_B = mask_B.astype(jnp.float32)
    return RegressionStats(
        count=mask_B.sum(),
        loss_sum=(self.per_example_loss(cfg, output_Bx1, targets_B) * mask_B).sum(),
        squared_error_sum=(error_B ** 2 * mask_B).sum(),
        absolute_error_sum=(jnp.abs(error_B) * mask_B).sum(),
        target_sum=(standard_B * mask_B).sum(),
        target_squared_sum=(standard_B ** 2 * mask_B).sum())

  def summarize(self, stats: RegressionStats) -> dict:
    s = jax.tree.map(lambda x: float(np.asarray(x, np.float64)), stats)
    count = max(s.count, 1.0)
    # R^2 against the evaluated split's own mean, as sklearn.metrics.r2_score defines it.
    total = s.target_squared_sum - s.target_sum ** 2 / count
    return {'count': int(s.count), 'loss': s.loss_sum / count,
            'rmse': float(np.sqrt(s.squared_error_sum / count)) * self.target_std,
            'mae': s.absolute_error_sum / count * self.target_std,
            'r2': 1.0 - s.squared_error_sum / total if total > 0 else float('nan')}


def make_task(name: str, train_targets: np.ndarray):
  """The task `name` for a dataset whose training targets are `train_targets`."""
  if name == 'classification':
    return Classification()
  if name == 'binary':
    return Binary()
  if name == 'regression':
    targets = np.asarray(train_targets, np.float64)
    std = float(targets.std())
    return Regression(target_mean=float(targets.mean()), target_std=std if std > 0 else 1.0)
  raise ValueError(f'task {name!r} is unknown; choose one of {", ".join(NAMES)}')
