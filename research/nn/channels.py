"""Per-channel sums, scales and shifts written the way XLA's CPU backend runs fast.

XLA's CPU backend splits a reduction over the leading axes of an NHWC tensor (a bias gradient,
a BatchNorm statistic) into a reduce-window several times slower than a matrix-vector product
with ones (docs/performance.md). So every such sum here is that product, and the per-channel
shift and scale take their gradients through it (research/nn/conv.py's Conv and
research/nn/normalization.py's BatchNorm use them).
"""
import math

import jax
import jax.numpy as jnp


def _inner_rows(n: int) -> int:
  """The largest divisor of n not above sqrt(n)."""
  return max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)


def channel_sum(x_NxC: jax.Array) -> jax.Array:
  """x summed over every axis but the last, as two products with ones: over n/k groups of k
  rows, then over the k partial sums (k the largest divisor of n up to sqrt(n)). One product
  over all n rows accumulates in one long chain, whose rounding error grows with n: at a
  channel mean of 5 std it cost BatchNorm's gradients three digits. Equal to
  x.sum(axis=tuple(range(x.ndim - 1))) up to float rounding."""
  c = x_NxC.shape[-1]
  n = x_NxC.size // c
  k = _inner_rows(n)
  partial_KxC = (jnp.ones((n // k,), x_NxC.dtype) @ x_NxC.reshape(n // k, k * c)).reshape(k, c)
  return jnp.ones((k,), x_NxC.dtype) @ partial_KxC


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
