"""Regression: float targets, one linear output on the target standardised by the training
split's mean and std (so one learning rate suits any units); the loss on that scale, RMSE and
MAE reported in the target's own units, R^2 as sklearn.metrics.r2_score defines it."""
import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from research import losses
from research.tasks.base import LabelTargets, error_loss

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
class Regression(LabelTargets):
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
    return error_loss(cfg, error_B)

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
