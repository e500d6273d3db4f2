"""A small convolutional network: [conv -> norm -> act -> conv dropout -> 2x2 pool] per stage,
flatten, dense layers with dropout, logits. The layer types of the notes' CNN chapter (001).

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

POOLS = ('max', 'avg', 'none')
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
  if kind == 'avg':
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
  raise ValueError(f'pool {kind!r} is unknown; choose one of {", ".join(POOLS)}')


class CNN(nn.Module):
  num_classes: int
  channels: tuple[int, ...] = (32, 64)  # output channels of each stage's convolution
  kernel_size: int = 3                  # square convolution kernels
  dense: tuple[int, ...] = (256,)       # units of the fully connected layers before the logits
  activation: str = 'relu'              # any of research/nn/activations.py
  weight_init: str = 'he'               # lecun, glorot, he (normal) or *_uniform
  norm: str = 'none'                    # none, batch or layer, after each convolution
  pool: str = 'max'                     # max, avg or none: 2x2 pooling after each stage
  dropout: float = 0.0                  # drop rate of the dense layers' units
  conv_dropout: float = 0.0             # drop rate on the convolutional features
  conv_dropout_kind: str = 'standard'   # standard (units), spatial (maps) or dropblock
  dropblock_size: int = 3               # DropBlock's square block side
  axis_name: str | None = None

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
      # No bias before BatchNorm: it subtracts each channel's batch mean, cancelling it.
      h = make_conv(features, (self.kernel_size, self.kernel_size),
                    use_bias=self.norm != 'batch', kernel_init=kernel_init, name=f'conv_{i}')(h)
      h = act(make_norm(self.norm, train, self.axis_name)(h))
      self.sow('activations', f'conv_{i}_act', h)  # for research/diagnostics.py
      drop = self.conv_dropout_layer(f'conv_dropout_{i}')
      kwargs = {'progress': progress} if isinstance(drop, DropBlock) else {}
      h = pool_2x2(drop(h, deterministic=not train, **kwargs), self.pool)
    h = h.reshape(h.shape[0], -1)
    for i, features in enumerate(self.dense):
      h = act(nn.Dense(features, kernel_init=kernel_init, name=f'dense_{i}')(h))
      self.sow('activations', f'dense_{i}_act', h)
      h = Dropout(self.dropout, self.axis_name)(h, deterministic=not train)
    return nn.Dense(self.num_classes, kernel_init=kernel_init, name='output')(h)
