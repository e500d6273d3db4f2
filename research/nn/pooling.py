"""2x2 max pooling, stride 2, with PyTorch's gradient rule, written for XLA's CPU backend.

Where a window's maximum is shared (a flat image background after BatchNorm and ReLU gives
four equal positive values), the gradient goes to the first maximum in row-major order, as
PyTorch's max_pool2d sends it. JAX's rule for `max` splits it evenly over the maxima instead,
which takes a second reduction to count them; `reduce_window` max pooling differentiates into
a select-and-scatter. Here the forward pass is the maximum of the window's four strided
corners and keeps the int8 position of the first maximum; the backward pass is one
elementwise select, which XLA's CPU backend runs faster than either (docs/performance.md).
Used with the CPU-tuned layers only (research/nn/switch.py).
"""
import jax
import jax.numpy as jnp
from jax import lax


def _corners(x_BxHxWxC: jax.Array) -> tuple[jax.Array, ...]:
  """The four elements of each window, in row-major order, as [B, H/2, W/2, C] arrays."""
  x = x_BxHxWxC
  return x[:, 0::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 0::2], x[:, 1::2, 1::2]


@jax.custom_vjp
def max_pool_2x2(x_BxHxWxC: jax.Array) -> jax.Array:
  """[B, H/2, W/2, C]: the maximum of each 2x2 window; H and W must be even."""
  if x_BxHxWxC.shape[1] % 2 or x_BxHxWxC.shape[2] % 2:
    raise ValueError(f'max_pool_2x2 needs an even height and width, got {x_BxHxWxC.shape}')
  a, b, c, d = _corners(x_BxHxWxC)
  return jnp.maximum(jnp.maximum(a, b), jnp.maximum(c, d))


def _forward(x_BxHxWxC):
  # The position is found by comparing the corners with each other, never by testing them
  # for equality with the output: XLA may compute the output and the corners in different
  # fusions that round differently, and an equality test then matches no corner at all.
  a, b, c, d = _corners(x_BxHxWxC)
  top, bottom = jnp.maximum(a, b), jnp.maximum(c, d)
  first = jnp.where(bottom > top, jnp.where(d > c, 3, 2), jnp.where(b > a, 1, 0))
  return jnp.maximum(top, bottom), (x_BxHxWxC.shape, first.astype(jnp.int8))


def _backward(residuals, g_BxHxWxC):
  shape, first = residuals
  position = 2 * lax.broadcasted_iota(jnp.int8, (1, 1, 2, 1, 2, 1), 2) + \
      lax.broadcasted_iota(jnp.int8, (1, 1, 2, 1, 2, 1), 4)
  spread = lambda y: y[:, :, None, :, None, :]  # against [B, H/2, 2, W/2, 2, C] windows
  g = jnp.where(position == spread(first), spread(g_BxHxWxC), 0.0)
  return (g.reshape(shape),)


max_pool_2x2.defvjp(_forward, _backward)
