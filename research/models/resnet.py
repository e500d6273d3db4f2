"""The CIFAR ResNets of He et al. (2015, section 4.2), and their plain and highway twins.

depth = 6n + 2: a 3x3 conv with 16 filters, three stages of n blocks with 16, 32 and 64 filters
(the first block of stages 2 and 3 halves the feature map with stride 2), global average pooling
and a 10-way dense layer. A block is conv3x3-norm-relu-conv3x3-norm, then
  residual: relu(F(x) + shortcut(x)), with the parameter-free "option A" shortcut: identity, or
            stride-2 subsampling and zero-padded channels where the shape changes;
  plain:    relu(F(x)), the same layers without the shortcut (the paper's plain-20/56);
  highway:  relu(T(x) F(x) + (1 - T(x)) shortcut(x)), T a 1x1-conv sigmoid gate (Srivastava et
            al. 2015).
ResNet-20 has 0.27M parameters and ResNet-56 0.85M, as the paper says (tests check this).

Stochastic depth (Huang et al. 2016): with `stochastic_depth` = p_L > 0, residual block l of L
drops its branch F for each example with probability p_l = l / L * p_L (the paper's linear
decay rule, p_L = 0.5), so the first blocks almost always survive and the last one half of
the time. The branch is dropped per example and always computed, so its BatchNorm layers
update their statistics from every example of the batch, those that drop it included (the
paper drops per mini-batch and skips the branch, statistics and all).
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from research.models.mlp import HIGHWAY_GATE_BIAS
from research.nn.activations import get_activation
from research.nn.conv import make_conv
from research.nn.dropout import StochasticDepth
from research.nn.initializers import get_initializer
from research.nn.normalization import make_norm

BLOCKS = ('residual', 'plain', 'highway')
STAGE_FILTERS = (16, 32, 64)


def is_cifar_depth(depth: int) -> bool:
  """He et al.'s CIFAR networks have 6n+2 layers, n >= 1 (8, 14, 20, 32, 44, 56, 110)."""
  return depth >= 8 and (depth - 2) % 6 == 0


def blocks_per_stage(depth: int) -> int:
  if not is_cifar_depth(depth):
    raise ValueError(f'CifarResNet: depth={depth} is not 6n+2 for n >= 1')
  return (depth - 2) // 6


def option_a_shortcut(x_BxHxWxC: jax.Array, features: int, stride: int) -> jax.Array:
  """Identity, or subsample by `stride` and zero-pad the new channels evenly on both sides."""
  if stride > 1:
    x_BxHxWxC = x_BxHxWxC[:, ::stride, ::stride, :]
  extra = features - x_BxHxWxC.shape[-1]
  if extra:
    x_BxHxWxC = jnp.pad(x_BxHxWxC, ((0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)))
  return x_BxHxWxC


def conv3x3(features: int, stride: int, use_bias: bool, kernel_init, name: str) -> nn.Module:
  """A 3x3 convolution padded by one pixel on every side, as the reference implementations pad:
  at stride 2 output pixel i is centred on input pixel 2i, where the option-A shortcut samples.
  ('SAME' would pad (0, 1) there and centre it on 2i + 1, a pixel off the shortcut.)"""
  return make_conv(features, (3, 3), strides=stride, padding=((1, 1), (1, 1)),
                   use_bias=use_bias, kernel_init=kernel_init, name=name)


class Block(nn.Module):
  features: int
  stride: int
  kind: str
  activation: str
  weight_init: str
  norm: str
  axis_name: str | None
  drop_rate: float = 0.0  # stochastic depth: the probability of dropping F (residual only)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    act, kernel_init = get_activation(self.activation), get_initializer(self.weight_init)

    def conv(h, stride, name):
      return conv3x3(self.features, stride, self.norm == 'none', kernel_init, name)(h)

    f = act(make_norm(self.norm, train, self.axis_name)(conv(x, self.stride, 'conv_a')))
    f = make_norm(self.norm, train, self.axis_name)(conv(f, 1, 'conv_b'))
    if self.kind == 'plain':
      out = f
    elif self.kind == 'residual':
      f = StochasticDepth(self.drop_rate, self.axis_name)(f, deterministic=not train)
      out = f + option_a_shortcut(x, self.features, self.stride)
    else:
      gate = nn.sigmoid(nn.Conv(self.features, (1, 1), strides=self.stride, kernel_init=kernel_init,
                                bias_init=nn.initializers.constant(HIGHWAY_GATE_BIAS),
                                name='gate')(x))
      out = gate * f + (1 - gate) * option_a_shortcut(x, self.features, self.stride)
    out = act(out)
    self.sow('activations', 'act', out)
    return out


class CifarResNet(nn.Module):
  num_classes: int
  depth: int = 20                # 6n + 2 layers: 8, 14, 20, 32, 44, 56, 110, ...
  block: str = 'residual'        # residual, plain (no shortcut) or highway
  activation: str = 'relu'       # any of research/nn/activations.py
  weight_init: str = 'he'        # lecun, glorot, he (normal) or *_uniform
  norm: str = 'batch'            # none, batch or layer, after each convolution
  stochastic_depth: float = 0.0  # p_L: the last block's drop probability (Huang et al. 2016)
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, train: bool, progress=1.0) -> jax.Array:
    del progress  # stochastic depth has no schedule in time, only in depth
    if self.block not in BLOCKS:
      raise ValueError(f'CifarResNet: block={self.block!r} is unknown; choose one of '
                       f'{", ".join(BLOCKS)}')
    n = blocks_per_stage(self.depth)
    act, kernel_init = get_activation(self.activation), get_initializer(self.weight_init)
    h = conv3x3(STAGE_FILTERS[0], 1, self.norm == 'none', kernel_init, 'stem')(x_BxHxWxC)
    h = act(make_norm(self.norm, train, self.axis_name)(h))
    self.sow('activations', 'stem_act', h)
    for stage, features in enumerate(STAGE_FILTERS):
      for b in range(n):
        stride = 2 if stage > 0 and b == 0 else 1
        layer = stage * n + b + 1
        h = Block(features, stride, self.block, self.activation, self.weight_init, self.norm,
                  self.axis_name, layer / (3 * n) * self.stochastic_depth,
                  name=f'stage{stage + 1}_block{b}')(h, train)
    h = h.mean(axis=(1, 2))  # global average pooling
    return nn.Dense(self.num_classes, kernel_init=kernel_init, name='output')(h)
