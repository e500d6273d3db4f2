"""Activation functions by name: those of the course notes (001) and the modern ones."""
import functools

import jax
import jax.numpy as jnp


ACTIVATIONS = {
    'linear': lambda x: x,
    'sigmoid': jax.nn.sigmoid,
    'tanh': jnp.tanh,
    'relu': jax.nn.relu,
    'leaky_relu': functools.partial(jax.nn.leaky_relu, negative_slope=0.01),
    'elu': jax.nn.elu,
    'gelu': jax.nn.gelu,
    'swish': jax.nn.swish,
    'selu': jax.nn.selu,
    'mish': jax.nn.mish,  # x tanh(softplus(x)), Misra 2019
    # Softmax over the feature axis: unusual in hidden layers, but the notes list it.
    'softmax': jax.nn.softmax,
}


def get_activation(name: str):
  if name not in ACTIVATIONS:
    raise ValueError(f'activation {name!r} is unknown; choose one of {", ".join(ACTIVATIONS)}')
  return ACTIVATIONS[name]
