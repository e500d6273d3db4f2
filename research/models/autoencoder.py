"""An MLP autoencoder: input -> encoder layers -> a `code`-unit bottleneck -> the mirrored
decoder -> a reconstruction of the input's shape.

The code layer and the output are linear; `linear=True` makes every layer linear: a linear
autoencoder trained on squared error spans the top principal components (Baldi and Hornik
1989). `codes_only=True` gives the codes, for probes.
"""
import math

import flax.linen as nn
import jax

from research.nn.activations import get_activation
from research.nn.initializers import get_initializer


class Autoencoder(nn.Module):
  num_classes: int                     # unused: the output has the input's shape
  encoder: tuple[int, ...] = (256,)    # hidden units of the encoder; the decoder mirrors them
  code: int = 32                       # units of the bottleneck
  activation: str = 'relu'             # any of research/nn/activations.py
  weight_init: str = 'he'              # lecun, glorot, he (normal) or *_uniform
  linear: bool = False                 # no activation anywhere: the PCA autoencoder
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool, progress=1.0,
               codes_only: bool = False) -> jax.Array:
    """The reconstruction (the input's shape), or with codes_only the B x code codes."""
    del train, progress  # no dropout or normalisation here
    act = (lambda h: h) if self.linear else get_activation(self.activation)
    init = get_initializer(self.weight_init)
    h_BxD = x.reshape(x.shape[0], -1)
    for i, width in enumerate(self.encoder):
      h_BxD = act(nn.Dense(width, kernel_init=init, name=f'encoder_{i}')(h_BxD))
    code_BxK = nn.Dense(self.code, kernel_init=init, name='code')(h_BxD)
    if codes_only:
      return code_BxK
    h_BxD = code_BxK
    for i, width in enumerate(reversed(self.encoder)):
      h_BxD = act(nn.Dense(width, kernel_init=init, name=f'decoder_{i}')(h_BxD))
    out = nn.Dense(math.prod(x.shape[1:]), kernel_init=init, name='output')(h_BxD)
    return out.reshape(x.shape)
