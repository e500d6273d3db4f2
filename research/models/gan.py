"""A generative adversarial network's two players as one module (Goodfellow et al. 2014):
`generate(z, shape)` maps latent codes to images of `shape`, `discriminate(x)` gives one logit
per image (real vs generated). Their parameters live apart, under 'generator' and
'discriminator', so each player has its own optimizer (research/tasks.Adversarial).

MLPs, as in the paper's MNIST experiments (which used maxout discriminators): the generator's
hidden layers use ReLU and its output tanh-free (the images are standardised, not in [-1, 1]);
the discriminator's hidden layers use leaky ReLU (slope 0.2), as DCGAN's do. `conditional=True`
makes both players class-conditional (Mirza and Osindero 2014): the label, one-hot, joins the
generator's code and the discriminator's flattened image.
"""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from research.nn.initializers import get_initializer


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


class Discriminator(nn.Module):
  widths: tuple[int, ...]
  weight_init: str

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    init, h = get_initializer(self.weight_init), x.reshape(x.shape[0], -1)
    for i, width in enumerate(self.widths):
      h = nn.leaky_relu(nn.Dense(width, kernel_init=init, name=f'hidden_{i}')(h), 0.2)
    return nn.Dense(1, kernel_init=init, name='output')(h)


class GAN(nn.Module):
  num_classes: int                       # the labels a conditional GAN is given
  latent: int = 64                       # size of the generator's input code z ~ N(0, I)
  generator: tuple[int, ...] = (256, 256)     # the generator's hidden layers
  discriminator: tuple[int, ...] = (256, 256)  # the discriminator's hidden layers
  weight_init: str = 'glorot'            # lecun, glorot, he (normal) or *_uniform
  conditional: bool = False              # both players see the class label (one-hot)
  axis_name: str | None = None

  def setup(self):
    self.generator_net = Generator(self.generator, self.weight_init, name='generator')
    self.discriminator_net = Discriminator(self.discriminator, self.weight_init,
                                           name='discriminator')

  def __call__(self, x: jax.Array, train: bool, progress=1.0) -> jax.Array:
    """The discriminator's logits on x (as class 0, if conditional); at initialisation it also
    builds the generator."""
    del train, progress
    labels = jnp.zeros((x.shape[0],), jnp.int32) if self.conditional else None
    if self.is_initializing():
      self.generate(jnp.zeros((x.shape[0], self.latent)), x.shape[1:], labels)
    return self.discriminate(x, labels)

  def _with_label(self, h_BxD: jax.Array, labels_B) -> jax.Array:
    if not self.conditional:
      return h_BxD
    if labels_B is None:
      raise ValueError('a conditional GAN needs the class labels')
    return jnp.concatenate([h_BxD, jax.nn.one_hot(labels_B, self.num_classes, dtype=h_BxD.dtype)],
                           axis=-1)

  def generate(self, z_BxL: jax.Array, shape: tuple[int, ...], labels_B=None) -> jax.Array:
    return self.generator_net(self._with_label(z_BxL, labels_B), shape)

  def discriminate(self, x: jax.Array, labels_B=None) -> jax.Array:
    return self.discriminator_net(self._with_label(x.reshape(x.shape[0], -1), labels_B))
