"""Dropout whose masks depend only on (seed, step, global example index).

Flax's own `nn.Dropout` draws one mask for the local batch from one key, so the mask an
example gets depends on which device it landed on. Here each example's mask comes from its own
key (see research/rng.py), making results identical on any number of devices.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from research import rng


def check_rate(rate: float) -> None:
  if not 0.0 <= rate < 1.0:
    raise ValueError(f'dropout rate must be in [0, 1), got {rate}')


class Dropout(nn.Module):
  """Inverted dropout: zero each unit with probability `rate`, scale the rest by 1/(1-rate),
  so the expected activation is unchanged and nothing needs rescaling at test time."""
  rate: float
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x_BxD: jax.Array, deterministic: bool) -> jax.Array:
    check_rate(self.rate)
    if deterministic or self.rate == 0.0:
      return x_BxD
    keep = 1.0 - self.rate
    keys_B = rng.example_keys(self.make_rng('dropout'), x_BxD.shape[0], self.axis_name)
    mask = jax.vmap(lambda k: jax.random.bernoulli(k, keep, x_BxD.shape[1:]))(keys_B)
    return jnp.where(mask, x_BxD / keep, jnp.zeros_like(x_BxD))
