"""Random inputs and parameters for models that are measured, not trained, drawn on the host.

Every new shape drawn with `jax.random` compiles its own threefry program (seconds for a Flax
model's initialiser), which would dominate sections that build dozens
of differently-shaped problems only to time their derivatives. So shapes come from
`jax.eval_shape` (free) and values from NumPy, seeded from a JAX key so that they stay a
function of the run's seed: LeCun-normal kernels (variance 1 / fan-in) and zero biases.
"""
import functools

import jax
import numpy as np


def host_rng(key: jax.Array) -> np.random.Generator:
  return np.random.default_rng(np.asarray(jax.random.key_data(key)))


def host_normal(key: jax.Array, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
  return (scale * host_rng(key).standard_normal(shape)).astype(np.float32)


def host_params(model, key: jax.Array, *example_args) -> dict:
  """Parameters for model.apply(params, *example_args), a function of `key` alone."""
  shapes = jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0),
                          *example_args)['params']
  rng = host_rng(key)

  def draw(leaf):
    if len(leaf.shape) < 2:
      return np.zeros(leaf.shape, leaf.dtype)
    fan_in = int(np.prod(leaf.shape[:-1]))
    return (rng.standard_normal(leaf.shape) / np.sqrt(fan_in)).astype(leaf.dtype)

  return jax.tree.map(draw, shapes)
