"""Xception (Chollet 2017): depthwise-separable convolutions (research/nn/separable.py) in
residual blocks, in three flows.

- entry: a stem of two 3 x 3 convolutions, then blocks of [ReLU, separable conv, BN, ReLU,
  separable conv, BN, 3 x 3 max pool at stride 2] whose shortcut is a strided 1 x 1
  convolution (the first block starts without the ReLU, after the stem's);
- middle: `middle_blocks` blocks of three [ReLU, separable conv, BN] with identity shortcuts;
- exit: one more pooling block to `exit[1]` channels, two separable convolutions with BN and
  ReLU (`final`), global average pooling, the logits.

Every convolution is bias-free and followed by BatchNorm, as in the paper. With the defaults of
`XCEPTION_FULL` at 299 x 299 x 3 and 1000 classes this is the paper's network, 22,855,952
parameters (Chollet 2017, table 3, against Inception V3's 23,626,728; tests/test_models.py).
The default here is small, for CPU-size images, with a stride-1 stem; padding is 'SAME'
throughout (the paper's stem is 'VALID', which changes no parameter count).
"""
import flax.linen as nn
import jax

from research.nn.activations import get_activation
from research.nn.conv import make_conv
from research.nn.initializers import get_initializer
from research.nn.normalization import make_norm
from research.nn.separable import SeparableConv

XCEPTION_FULL = dict(stem=(32, 64), stem_stride=2, entry=(128, 256, 728), middle_blocks=8,
                     exit=(728, 1024), final=(1536, 2048))


class Xception(nn.Module):
  num_classes: int
  stem: tuple[int, int] = (16, 32)      # the two stem convolutions' channels
  stem_stride: int = 1                  # the first stem convolution's stride (the paper: 2)
  entry: tuple[int, ...] = (32, 64)     # the entry flow's blocks, each halving the image
  middle_blocks: int = 2                # identity-shortcut blocks at entry[-1] channels
  exit: tuple[int, int] = (64, 96)      # the exit block's two separable convolutions
  final: tuple[int, ...] = (128,)       # separable convolutions before the pooling head
  activation: str = 'relu'              # any of research/nn/activations.py
  weight_init: str = 'he'               # lecun, glorot, he (normal) or *_uniform
  norm: str = 'batch'                   # none, batch or layer, after every convolution
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, train: bool, progress=1.0) -> jax.Array:
    del progress
    act, init = get_activation(self.activation), get_initializer(self.weight_init)
    norm = lambda: make_norm(self.norm, train, self.axis_name)
    sep = lambda n, name: SeparableConv(n, use_bias=self.norm == 'none', kernel_init=init,
                                        name=name)
    conv = lambda n, k, stride, name: make_conv(n, (k, k), strides=stride,
                                                use_bias=self.norm == 'none',
                                                kernel_init=init, name=name)
    h = act(norm()(conv(self.stem[0], 3, self.stem_stride, 'stem_0')(x_BxHxWxC)))
    h = act(norm()(conv(self.stem[1], 3, 1, 'stem_1')(h)))

    def pooling_block(h, widths, name, first=False):
      shortcut = norm()(conv(widths[1], 1, 2, f'{name}_shortcut')(h))
      h = norm()(sep(widths[0], f'{name}_sep_0')(h if first else act(h)))
      h = norm()(sep(widths[1], f'{name}_sep_1')(act(h)))
      return nn.max_pool(h, (3, 3), (2, 2), padding='SAME') + shortcut

    for i, n in enumerate(self.entry):
      h = pooling_block(h, (n, n), f'entry_{i}', first=i == 0)
    for i in range(self.middle_blocks):
      residual = h
      for j in range(3):
        h = norm()(sep(h.shape[-1], f'middle_{i}_sep_{j}')(act(h)))
      h = h + residual
    h = pooling_block(h, self.exit, 'exit')
    for i, n in enumerate(self.final):
      h = act(norm()(sep(n, f'final_{i}')(h)))
    self.sow('activations', 'final_act', h)
    return nn.Dense(self.num_classes, kernel_init=init, name='output')(h.mean(axis=(1, 2)))
