"""A small convolutional network: [conv -> norm -> act -> conv dropout -> pool] per stage,
flatten (or global average pooling), dense layers with dropout, logits. The layer types of the
notes' CNN chapter (001).

Pooling is max, average or sum over `pool_size` windows at `pool_stride`, or none (with
`stride=2`, strided convolutions do the downsampling instead: the all-convolutional network of
Springenberg et al. 2015);
`local=True` makes every convolution locally connected (flax's ConvLocal: the same receptive
fields without weight sharing, a kernel per output position), the control that separates
what convolutions gain from sparse connectivity from what they gain from sharing weights.

The dropout on convolutional features is unit-wise ('standard'), per feature map ('spatial',
Tompson et al. 2015) or in square blocks ('dropblock', Ghiasi et al. 2018), at rate
`conv_dropout`; the dense layers use standard dropout at rate `dropout`."""
import flax.linen as nn
import jax

from research.nn.activations import get_activation
from research.nn import switch
from research.nn.conv import make_conv
from research.nn.dropout import DropBlock, Dropout, SpatialDropout
from research.nn.initializers import get_initializer
from research.nn.normalization import make_norm
from research.nn.pooling import max_pool_2x2

POOLS = ('max', 'avg', 'sum', 'none')
HEADS = ('flatten', 'gap')
CONV_DROPOUTS = ('standard', 'spatial', 'dropblock')


def pool_2x2(x_BxHxWxC: jax.Array, kind: str) -> jax.Array:
  """2x2 pooling, stride 2 ('VALID': an odd last row or column is dropped). Max pooling on the
  CPU is `research.nn.pooling.max_pool_2x2`, whose gradient XLA's CPU backend runs fast, and
  flax's elsewhere (research/nn/switch.py)."""
  if kind == 'none':
    return x_BxHxWxC
  b, h, w, c = x_BxHxWxC.shape
  x = x_BxHxWxC[:, :h - h % 2, :w - w % 2, :]
  if kind == 'max':
    return max_pool_2x2(x) if switch.cpu_tuned() else nn.max_pool(x, (2, 2), (2, 2))
  if kind in ('avg', 'sum'):
    windows = x.reshape(b, h // 2, 2, w // 2, 2, c)
    return windows.mean(axis=(2, 4)) if kind == 'avg' else windows.sum(axis=(2, 4))
  raise ValueError(f'pool {kind!r} is unknown; choose one of {", ".join(POOLS)}')


def pool(x_BxHxWxC: jax.Array, kind: str, size: int = 2, stride: int = 0) -> jax.Array:
  """`kind` pooling over size x size windows at `stride` (0: the size), 'VALID' (the windows
  that fit); 2 x 2 at stride 2 is pool_2x2."""
  stride = stride or size
  if kind == 'none' or (size, stride) == (2, 2):
    return pool_2x2(x_BxHxWxC, kind)
  window, strides = (size, size), (stride, stride)
  if kind == 'max':
    return nn.max_pool(x_BxHxWxC, window, strides)
  if kind in ('avg', 'sum'):
    mean = nn.avg_pool(x_BxHxWxC, window, strides)
    return mean if kind == 'avg' else mean * (size * size)
  raise ValueError(f'pool {kind!r} is unknown; choose one of {", ".join(POOLS)}')


def pooled_side(side: int, kind: str, size: int = 2, stride: int = 0,
                conv_stride: int = 1) -> int:
  """An image side after one stage: its convolution ('SAME'), then its pooling."""
  side = -(-side // conv_stride)
  return side if kind == 'none' else (side - size) // (stride or size) + 1


class CNN(nn.Module):
  num_classes: int
  channels: tuple[int, ...] = (32, 64)  # output channels of each stage's convolution
  kernel_size: int = 3                  # square convolution kernels
  stride: int = 1                       # every convolution's stride ('SAME': ceil(side / stride))
  dense: tuple[int, ...] = (256,)       # units of the fully connected layers before the logits
  activation: str = 'relu'              # any of research/nn/activations.py
  weight_init: str = 'he'               # lecun, glorot, he (normal) or *_uniform
  norm: str = 'none'                    # none, batch or layer, after each convolution
  pool: str = 'max'                     # max, avg, sum or none: pooling after each stage
  pool_size: int = 2                    # its square window
  pool_stride: int = 0                  # its stride (0: the window's size)
  head: str = 'flatten'                 # flatten, or gap (global average pooling) before dense
  local: bool = False                   # locally connected convolutions (no weight sharing)
  dropout: float = 0.0                  # drop rate of the dense layers' units
  conv_dropout: float = 0.0             # drop rate on the convolutional features
  conv_dropout_kind: str = 'standard'   # standard (units), spatial (maps) or dropblock
  dropblock_size: int = 3               # DropBlock's square block side
  axis_name: str | None = None

  def convolution(self, features: int, kernel_init, name: str) -> nn.Module:
    """A stage's convolution ('SAME'); no bias before BatchNorm: it subtracts each channel's
    batch mean, cancelling it."""
    kernel, use_bias = (self.kernel_size, self.kernel_size), self.norm != 'batch'
    if self.local:
      return nn.ConvLocal(features, kernel, strides=self.stride, padding='SAME',
                          use_bias=use_bias, kernel_init=kernel_init, name=name)
    return make_conv(features, kernel, strides=self.stride, use_bias=use_bias,
                     kernel_init=kernel_init, name=name)

  def conv_dropout_layer(self, name: str):
    if self.conv_dropout_kind == 'standard':
      return Dropout(self.conv_dropout, self.axis_name, name=name)
    if self.conv_dropout_kind == 'spatial':
      return SpatialDropout(self.conv_dropout, self.axis_name, name=name)
    if self.conv_dropout_kind == 'dropblock':
      return DropBlock(self.conv_dropout, self.dropblock_size, self.axis_name, name=name)
    raise ValueError(f'CNN: conv_dropout_kind={self.conv_dropout_kind!r} is unknown; choose '
                     f'one of {", ".join(CONV_DROPOUTS)}')

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, train: bool, progress=1.0) -> jax.Array:
    act, kernel_init = get_activation(self.activation), get_initializer(self.weight_init)
    h = x_BxHxWxC
    for i, features in enumerate(self.channels):
      h = self.convolution(features, kernel_init, f'conv_{i}')(h)
      h = act(make_norm(self.norm, train, self.axis_name)(h))
      self.sow('activations', f'conv_{i}_act', h)  # for research/diagnostics.py
      drop = self.conv_dropout_layer(f'conv_dropout_{i}')
      kwargs = {'progress': progress} if isinstance(drop, DropBlock) else {}
      h = pool(drop(h, deterministic=not train, **kwargs), self.pool, self.pool_size,
               self.pool_stride)
    if self.head not in HEADS:
      raise ValueError(f'CNN: head={self.head!r} is unknown; choose one of {", ".join(HEADS)}')
    h = h.mean(axis=(1, 2)) if self.head == 'gap' else h.reshape(h.shape[0], -1)
    for i, features in enumerate(self.dense):
      h = act(nn.Dense(features, kernel_init=kernel_init, name=f'dense_{i}')(h))
      self.sow('activations', f'dense_{i}_act', h)
      h = Dropout(self.dropout, self.axis_name)(h, deterministic=not train)
    return nn.Dense(self.num_classes, kernel_init=kernel_init, name='output')(h)
