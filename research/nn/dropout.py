"""The dropout family, with masks that depend only on (seed, step, global example index).

Flax's own `nn.Dropout` draws one mask for the local batch from one key, so the mask an
example gets depends on which device it landed on. Here each example's mask comes from its own
key (see research/rng.py), making results identical on any number of devices. DropConnect's
weight mask is shared by the whole batch, so it uses the step's key alone.

Every module takes a `deterministic` switch and the 'dropout' rng stream. `rate` is the
probability of dropping; it may be a traced array (so that rates can be `jax.vmap`-ed over),
and rate 0 is then the identity by arithmetic, as it is by the shortcut for a Python 0.
"""
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from research import rng

# SELU's negative saturation value, -lambda * alpha (Klambauer et al. 2017).
SELU_SATURATION = -1.0507009873554805 * 1.6732632423543772


def check_rate(rate) -> None:
  if isinstance(rate, (int, float)) and not 0.0 <= rate < 1.0:
    raise ValueError(f'dropout rate must be in [0, 1), got {rate}')


def is_off(rate, deterministic: bool) -> bool:
  check_rate(rate)
  return deterministic or (isinstance(rate, (int, float)) and rate == 0.0)


def example_draws(module: nn.Module, draw, x, axis_name, shared_axes=()) -> jax.Array:
  """`draw(key, shape)` once per example, with the axes in `shared_axes` (of the whole array)
  set to size 1, so one draw is broadcast over them (a channel, a time step...)."""
  shape = tuple(1 if a in shared_axes else n for a, n in enumerate(x.shape) if a > 0)
  keys_B = rng.example_keys(module.make_rng('dropout'), x.shape[0], axis_name)
  return jax.vmap(lambda k: draw(k, shape))(keys_B)


def _inverted(module, x, rate, axis_name, shared_axes=()):
  keep = 1.0 - rate
  mask = example_draws(module, lambda k, s: jax.random.bernoulli(k, keep, s), x, axis_name,
                       shared_axes)
  return jnp.where(mask, x / keep, jnp.zeros_like(x))


class _MaskedDropout(nn.Module):
  """What the per-example kinds share: `rate`, `axis_name`, and the identity when off. Each
  subclass defines `drop(x)`, its random transform in training."""
  rate: float
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    return x if is_off(self.rate, deterministic) else self.drop(x)


class Dropout(_MaskedDropout):
  """Inverted dropout: zero each unit with probability `rate`, scale the rest by 1/(1-rate),
  so the expected activation is unchanged and nothing needs rescaling at test time."""

  def drop(self, x):
    return _inverted(self, x, self.rate, self.axis_name)


class ClassicDropout(_MaskedDropout):
  """Dropout as first published (Srivastava et al. 2014): zero units in training without
  rescaling, and multiply by the keep probability at test time. Same expectations as inverted
  dropout; the scaling just moves from training to testing."""

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    check_rate(self.rate)
    return x * (1.0 - self.rate) if deterministic else super().__call__(x, deterministic)

  def drop(self, x):
    keep = 1.0 - self.rate
    mask = example_draws(self, lambda k, s: jax.random.bernoulli(k, keep, s), x, self.axis_name)
    return jnp.where(mask, x, jnp.zeros_like(x))


class GaussianDropout(_MaskedDropout):
  """Multiplicative noise N(1, rate/(1-rate)): the variance of inverted Bernoulli dropout at
  the same rate, without zeros (Srivastava et al. 2014, section 10)."""

  def drop(self, x):
    std = jnp.sqrt(self.rate / (1.0 - self.rate))
    noise = example_draws(self, lambda k, s: jax.random.normal(k, s, x.dtype), x, self.axis_name)
    return x * (1.0 + std * noise)


class AlphaDropout(_MaskedDropout):
  """Dropout for SELU networks (Klambauer et al. 2017): dropped units take SELU's saturation
  value, then an affine map restores zero mean and unit variance for normalised inputs."""

  def drop(self, x):
    keep, alpha = 1.0 - self.rate, SELU_SATURATION
    a = (keep + alpha ** 2 * keep * self.rate) ** -0.5
    b = -a * self.rate * alpha
    mask = example_draws(self, lambda k, s: jax.random.bernoulli(k, keep, s), x, self.axis_name)
    return a * jnp.where(mask, x, alpha) + b


class SpatialDropout(_MaskedDropout):
  """Drops whole feature maps (Tompson et al. 2015): one draw per example and channel of an
  NHWC array, shared over height and width, since neighbouring pixels are strongly correlated
  and dropping them one by one barely removes any information."""

  def drop(self, x_BxHxWxC):
    return _inverted(self, x_BxHxWxC, self.rate, self.axis_name, shared_axes=(1, 2))


class LockedDropout(_MaskedDropout):
  """Variational dropout over time (Gal and Ghahramani 2016): one mask per example and
  feature of a BxTxD sequence, the same at every time step."""

  def drop(self, x_BxTxD):
    return _inverted(self, x_BxTxD, self.rate, self.axis_name, shared_axes=(1,))


class StochasticDepth(_MaskedDropout):
  """Drops a whole residual branch per example (Huang et al. 2016): one draw per example,
  scaled by 1/(1-rate) in training so that the test-time network is the plain sum."""

  def drop(self, branch):
    return _inverted(self, branch, self.rate, self.axis_name,
                     shared_axes=tuple(range(1, branch.ndim)))


def dropblock_seed_rate(rate, block_size: int, height: int, width: int):
  """gamma of Ghiasi et al. (2018), eq. 1: the seed probability that drops a fraction `rate`
  of the units once every seed is grown into a block_size x block_size block."""
  valid = (height - block_size + 1) * (width - block_size + 1)
  return rate / block_size ** 2 * (height * width) / valid


class DropBlock(nn.Module):
  """Drops contiguous block_size x block_size squares of each feature map (Ghiasi et al. 2018).

  Block centres are drawn where a whole block fits, grown into squares by a max-pool, and the
  kept units are rescaled so that each example's activation sum is unchanged in expectation.
  `progress` (the fraction of training done) scales the rate: the paper's linear schedule of
  the keep probability from 1 down to its target.
  """
  rate: float
  block_size: int = 3
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array, deterministic: bool, progress=1.0) -> jax.Array:
    if is_off(self.rate, deterministic):
      return x_BxHxWxC
    _, h, w, _ = x_BxHxWxC.shape
    size = min(self.block_size, h, w)
    gamma = dropblock_seed_rate(self.rate * progress, size, h, w)
    inside_HxWx1 = jnp.zeros((h, w, 1), bool).at[
        size // 2:h - (size - 1) // 2, size // 2:w - (size - 1) // 2].set(True)
    seeds = example_draws(self, lambda k, s: jax.random.bernoulli(k, gamma, s) & inside_HxWx1,
                          x_BxHxWxC, self.axis_name)
    # A seed at (i, j) drops the block (i - size//2 ... i + (size-1)//2), likewise along j.
    dropped = lax.reduce_window(seeds, False, lax.bitwise_or, (1, size, size, 1), (1, 1, 1, 1),
                                ((0, 0), ((size - 1) // 2, size // 2),
                                 ((size - 1) // 2, size // 2), (0, 0)))
    kept = (~dropped).astype(x_BxHxWxC.dtype)
    scale = kept[0].size / jnp.maximum(kept.sum(axis=(1, 2, 3), keepdims=True), 1.0)
    return x_BxHxWxC * kept * scale


class DropConnectDense(nn.Module):
  """A dense layer whose weights are dropped (Wan et al. 2013), with inverted scaling (the
  paper's masks are not rescaled in training and its inference multiplies by the keep
  probability; the two are the same model).

  Training: by default one Bernoulli mask over the kernel per step, shared by the whole batch
  (and every device), and the bias kept. `per_example=True` is the paper's: a mask over the
  kernel and the bias for each example (B x D x W draws: memory grows with the batch).
  Inference: by default the mean weights, the simple rule the paper argues against.
  `gaussian_samples=Z > 0` is the paper's (its Algorithm 2): each unit's pre-activation is
  moment-matched by a Gaussian, mean W v and variance rate / (1 - rate) (W*W)(v*v) (biases
  included when masked), and the output is the average of `activation` over Z draws, from a
  fixed key so that evaluation is deterministic. The layer then applies `activation` itself.
  """
  features: int
  rate: float
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
  use_bias: bool = True
  per_example: bool = False
  gaussian_samples: int = 0
  activation: Callable[[jax.Array], jax.Array] = lambda u: u
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x_BxD: jax.Array, deterministic: bool) -> jax.Array:
    kernel = self.param('kernel', self.kernel_init, (x_BxD.shape[-1], self.features))
    bias = (self.param('bias', nn.initializers.zeros, (self.features,)) if self.use_bias
            else jnp.zeros((self.features,)))
    if is_off(self.rate, deterministic):
      if deterministic and self.gaussian_samples and not is_off(self.rate, False):
        return self.gaussian_inference(x_BxD, kernel, bias)
      return self.activation(x_BxD @ kernel + bias)
    keep = 1.0 - self.rate
    if not self.per_example:
      mask = jax.random.bernoulli(self.make_rng('dropout'), keep, kernel.shape)
      return self.activation(x_BxD @ jnp.where(mask, kernel / keep, 0.0) + bias)
    draw = lambda k, s: jax.random.bernoulli(k, keep, s)
    kernel_mask_BxDxW = example_draws(self, draw, jnp.zeros((x_BxD.shape[0], *kernel.shape)),
                                      self.axis_name)
    bias_mask_BxW = example_draws(self, draw, jnp.zeros((x_BxD.shape[0], self.features)),
                                  self.axis_name)
    u_BxW = jnp.einsum('bd,bdw->bw', x_BxD, jnp.where(kernel_mask_BxDxW, kernel / keep, 0.0))
    return self.activation(u_BxW + jnp.where(bias_mask_BxW, bias / keep, 0.0))

  def gaussian_inference(self, x_BxD, kernel, bias):
    odds = self.rate / (1.0 - self.rate)
    mean_BxW = x_BxD @ kernel + bias
    var_BxW = odds * ((x_BxD * x_BxD) @ (kernel * kernel)
                      + (bias * bias if self.per_example else 0.0))
    noise_ZxBxW = jax.random.normal(jax.random.key(0), (self.gaussian_samples, *mean_BxW.shape))
    return self.activation(mean_BxW + jnp.sqrt(var_BxW) * noise_ZxBxW).mean(0)
