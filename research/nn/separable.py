"""The depthwise-separable convolution (Chollet 2017, Xception; Howard et al. 2017, MobileNets):
a k x k convolution of each input channel on its own (depthwise), then a 1 x 1 convolution
across channels (pointwise).

With C input channels, N output channels and a k x k kernel it has k^2 C + C N weights against
a full convolution's k^2 C N, and per output position as many multiply-adds: the cost ratio
1/N + 1/k^2 of Howard et al. 2017 (section 3.1). The closed forms below are the layers'
arithmetic; tests/test_models.py holds them against the parameters the layers create and
against XLA's count of the compiled convolutions.
"""
import flax.linen as nn
import jax


class SeparableConv(nn.Module):
  features: int
  kernel_size: int = 3
  strides: int = 1
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    c, k = x_BxHxWxC.shape[-1], self.kernel_size
    depthwise = nn.Conv(c, (k, k), strides=self.strides, padding='SAME', feature_group_count=c,
                        use_bias=False, kernel_init=self.kernel_init, name='depthwise')
    pointwise = nn.Conv(self.features, (1, 1), use_bias=self.use_bias,
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
