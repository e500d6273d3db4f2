"""VGG (Simonyan and Zisserman 2015): stages of 3 x 3 convolutions at stride 1 with 'SAME'
padding, each stage closed by 2 x 2 max pooling at stride 2; the feature maps flattened into
fully connected layers with dropout; the logits.

`stages` lists each stage's output channels, one entry per convolution. `VGG16_STAGES` with
`dense=(4096, 4096)` at 224 x 224 x 3 and 1000 classes is the paper's configuration D,
138,357,544 parameters (tests/test_models.py derives the integer). The default is a small
CIFAR-size variant that trains on a CPU. `norm='batch'` adds BatchNorm after each convolution
(the paper's VGG had none; it came later, Ioffe and Szegedy 2015).
"""
import flax.linen as nn
import jax

from research.models.cnn import pool_2x2
from research.nn.activations import get_activation
from research.nn.conv import make_conv
from research.nn.dropout import Dropout
from research.nn.initializers import get_initializer
from research.nn.normalization import make_norm

VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


class VGG(nn.Module):
  num_classes: int
  stages: tuple[tuple[int, ...], ...] = ((32, 32), (64, 64), (128, 128))  # channels per conv
  dense: tuple[int, ...] = (256,)   # units of the fully connected layers before the logits
  dropout: float = 0.5              # on each fully connected layer's units, as the paper
  activation: str = 'relu'          # any of research/nn/activations.py
  weight_init: str = 'he'           # lecun, glorot, he (normal) or *_uniform
  norm: str = 'none'                # none, batch or layer, after each convolution
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, train: bool, progress=1.0) -> jax.Array:
    del progress
    act, kernel_init = get_activation(self.activation), get_initializer(self.weight_init)
    h = x_BxHxWxC
    for s, stage in enumerate(self.stages):
      for i, features in enumerate(stage):
        # No bias before BatchNorm: it subtracts each channel's batch mean, cancelling it.
        h = make_conv(features, (3, 3), use_bias=self.norm != 'batch', kernel_init=kernel_init,
                      name=f'conv_{s}_{i}')(h)
        h = act(make_norm(self.norm, train, self.axis_name)(h))
        self.sow('activations', f'conv_{s}_{i}_act', h)  # for research/diagnostics.py
      h = pool_2x2(h, 'max')
    h = h.reshape(h.shape[0], -1)
    for i, features in enumerate(self.dense):
      h = act(nn.Dense(features, kernel_init=kernel_init, name=f'dense_{i}')(h))
      self.sow('activations', f'dense_{i}_act', h)
      h = Dropout(self.dropout, self.axis_name)(h, deterministic=not train)
    return nn.Dense(self.num_classes, kernel_init=kernel_init, name='output')(h)
