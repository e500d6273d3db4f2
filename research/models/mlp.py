"""A multilayer perceptron with the knobs the classic questions turn: depth, width, activation,
initialiser, normalisation, skip connections (residual or highway) and dropout."""
import flax.linen as nn
import jax

from research.nn.activations import get_activation
from research.nn.dropout import Dropout
from research.nn.initializers import get_initializer
from research.nn.normalization import make_norm

SKIPS = ('none', 'residual', 'highway')
# Highway gates start mostly closed (carry the input), as Srivastava et al. (2015) recommend.
HIGHWAY_GATE_BIAS = -2.0


class MLP(nn.Module):
  """Input -> `depth` hidden layers of `width` units -> logits.

  Hidden layer i computes F_i(h) = dropout(act(norm(W_i h + b_i))). Every layer after the first
  (which changes the width) combines it with its input h according to `skip`:
    none:     h_i = F_i(h)
    residual: h_i = h + F_i(h)                     (ResNet's H(x) = F(x) + x)
    highway:  h_i = T_i(h) F_i(h) + (1 - T_i(h)) h,  T_i = sigmoid(G_i h + c_i), a learned gate
  Each F_i is sown into the 'activations' collection as `hidden_{i}_act` (a no-op unless that
  collection is asked for), for the diagnostics in research/diagnostics.py.
  """
  num_classes: int
  depth: int = 2
  width: int = 256
  activation: str = 'relu'
  weight_init: str = 'he'
  norm: str = 'none'
  skip: str = 'none'
  dropout: float = 0.0
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    act, kernel_init = get_activation(self.activation), get_initializer(self.weight_init)
    h_BxD = x.reshape(x.shape[0], -1)
    for i in range(self.depth):
      f_BxW = nn.Dense(self.width, kernel_init=kernel_init, name=f'hidden_{i}')(h_BxD)
      f_BxW = act(make_norm(self.norm, train, self.axis_name)(f_BxW))
      self.sow('activations', f'hidden_{i}_act', f_BxW)  # F_i, as the activation produced it
      f_BxW = Dropout(self.dropout, self.axis_name)(f_BxW, deterministic=not train)
      if i == 0 or self.skip == 'none':
        h_BxD = f_BxW
      elif self.skip == 'residual':
        h_BxD = h_BxD + f_BxW
      else:
        gate_BxW = nn.sigmoid(nn.Dense(
            self.width, kernel_init=kernel_init,
            bias_init=nn.initializers.constant(HIGHWAY_GATE_BIAS), name=f'gate_{i}')(h_BxD))
        h_BxD = gate_BxW * f_BxW + (1 - gate_BxW) * h_BxD
    return nn.Dense(self.num_classes, kernel_init=kernel_init, name='output')(h_BxD)
