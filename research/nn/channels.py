"""Per-channel sums, scales and shifts written the way XLA's CPU backend runs fast.

XLA splits a reduction over the leading axes of an NHWC tensor (a bias gradient, a BatchNorm
statistic) into a slow reduce-window: 6.6 ms for the 128x28x28x32 activations of the
throughput CNN on a 2-core Xeon, where a matrix-vector product with ones takes under 1 ms.
So every such sum here is that product, and the per-channel shift and scale take their
gradients through it (research/nn/conv.py's Conv and research/nn/normalization.py's
BatchNorm use them).
"""
import jax
import jax.numpy as jnp


def channel_sum(x_NxC: jax.Array) -> jax.Array:
  """x summed over every axis but the last, as ones @ x.reshape(-1, C); equal to
  x.sum(axis=tuple(range(x.ndim - 1))) up to float rounding."""
  c = x_NxC.shape[-1]
  return jnp.ones((x_NxC.size // c,), x_NxC.dtype) @ x_NxC.reshape(-1, c)


@jax.custom_vjp
def add_channel_bias(x_NxC: jax.Array, bias_C: jax.Array) -> jax.Array:
  """x + bias over the last axis; its bias gradient is channel_sum of the output gradient."""
  return x_NxC + bias_C


def _add_forward(x_NxC, bias_C):
  return x_NxC + bias_C, None


def _add_backward(_, g_NxC):
  return g_NxC, channel_sum(g_NxC)


add_channel_bias.defvjp(_add_forward, _add_backward)


@jax.custom_vjp
def scale_channels(x_NxC: jax.Array, scale_C: jax.Array) -> jax.Array:
  """x * scale over the last axis; its scale gradient is channel_sum(g * x)."""
  return x_NxC * scale_C


def _scale_forward(x_NxC, scale_C):
  return x_NxC * scale_C, (x_NxC, scale_C)


def _scale_backward(residuals, g_NxC):
  x_NxC, scale_C = residuals
  return g_NxC * scale_C, channel_sum(g_NxC * x_NxC)


scale_channels.defvjp(_scale_forward, _scale_backward)
