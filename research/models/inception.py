"""Inception (Szegedy et al. 2015, GoogLeNet): modules of parallel branches, a 1 x 1, a 3 x 3
and a 5 x 5 convolution and a 3 x 3 max pool, concatenated along the channels.

With `reduce=True` (the paper's module, its figure 2b) 1 x 1 convolutions shrink the channels
before the 3 x 3 and 5 x 5 ones and project the pooled branch; without (figure 2a, the naive
module) the large kernels see every input channel and the pooled branch passes them all on.
A module is six widths (n1, r3, n3, r5, n5, np): the 1 x 1 branch, the 3 x 3 reduction and
convolution, the 5 x 5 reduction and convolution, the pool projection, as the columns of the
paper's table 1 (the naive module uses n1, n3, n5 only). `module_weights` is the closed form
of a module's weights; the paper's inception (3a) has 159K of them (tests/test_models.py).

The network here is small, for CPU-size images: a 3 x 3 stem convolution, the modules with a
2 x 2 max pool after those listed in `pool_after`, global average pooling, the logits. Each
convolution is followed by the activation (the paper had no BatchNorm; `norm` adds it).
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from research.models.cnn import pool_2x2
from research.nn.activations import get_activation
from research.nn.conv import make_conv
from research.nn.initializers import get_initializer
from research.nn.normalization import make_norm


def module_weights(channels_in: int, widths, reduce: bool = True) -> int:
  """A module's convolution weights (no biases), from its input channels and widths."""
  n1, r3, n3, r5, n5, np_ = widths
  c = channels_in
  if not reduce:
    return c * n1 + 9 * c * n3 + 25 * c * n5
  return c * n1 + c * r3 + 9 * r3 * n3 + c * r5 + 25 * r5 * n5 + c * np_


def module_channels(channels_in: int, widths, reduce: bool = True) -> int:
  n1, _, n3, _, n5, np_ = widths
  return n1 + n3 + n5 + (np_ if reduce else channels_in)


class ConvUnit(nn.Module):
  """A k x k convolution ('SAME'), the normalisation, the activation."""
  features: int
  kernel: int
  activation: str = 'relu'
  weight_init: str = 'he'
  norm: str = 'none'
  train: bool = False
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    # No bias before BatchNorm: it subtracts each channel's batch mean, cancelling it.
    h = make_conv(self.features, (self.kernel, self.kernel), use_bias=self.norm != 'batch',
                  kernel_init=get_initializer(self.weight_init), name='conv')(x)
    return get_activation(self.activation)(make_norm(self.norm, self.train, self.axis_name)(h))


class InceptionModule(nn.Module):
  widths: tuple[int, int, int, int, int, int]  # n1, r3, n3, r5, n5, np
  reduce: bool = True
  activation: str = 'relu'
  weight_init: str = 'he'
  norm: str = 'none'
  train: bool = False
  axis_name: str | None = None

  def unit(self, features: int, kernel: int, name: str) -> ConvUnit:
    return ConvUnit(features, kernel, self.activation, self.weight_init, self.norm, self.train,
                    self.axis_name, name=name)

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    n1, r3, n3, r5, n5, np_ = self.widths
    x = x_BxHxWxC
    pooled = nn.max_pool(x, (3, 3), (1, 1), padding='SAME')
    if self.reduce:
      branches = [self.unit(n1, 1, 'b1x1')(x),
                  self.unit(n3, 3, 'b3x3')(self.unit(r3, 1, 'b3x3_reduce')(x)),
                  self.unit(n5, 5, 'b5x5')(self.unit(r5, 1, 'b5x5_reduce')(x)),
                  self.unit(np_, 1, 'pool_proj')(pooled)]
    else:
      branches = [self.unit(n1, 1, 'b1x1')(x), self.unit(n3, 3, 'b3x3')(x),
                  self.unit(n5, 5, 'b5x5')(x), pooled]
    return jnp.concatenate(branches, axis=-1)


class Inception(nn.Module):
  num_classes: int
  stem: int = 32                    # channels of the 3 x 3 stem convolution
  modules: tuple[tuple[int, ...], ...] = ((16, 16, 24, 4, 8, 8), (24, 24, 32, 4, 12, 12))
  pool_after: tuple[int, ...] = (0,)  # modules followed by a 2 x 2 max pool
  reduce: bool = True               # the 1 x 1 reductions (figure 2b) or the naive module (2a)
  activation: str = 'relu'          # any of research/nn/activations.py
  weight_init: str = 'he'           # lecun, glorot, he (normal) or *_uniform
  norm: str = 'none'                # none, batch or layer, after each convolution
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, train: bool, progress=1.0) -> jax.Array:
    del progress
    common = dict(activation=self.activation, weight_init=self.weight_init, norm=self.norm,
                  train=train, axis_name=self.axis_name)
    h = ConvUnit(self.stem, 3, name='stem', **common)(x_BxHxWxC)
    for i, widths in enumerate(self.modules):
      h = InceptionModule(tuple(widths), self.reduce, name=f'inception_{i}', **common)(h)
      self.sow('activations', f'inception_{i}_act', h)
      if i in self.pool_after:
        h = pool_2x2(h, 'max')
    return nn.Dense(self.num_classes, kernel_init=get_initializer(self.weight_init),
                    name='output')(h.mean(axis=(1, 2)))
