"""Reconstruction, for autoencoders: the target is the (normalised) input itself; in training
the model may see it corrupted (Gaussian noise, or a fraction of its values set to 0, the mean
under the default normalisation: Vincent et al. 2008's masking noise), drawn per example from
(seed, step, global position). Evaluation reconstructs the clean input.

The loss is an error loss per value (MSE, MAE, Huber) of the output, or binary cross-entropy
with the output as logits and the pixels, normalised to [0, 1] (`normalize=unit`), as
probabilities; the reconstruction is then the sigmoid of the logits. Errors are reported on
the reconstruction either way, so the losses compare on one scale."""
import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from research import losses, rng
from research.tasks.base import REGRESSION_LOSSES, error_loss

CORRUPTIONS = ('none', 'gaussian', 'mask')
RECONSTRUCTION_LOSSES = (*REGRESSION_LOSSES, 'binary_cross_entropy')


@dataclasses.dataclass(frozen=True)
class CorruptionConfig:
  kind: str = 'none'    # none, gaussian or mask: what reconstruction's training inputs suffer
  level: float = 0.0    # gaussian: noise std in normalised units; mask: fraction set to the mean


@flax.struct.dataclass
class ReconstructionStats:
  count: jax.Array              # examples
  values: jax.Array             # examples x values per example
  loss_sum: jax.Array
  squared_error_sum: jax.Array
  absolute_error_sum: jax.Array


@dataclasses.dataclass(frozen=True)
class Reconstruction:
  corruption: CorruptionConfig = CorruptionConfig()
  name = 'reconstruction'
  headline = ('mse', 'loss')

  def output_units(self, num_classes: int) -> int:
    return 0  # the autoencoder's output takes the input's shape

  def training_io(self, images, labels, key, axis_name):
    """(what the model sees, what it must reproduce): the clean images are the target."""
    del labels
    c = self.corruption
    if c.kind == 'none' or not c.level:
      return images, images
    keys_B = rng.example_keys(key, images.shape[0], axis_name)
    if c.kind == 'gaussian':
      noise = jax.vmap(lambda k: jax.random.normal(k, images.shape[1:]))(keys_B)
      return images + c.level * noise, images
    kept = jax.vmap(lambda k: jax.random.bernoulli(k, 1.0 - c.level, images.shape[1:]))(keys_B)
    return jnp.where(kept, images, 0.0), images

  def targets(self, images, labels):
    return images

  def reconstruction(self, cfg: losses.LossConfig, outputs):
    """The model's reconstruction from its outputs: the sigmoid of logits under binary
    cross-entropy, the outputs themselves otherwise."""
    return jax.nn.sigmoid(outputs) if cfg.name == 'binary_cross_entropy' else outputs

  def per_example_loss(self, cfg: losses.LossConfig, outputs, images):
    per_value = lambda x: x.reshape(images.shape[0], -1).mean(-1)
    if cfg.name == 'binary_cross_entropy':
      return per_value(optax.sigmoid_binary_cross_entropy(outputs, images))
    return per_value(error_loss(cfg, outputs - images))

  def batch_loss(self, cfg: losses.LossConfig, outputs, images, axis_name=None):
    return self.per_example_loss(cfg, outputs, images).mean()

  def train_metrics(self, outputs, images) -> dict:
    return {}

  def eval_stats(self, cfg: losses.LossConfig, outputs, images, mask_B):
    error_BxV = (self.reconstruction(cfg, outputs) - images).reshape(images.shape[0], -1)
    mask_B = mask_B.astype(jnp.float32)
    per_example = lambda values_BxV: (values_BxV.sum(-1) * mask_B).sum()
    return ReconstructionStats(
        count=mask_B.sum(), values=mask_B.sum() * error_BxV.shape[1],
        loss_sum=(self.per_example_loss(cfg, outputs, images) * mask_B).sum(),
        squared_error_sum=per_example(error_BxV ** 2),
        absolute_error_sum=per_example(jnp.abs(error_BxV)))

  def summarize(self, stats: ReconstructionStats) -> dict:
    """Per-value errors on the normalised scale (where 1 is one standard deviation)."""
    s = jax.tree.map(lambda x: float(np.asarray(x, np.float64)), stats)
    values = max(s.values, 1.0)
    return {'count': int(s.count), 'loss': s.loss_sum / max(s.count, 1.0),
            'mse': s.squared_error_sum / values, 'mae': s.absolute_error_sum / values}
