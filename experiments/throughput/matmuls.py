"""An MLP train step's matrix multiplies alone, at its own shapes: the ceiling of its rate.

A large square multiply measures the machine; the MLP's multiplies are batch-sized (128 x 512
x 512 and their transposes), which run slower. Timing exactly the step's multiplies (forward,
input gradient, weight gradient of every layer) separates what the shapes allow from what
the rest of the step (activations, loss, Adam, metrics) costs.
"""
import math

import jax
import numpy as np


def mlp_widths(workload, dataset) -> list[int]:
  """[inputs, hidden..., classes] of an MLP workload."""
  options = workload.options
  return [math.prod(dataset.image_shape), *[options['width']] * options['depth'],
          dataset.num_classes]


def _step_matmuls(xs, ws, gs):
  out = []
  for layer, (x_BxI, w_IxO, g_BxO) in enumerate(zip(xs, ws, gs)):
    out += [x_BxI @ w_IxO, x_BxI.T @ g_BxO]
    if layer:  # the first layer's input needs no gradient
      out.append(g_BxO @ w_IxO.T)
  return out


class MatmulsAlone:
  """`steps(n)` runs the matrix multiplies of n train steps of an MLP; `flops` per step."""

  def __init__(self, widths: list[int], batch_size: int):
    rng = np.random.default_rng(0)
    pairs = list(zip(widths[:-1], widths[1:]))
    normal = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    self._args = jax.device_put(([normal(batch_size, i) for i, _ in pairs],
                                 [normal(i, o) for i, o in pairs],
                                 [normal(batch_size, o) for _, o in pairs]))
    self.flops = sum(2 * batch_size * i * o * (3 if layer else 2)
                     for layer, (i, o) in enumerate(pairs))
    self._matmuls = jax.jit(_step_matmuls)

  def steps(self, count: int) -> None:
    for _ in range(count):
      out = self._matmuls(*self._args)
    jax.block_until_ready(out)
