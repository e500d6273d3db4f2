"""Normalisation layers by name. BatchNorm averages its statistics over the batch axis of all
devices (`axis_name`), so a sharded batch normalises exactly like the global batch would."""
import flax.linen as nn
import jax
import jax.numpy as jnp

from research.nn import switch
from research.nn.channels import add_channel_bias, channel_sum, scale_channels

NORMS = ('none', 'batch', 'layer')


class BatchNorm(nn.Module):
  """flax's nn.BatchNorm over the last axis (same parameters, statistics, names and formula:
  the variance as E[x^2] - E[x]^2, (x - mean) * scale / sqrt(var + eps) + bias), with every
  per-channel sum taken as a product with ones (research/nn/channels.py): the statistics, and
  the gradients of the mean, scale and shift. XLA's CPU backend runs flax's leading-axis sums
  as slow reduce-windows."""
  use_running_average: bool
  momentum: float = 0.9
  epsilon: float = 1e-5
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    running_mean = self.variable('batch_stats', 'mean', jnp.zeros, (channels,), jnp.float32)
    running_var = self.variable('batch_stats', 'var', jnp.ones, (channels,), jnp.float32)
    scale = self.param('scale', nn.initializers.ones, (channels,), jnp.float32)
    bias = self.param('bias', nn.initializers.zeros, (channels,), jnp.float32)
    if self.use_running_average:
      mean, var = running_mean.value, running_var.value
    else:
      count = x.size // channels
      x32 = x.astype(jnp.float32)  # statistics in float32 whatever the compute dtype
      mean, mean_of_squares = channel_sum(x32) / count, channel_sum(x32 * x32) / count
      if self.axis_name is not None:
        # One all-reduce of both, as flax does: with a pmean of the pair, pmap and shard_map
        # no longer gave bit-identical states on several devices.
        both = jax.lax.pmean(jnp.concatenate([mean, mean_of_squares]), self.axis_name)
        mean, mean_of_squares = both[:channels], both[channels:]
      var = jnp.maximum(0.0, mean_of_squares - mean * mean)
      if not self.is_initializing():
        m = self.momentum
        running_mean.value = m * running_mean.value + (1 - m) * mean
        running_var.value = m * running_var.value + (1 - m) * var
    factor = scale * jax.lax.rsqrt(var + self.epsilon)
    # Centred before scaling: the scale's gradient is then a sum of g * (x - mean), not the
    # difference of the two large sums g * x and g * mean, which loses the digits they share
    # once |mean| is large against std.
    # The output keeps the input's dtype (bfloat16 under mixed precision).
    centred = add_channel_bias(x, (-mean).astype(x.dtype))
    return add_channel_bias(scale_channels(centred, factor.astype(x.dtype)), bias.astype(x.dtype))


def make_norm(name: str, train: bool, axis_name: str | None):
  if name == 'none':
    return lambda x: x
  if name == 'batch':
    # The same parameters, statistics and formula either way (research/nn/switch.py).
    layer = BatchNorm if switch.cpu_tuned() else nn.BatchNorm
    return layer(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                 axis_name=axis_name)
  if name == 'layer':
    return nn.LayerNorm()
  raise ValueError(f'norm {name!r} is unknown; choose one of {", ".join(NORMS)}')
