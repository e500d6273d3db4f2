"""A small convolutional network: [conv -> norm -> act -> 2x2 pool] per stage, flatten, dense
layers with dropout, logits. The layer types of the notes' CNN chapter (001)."""
import flax.linen as nn
import jax

from research.nn.activations import get_activation
from research.nn.dropout import Dropout
from research.nn.initializers import get_initializer
from research.nn.normalization import make_norm
from research.errors import UserError

POOLS = ('max', 'avg', 'none')


def pool_2x2(x_BxHxWxC: jax.Array, kind: str) -> jax.Array:
  """2x2 pooling, stride 2 ('VALID': an odd last row or column is dropped).

  Written as reshape + reduce: XLA's CPU backward for this is a plain broadcast-compare, much
  cheaper than the select-and-scatter that `reduce_window` max pooling differentiates into.
  """
  if kind == 'none':
    return x_BxHxWxC
  b, h, w, c = x_BxHxWxC.shape
  x = x_BxHxWxC[:, :h - h % 2, :w - w % 2, :].reshape(b, h // 2, 2, w // 2, 2, c)
  if kind == 'max':
    return x.max(axis=(2, 4))
  if kind == 'avg':
    return x.mean(axis=(2, 4))
  raise UserError(f'pool {kind!r} is unknown; choose one of {", ".join(POOLS)}')


class CNN(nn.Module):
  num_classes: int
  channels: tuple[int, ...] = (32, 64)
  kernel_size: int = 3
  dense: tuple[int, ...] = (256,)
  activation: str = 'relu'
  weight_init: str = 'he'
  norm: str = 'none'
  pool: str = 'max'
  dropout: float = 0.0
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, train: bool) -> jax.Array:
    act, kernel_init = get_activation(self.activation), get_initializer(self.weight_init)
    h = x_BxHxWxC
    for i, features in enumerate(self.channels):
      h = nn.Conv(features, (self.kernel_size, self.kernel_size), padding='SAME',
                  kernel_init=kernel_init, name=f'conv_{i}')(h)
      h = pool_2x2(act(make_norm(self.norm, train, self.axis_name)(h)), self.pool)
    h = h.reshape(h.shape[0], -1)
    for i, features in enumerate(self.dense):
      h = act(nn.Dense(features, kernel_init=kernel_init, name=f'dense_{i}')(h))
      h = Dropout(self.dropout, self.axis_name)(h, deterministic=not train)
    return nn.Dense(self.num_classes, kernel_init=kernel_init, name='output')(h)
