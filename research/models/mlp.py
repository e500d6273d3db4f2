"""A multilayer perceptron with the knobs the classic questions turn: depth, width, activation,
initialiser, normalisation, skip connections (residual or highway) and dropout (any unit
dropout of research/nn/dropout.py, or DropConnect on the hidden weights)."""
import flax.linen as nn
import jax

from research.nn import dropout as dropout_lib
from research.nn.activations import get_activation
from research.nn.initializers import get_initializer
from research.nn.normalization import make_norm

SKIPS = ('none', 'residual', 'highway')
# Highway gates start mostly closed (carry the input), as Srivastava et al. (2015) recommend.
HIGHWAY_GATE_BIAS = -2.0
UNIT_DROPOUTS = {'standard': dropout_lib.Dropout, 'classic': dropout_lib.ClassicDropout,
                 'gaussian': dropout_lib.GaussianDropout, 'alpha': dropout_lib.AlphaDropout}
DROPOUTS = (*UNIT_DROPOUTS, 'dropconnect')


class MLP(nn.Module):
  """Input -> `depth` hidden layers of `width` units -> logits.

  Hidden layer i computes F_i(h) = dropout(act(norm(W_i h + b_i))), without b_i when norm is
  'batch' (BatchNorm cancels it). Every layer after the first
  (which changes the width) combines it with its input h according to `skip`:
    none:     h_i = F_i(h)
    residual: h_i = h + F_i(h)                     (ResNet's H(x) = F(x) + x)
    highway:  h_i = T_i(h) F_i(h) + (1 - T_i(h)) h,  T_i = sigmoid(G_i h + c_i), a learned gate
  Each F_i is sown into the 'activations' collection as `hidden_{i}_act` (a no-op unless that
  collection is asked for), for the diagnostics in research/diagnostics.py. With
  `dropout_kind='dropconnect'` the hidden W_i are dropped instead of the units of F_i.
  """
  num_classes: int
  depth: int = 2                  # hidden layers; 0 = a linear (or logistic) model
  width: int = 256                # units per hidden layer
  activation: str = 'relu'        # any of research/nn/activations.py
  weight_init: str = 'he'         # lecun, glorot, he (normal) or *_uniform
  norm: str = 'none'              # none, batch or layer, before each activation
  skip: str = 'none'              # none, residual or highway, from the second hidden layer on
  dropout: float = 0.0            # drop rate of the hidden units (or weights, dropconnect)
  dropout_kind: str = 'standard'  # standard, classic, gaussian, alpha or dropconnect
  dropconnect_per_example: bool = False  # DropConnect masks per example, bias too (Wan et al.)
  dropconnect_samples: int = 0    # DropConnect test-time Gaussian samples; 0 = mean weights
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool, progress=1.0) -> jax.Array:
    del progress  # no scheduled regulariser here
    act, kernel_init = get_activation(self.activation), get_initializer(self.weight_init)
    if self.dropout_kind not in DROPOUTS:
      raise ValueError(f'MLP: dropout_kind={self.dropout_kind!r} is unknown; choose one of '
                       f'{", ".join(DROPOUTS)}')
    h_BxD = x.reshape(x.shape[0], -1)
    for i in range(self.depth):
      # BatchNorm subtracts each unit's batch mean, so a bias before it is cancelled exactly
      # and its gradient is rounding noise; LayerNorm keeps a per-unit bias's pattern.
      use_bias = self.norm != 'batch'
      if self.dropout_kind == 'dropconnect' and self.dropconnect_samples:
        # Gaussian inference averages the activation over samples: the layer applies it.
        f_BxW = dropout_lib.DropConnectDense(
            self.width, self.dropout, kernel_init, use_bias, self.dropconnect_per_example,
            self.dropconnect_samples, act, self.axis_name, name=f'hidden_{i}')(h_BxD, not train)
      else:
        if self.dropout_kind == 'dropconnect':
          f_BxW = dropout_lib.DropConnectDense(
              self.width, self.dropout, kernel_init, use_bias, self.dropconnect_per_example,
              axis_name=self.axis_name, name=f'hidden_{i}')(h_BxD, not train)
        else:
          f_BxW = nn.Dense(self.width, use_bias=use_bias, kernel_init=kernel_init,
                           name=f'hidden_{i}')(h_BxD)
        f_BxW = act(make_norm(self.norm, train, self.axis_name)(f_BxW))
      self.sow('activations', f'hidden_{i}_act', f_BxW)  # F_i, as the activation produced it
      if self.dropout_kind in UNIT_DROPOUTS:
        f_BxW = UNIT_DROPOUTS[self.dropout_kind](self.dropout, self.axis_name)(
            f_BxW, deterministic=not train)
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
