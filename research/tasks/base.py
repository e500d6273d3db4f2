"""What the tasks share: targets that are the labels, and the error losses (MSE, MAE, Huber)
that regression applies to one output and reconstruction to every value."""
import jax.numpy as jnp
import optax

from research import losses

REGRESSION_LOSSES = ('mse', 'mae', 'huber')  # also reconstruction's, per value (reconstruction.py)


class LabelTargets:
  """Tasks whose targets are the labels, and whose model sees the inputs as they are."""

  def training_io(self, images, labels, key, axis_name):
    del key, axis_name
    return images, labels

  def targets(self, images, labels):
    return labels


def error_loss(cfg: losses.LossConfig, error):
  """MSE, MAE or Huber of an error, element by element."""
  if cfg.name == 'mse':
    return error ** 2
  if cfg.name == 'mae':
    return jnp.abs(error)
  if cfg.name == 'huber':
    return optax.huber_loss(error, delta=cfg.huber_delta)
  raise ValueError(f'loss {cfg.name!r} is not an error loss; choose one of '
                   f'{", ".join(REGRESSION_LOSSES)}')
