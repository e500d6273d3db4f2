"""The 2-D convolution layer: `make_conv` gives flax's nn.Conv, or on the CPU
(research/nn/switch.py) `Conv`, the same function written the way XLA's CPU backend runs fast.

Each convolution's bias gradient is a sum over the leading axes, which XLA runs slowly, so
`Conv` takes it as a product with ones (research/nn/channels.py).

A layer with few input channels (an image's first, kh*kw*C_in <= MAX_PATCH) is computed
differently in both directions:
- forward, as the sum of kh*kw*C_in shifted copies of the input, each times one row of the
  kernel: one elementwise loop, where XLA's convolution with one input channel is slow;
- its kernel gradient as one product, [patches, 1]^T @ grad, kernel and bias gradients
  together, where XLA would transpose the whole output gradient for its kernel-gradient
  convolution.
docs/performance.md has the measurements.
"""
import functools
import operator

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from research.nn import switch
from research.nn.channels import add_channel_bias

# Largest kh*kw*C_in computed by shifts, its kernel gradient from patches (the patches are
# that many times the input's size; an RGB or grey image's first layer qualifies).
MAX_PATCH = 32
_NHWC = ('NHWC', 'HWIO', 'NHWC')


Padding = str | tuple[tuple[int, int], tuple[int, int]]  # 'SAME', 'VALID' or explicit pairs


def _shifted(x_BxHxWxC: jax.Array, kernel_hw: tuple[int, int], padding: Padding) -> list:
  """[B, H', W', C] for each kernel position (i, j) in row-major order: the input under that
  kernel element at every output pixel (unit stride), padded as the convolution pads."""
  kh, kw = kernel_hw
  pads = (lax.padtype_to_pads(x_BxHxWxC.shape[1:3], kernel_hw, (1, 1), padding)
          if isinstance(padding, str) else padding)
  x = jnp.pad(x_BxHxWxC, ((0, 0), *pads, (0, 0)))
  out_h, out_w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
  return [x[:, i:i + out_h, j:j + out_w, :] for i in range(kh) for j in range(kw)]


def patches(x_BxHxWxC: jax.Array, kernel_hw: tuple[int, int], padding: Padding) -> jax.Array:
  """[B, H', W', kh*kw*C]: the input window under each output pixel (unit stride), in HWIO's
  (kh, kw, C) order, so that patches @ kernel.reshape(-1, O) is the convolution."""
  return jnp.concatenate(_shifted(x_BxHxWxC, kernel_hw, padding), axis=-1)


def conv_by_shifts(x_BxHxWxC: jax.Array, kernel: jax.Array, padding: Padding) -> jax.Array:
  """The unit-stride convolution as sum over (i, j, c) of shifted input channel c times
  kernel[i, j, c, :]: kh*kw*C_in terms, for layers with few input channels."""
  kh, kw, c, _ = kernel.shape
  terms = [shifted[..., k:k + 1] * kernel[i // kw, i % kw, k]
           for i, shifted in enumerate(_shifted(x_BxHxWxC, (kh, kw), padding))
           for k in range(c)]
  return functools.reduce(operator.add, terms)


def conv_by_matmul(x_BxHxWxC: jax.Array, kernel: jax.Array, padding: Padding,
                   strides: int = 1) -> jax.Array:
  """The convolution as one product, [B, H', W', kh*kw*C] windows @ kernel (im2col): `Conv`'s
  form inside a loop of steps (research/nn/switch.py), where XLA's CPU convolutions run many
  times slower and a product does not."""
  kh, kw, c, o = kernel.shape
  pads = (lax.padtype_to_pads(x_BxHxWxC.shape[1:3], (kh, kw), (strides, strides), padding)
          if isinstance(padding, str) else padding)
  x = jnp.pad(x_BxHxWxC, ((0, 0), *pads, (0, 0)))
  out_h, out_w = (x.shape[1] - kh) // strides + 1, (x.shape[2] - kw) // strides + 1
  windows = [x[:, i:i + strides * (out_h - 1) + 1:strides,
               j:j + strides * (out_w - 1) + 1:strides, :]
             for i in range(kh) for j in range(kw)]
  stacked = windows[0] if len(windows) == 1 else jnp.concatenate(windows, axis=-1)
  return stacked @ kernel.reshape(kh * kw * c, o)


def _conv(x_BxHxWxC, kernel, padding, strides: int = 1):
  return lax.conv_general_dilated(x_BxHxWxC, kernel, (strides, strides), padding,
                                  dimension_numbers=_NHWC)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def conv_bias_by_patches(x_BxHxWxC, kernel, bias_O, padding: Padding):
  """conv(x, kernel) + bias at unit stride, computed by shifts; its kernel and bias gradients
  one product."""
  return conv_by_shifts(x_BxHxWxC, kernel, padding) + bias_O


def _patches_forward(x_BxHxWxC, kernel, bias_O, padding):
  return conv_bias_by_patches(x_BxHxWxC, kernel, bias_O, padding), (x_BxHxWxC, kernel)


def _patches_backward(padding, residuals, g_BxHxWxO):
  x_BxHxWxC, kernel = residuals
  kh, kw, c, o = kernel.shape
  p = patches(x_BxHxWxC, (kh, kw), padding).reshape(-1, kh * kw * c)
  p_with_ones = jnp.concatenate([p, jnp.ones((p.shape[0], 1), p.dtype)], axis=1)
  grads = p_with_ones.T @ g_BxHxWxO.reshape(-1, o)
  _, input_vjp = jax.vjp(lambda x: _conv(x, kernel, padding), x_BxHxWxC)
  return input_vjp(g_BxHxWxO)[0], grads[:-1].reshape(kernel.shape), grads[-1]


conv_bias_by_patches.defvjp(_patches_forward, _patches_backward)


class Conv(nn.Module):
  """flax nn.Conv's 2-D NHWC case, with the same parameters ('kernel' HWIO, 'bias'), created
  in the same order (so the same initial values and checkpoints), and the faster gradients of
  this module's docstring."""
  features: int
  kernel_size: tuple[int, int]
  strides: int = 1
  padding: Padding = 'SAME'
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
  bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    kernel = self.param('kernel', self.kernel_init,
                        (*self.kernel_size, x_BxHxWxC.shape[-1], self.features), jnp.float32)
    bias = (self.param('bias', self.bias_init, (self.features,), jnp.float32) if self.use_bias
            else jnp.zeros((self.features,), x_BxHxWxC.dtype))
    if self.strides == 1 and kernel[..., 0].size <= MAX_PATCH:
      return conv_bias_by_patches(x_BxHxWxC, kernel, bias, self.padding)
    if switch.loop_tuned():
      y = conv_by_matmul(x_BxHxWxC, kernel, self.padding, self.strides)
    else:
      y = _conv(x_BxHxWxC, kernel, self.padding, self.strides)
    return add_channel_bias(y, bias) if self.use_bias else y


def make_conv(features: int, kernel_size: tuple[int, int], strides: int = 1,
              padding: Padding = 'SAME', use_bias: bool = True,
              kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal(),
              name: str | None = None) -> nn.Module:
  """A 2-D NHWC convolution: `Conv` where the layers are tuned for the CPU, flax's otherwise
  (research/nn/switch.py). The same parameters either way."""
  layer = Conv if switch.cpu_tuned() else nn.Conv
  return layer(features, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
               kernel_init=kernel_init, name=name)
