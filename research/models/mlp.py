"""A multilayer perceptron with the knobs the classic questions turn: depth, width, activation,
initialiser, normalisation, residual connections and dropout."""
import flax.linen as nn
import jax

from research.nn.activations import get_activation
from research.nn.dropout import Dropout
from research.nn.initializers import get_initializer
from research.nn.normalization import make_norm


class MLP(nn.Module):
  """Input -> `depth` hidden layers of `width` units -> logits.

  Hidden layer i is h_i = dropout(act(norm(W_i h_{i-1} + b_i))). With `residual`, every hidden
  layer after the first (which changes the width) adds its input: h_i = h_{i-1} + F(h_{i-1}),
  the H(x) = F(x) + x of ResNet.
  """
  num_classes: int
  depth: int = 2
  width: int = 256
  activation: str = 'relu'
  weight_init: str = 'he'
  norm: str = 'none'
  residual: bool = False
  dropout: float = 0.0
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    act, kernel_init = get_activation(self.activation), get_initializer(self.weight_init)
    h_BxD = x.reshape(x.shape[0], -1)
    for i in range(self.depth):
      f_BxW = nn.Dense(self.width, kernel_init=kernel_init, name=f'hidden_{i}')(h_BxD)
      f_BxW = act(make_norm(self.norm, train, self.axis_name)(f_BxW))
      f_BxW = Dropout(self.dropout, self.axis_name)(f_BxW, deterministic=not train)
      h_BxD = h_BxD + f_BxW if self.residual and i > 0 else f_BxW
    return nn.Dense(self.num_classes, kernel_init=kernel_init, name='output')(h_BxD)
