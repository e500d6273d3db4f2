"""The depthwise-separable convolution (Chollet 2017, Xception; Howard et al. 2017, MobileNets):
a k x k convolution of each input channel on its own (depthwise), then a 1 x 1 convolution
across channels (pointwise).

With C input channels, N output channels and a k x k kernel it has k^2 C + C N weights against
a full convolution's k^2 C N, and per output position as many multiply-adds: the cost ratio
1/N + 1/k^2 of Howard et al. 2017 (section 3.1). The closed forms below are the layers'
arithmetic; tests/test_models.py holds them against the parameters the layers create and
against XLA's count of the compiled convolutions.

XLA's CPU backend runs a grouped convolution (the depthwise part) and its gradients about ten
times slower than a sum of k^2 shifted, scaled copies of the input, which computes the same
thing; `DepthwiseConv` is that sum where the layers are tuned for the CPU
(research/nn/switch.py) and flax's grouped convolution elsewhere, with the same parameters.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from research.nn import switch
from research.nn.conv import make_conv


def depthwise_by_taps(x_BxHxWxC: jax.Array, kernel_KxKx1xC: jax.Array,
                      stride: int = 1) -> jax.Array:
  """A depthwise convolution ('SAME', flax's padding) as a sum over the kernel's taps."""
  kh, kw = kernel_KxKx1xC.shape[:2]
  h, w = x_BxHxWxC.shape[1:3]
  out_h, out_w = -(-h // stride), -(-w // stride)
  pad_h = max((out_h - 1) * stride + kh - h, 0)
  pad_w = max((out_w - 1) * stride + kw - w, 0)
  padded = jnp.pad(x_BxHxWxC, ((0, 0), (pad_h // 2, pad_h - pad_h // 2),
                               (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
  out = jnp.zeros((x_BxHxWxC.shape[0], out_h, out_w, x_BxHxWxC.shape[-1]), x_BxHxWxC.dtype)
  for i in range(kh):
    for j in range(kw):
      window = padded[:, i:i + stride * (out_h - 1) + 1:stride,
                      j:j + stride * (out_w - 1) + 1:stride, :]
      out = out + window * kernel_KxKx1xC[i, j, 0]
  return out


class DepthwiseConv(nn.Module):
  """flax's nn.Conv(C, (k, k), feature_group_count=C, use_bias=False, padding='SAME'): the
  same 'kernel' (k x k x 1 x C), created the same way, computed by taps."""
  kernel_size: int = 3
  strides: int = 1
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    k, c = self.kernel_size, x_BxHxWxC.shape[-1]
    kernel = self.param('kernel', self.kernel_init, (k, k, 1, c), jnp.float32)
    return depthwise_by_taps(x_BxHxWxC, kernel.astype(x_BxHxWxC.dtype), self.strides)


def make_depthwise(channels: int, kernel_size: int, strides: int, kernel_init,
                   name: str) -> nn.Module:
  if switch.cpu_tuned():
    return DepthwiseConv(kernel_size, strides, kernel_init, name=name)
  return nn.Conv(channels, (kernel_size, kernel_size), strides=strides, padding='SAME',
                 feature_group_count=channels, use_bias=False, kernel_init=kernel_init,
                 name=name)


class SeparableConv(nn.Module):
  features: int
  kernel_size: int = 3
  strides: int = 1
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    c, k = x_BxHxWxC.shape[-1], self.kernel_size
    depthwise = make_depthwise(c, k, self.strides, self.kernel_init, 'depthwise')
    pointwise = make_conv(self.features, (1, 1), use_bias=self.use_bias,
                          kernel_init=self.kernel_init, name='pointwise')
    return pointwise(depthwise(x_BxHxWxC))


def conv_weights(c: int, n: int, k: int) -> int:
  """A full k x k convolution's weights (no bias), C channels in, N out."""
  return k * k * c * n


def separable_weights(c: int, n: int, k: int) -> int:
  return k * k * c + c * n


def conv_multiply_adds(c: int, n: int, k: int, positions: int) -> int:
  """Multiply-adds of a full convolution over `positions` output positions (batch x H x W)."""
  return positions * conv_weights(c, n, k)


def separable_multiply_adds(c: int, n: int, k: int, positions: int) -> int:
  return positions * separable_weights(c, n, k)
