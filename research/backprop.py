"""Backpropagation by hand: the delta rule of the notes (001), for sigmoid units and squared error.

For a layer l with weighted input net^l = o^{l-1} W^l + b^l and output o^l = sigmoid(net^l):

    delta^L = (o^L - t) o^L (1 - o^L)                      (output layer)
    delta^l = (delta^{l+1} W^{l+1 T}) o^l (1 - o^l)        (inner layers, back to front)
    dE/dW^l = o^{l-1 T} delta^l,   dE/db^l = sum over the batch of delta^l

with E = 1/2 sum over examples and outputs of (t - o)^2. Every line below is one of these
equations; `jax.grad(squared_error)` is the check.
"""
import jax
import jax.numpy as jnp

Params = list[tuple[jax.Array, jax.Array]]  # [(W_IxO, b_O)] from the first layer to the last


def init_params(key: jax.Array, sizes: tuple[int, ...]) -> Params:
  """Glorot-normal weights and zero biases for layer widths `sizes` (inputs first)."""
  params = []
  for key, fan_in, fan_out in zip(jax.random.split(key, len(sizes) - 1), sizes, sizes[1:]):
    scale = jnp.sqrt(2.0 / (fan_in + fan_out))
    params.append((scale * jax.random.normal(key, (fan_in, fan_out)), jnp.zeros(fan_out)))
  return params


def forward(params: Params, x_BxI: jax.Array) -> list[jax.Array]:
  """The outputs o^0 = x, o^1, ..., o^L of every layer: the backward pass needs them all."""
  outputs = [x_BxI]
  for w, b in params:
    outputs.append(jax.nn.sigmoid(outputs[-1] @ w + b))
  return outputs


def squared_error(params: Params, x_BxI: jax.Array, t_BxO: jax.Array) -> jax.Array:
  return 0.5 * jnp.sum((t_BxO - forward(params, x_BxI)[-1]) ** 2)


def manual_gradients(params: Params, x_BxI: jax.Array, t_BxO: jax.Array) -> Params:
  """dE/dW and dE/db for every layer by the delta rule, in the structure of `params`."""
  outputs = forward(params, x_BxI)
  o_out = outputs[-1]
  delta = (o_out - t_BxO) * o_out * (1 - o_out)
  grads = []
  for layer in reversed(range(len(params))):
    grads.append((outputs[layer].T @ delta, jnp.sum(delta, axis=0)))
    if layer > 0:
      o = outputs[layer]
      delta = (delta @ params[layer][0].T) * o * (1 - o)
  return grads[::-1]
