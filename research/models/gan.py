"""A generative adversarial network's two players as one module (Goodfellow et al. 2014):
`generate(z, shape)` maps latent codes to images of `shape`, `discriminate(x)` gives one logit
per image (real vs generated). Their parameters live apart, under 'generator' and
'discriminator', so each player has its own optimizer (research/tasks.Adversarial).

Two kinds of players:
- `mlp`: MLPs, as in the paper's MNIST experiments (which used maxout discriminators);
- `dcgan`: convolutional, in the manner of Radford et al. 2016: the generator projects z to a
  small map and doubles it with stride-2 transposed convolutions (4 x 4 kernels), the
  discriminator halves the image with stride-2 convolutions, then one linear logit. Departures
  from DCGAN: no batch normalisation (a two-player step has no running statistics here), and a
  linear output, not tanh (the images are standardised, not in [-1, 1]).
The generator's hidden layers use ReLU, the discriminator's leaky ReLU (slope 0.2), as DCGAN's.
`conditional=True` makes both players class-conditional (Mirza and Osindero 2014): the label,
one-hot, joins the generator's code and the discriminator's features before its logit (for the
MLP, its flattened input).
"""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from research.errors import UserError
from research.nn.initializers import get_initializer

KINDS = ('mlp', 'dcgan')


class Generator(nn.Module):
  widths: tuple[int, ...]
  weight_init: str

  @nn.compact
  def __call__(self, z_BxL: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    init, h = get_initializer(self.weight_init), z_BxL
    for i, width in enumerate(self.widths):
      h = nn.relu(nn.Dense(width, kernel_init=init, name=f'hidden_{i}')(h))
    out = nn.Dense(math.prod(shape), kernel_init=init, name='output')(h)
    return out.reshape(z_BxL.shape[0], *shape)


def check_image_shape(kind: str, generator: tuple[int, ...], shape, prefix: str = 'gan.') -> None:
  """A DCGAN generator doubles its map once per layer: the image sides must allow it."""
  small = 2 ** len(generator)
  if kind == 'dcgan' and (shape[0] % small or shape[1] % small):
    raise UserError(f'{prefix}kind=dcgan with {len(generator)} generator layers doubles a map '
                    f'{len(generator)} times: the image sides ({shape[0]} x {shape[1]}) must be '
                    f'multiples of {small}; use fewer layers')


class ConvGenerator(nn.Module):
  channels: tuple[int, ...]   # of the projected map, then after each doubling but the last
  weight_init: str

  @nn.compact
  def __call__(self, z_BxL: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    init, (height, width, out_channels) = get_initializer(self.weight_init), shape
    check_image_shape('dcgan', self.channels, shape)
    small = 2 ** len(self.channels)
    h = nn.Dense(height // small * width // small * self.channels[0], kernel_init=init,
                 name='project')(z_BxL)
    h = nn.relu(h).reshape(z_BxL.shape[0], height // small, width // small, self.channels[0])
    for i, channels in enumerate((*self.channels[1:], out_channels)):
      h = nn.ConvTranspose(channels, (4, 4), strides=(2, 2), padding='SAME', kernel_init=init,
                           name=f'up_{i}')(h)
      h = nn.relu(h) if i < len(self.channels) - 1 else h
    return h


class Discriminator(nn.Module):
  widths: tuple[int, ...]
  weight_init: str
  convolutional: bool = False  # stride-2 convolutions of `widths` channels, then the logit

  @nn.compact
  def __call__(self, x: jax.Array, extra_BxE=None) -> jax.Array:
    init = get_initializer(self.weight_init)
    if self.convolutional:
      h = x
      for i, channels in enumerate(self.widths):
        h = nn.leaky_relu(nn.Conv(channels, (4, 4), strides=(2, 2), padding='SAME',
                                  kernel_init=init, name=f'down_{i}')(h), 0.2)
      h = _joined(h.reshape(h.shape[0], -1), extra_BxE)
    else:
      h = _joined(x.reshape(x.shape[0], -1), extra_BxE)
      for i, width in enumerate(self.widths):
        h = nn.leaky_relu(nn.Dense(width, kernel_init=init, name=f'hidden_{i}')(h), 0.2)
    return nn.Dense(1, kernel_init=init, name='output')(h)


def _joined(h_BxD: jax.Array, extra_BxE) -> jax.Array:
  return h_BxD if extra_BxE is None else jnp.concatenate([h_BxD, extra_BxE], axis=-1)


class GAN(nn.Module):
  num_classes: int                       # the labels a conditional GAN is given
  latent: int = 64                       # size of the generator's input code z ~ N(0, I)
  kind: str = 'mlp'                      # mlp or dcgan (convolutional players)
  generator: tuple[int, ...] = (256, 256)     # hidden layers (mlp) or channels (dcgan)
  discriminator: tuple[int, ...] = (256, 256)  # hidden layers (mlp) or channels (dcgan)
  weight_init: str = 'glorot'            # lecun, glorot, he (normal) or *_uniform
  conditional: bool = False              # both players see the class label (one-hot)
  axis_name: str | None = None

  def setup(self):
    if self.kind not in KINDS:
      raise UserError(f'gan.kind={self.kind!r} is not allowed; choose one of {", ".join(KINDS)}')
    make = ConvGenerator if self.kind == 'dcgan' else Generator
    self.generator_net = make(self.generator, self.weight_init, name='generator')
    self.discriminator_net = Discriminator(self.discriminator, self.weight_init,
                                           convolutional=self.kind == 'dcgan',
                                           name='discriminator')

  def __call__(self, x: jax.Array, train: bool, progress=1.0) -> jax.Array:
    """The discriminator's logits on x (as class 0, if conditional); at initialisation it also
    builds the generator."""
    del train, progress
    labels = jnp.zeros((x.shape[0],), jnp.int32) if self.conditional else None
    if self.is_initializing():
      self.generate(jnp.zeros((x.shape[0], self.latent)), x.shape[1:], labels)
    return self.discriminate(x, labels)

  def _one_hot(self, labels_B, dtype):
    if not self.conditional:
      return None
    if labels_B is None:
      raise ValueError('a conditional GAN needs the class labels')
    return jax.nn.one_hot(labels_B, self.num_classes, dtype=dtype)

  def generate(self, z_BxL: jax.Array, shape: tuple[int, ...], labels_B=None) -> jax.Array:
    return self.generator_net(_joined(z_BxL, self._one_hot(labels_B, z_BxL.dtype)), shape)

  def discriminate(self, x: jax.Array, labels_B=None) -> jax.Array:
    return self.discriminator_net(x, self._one_hot(labels_B, x.dtype))
