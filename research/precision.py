"""Mixed precision: float32 parameters and optimizer state, bfloat16 arithmetic.

`precision=mixed` applies a model with its parameters and its floating-point inputs cast to
bfloat16, so its matrix multiplies, convolutions and activations run in bfloat16, and casts its
outputs back to float32, where the losses, the softmax and the metrics are computed. The
parameters, their gradients (a cast's gradient is the cast back), the optimizer state and the
checkpoints stay float32; BatchNorm takes its statistics and keeps its running averages in
float32 (research/nn/normalization.py). This is the recipe of Micikevicius et al. 2018, "Mixed
Precision Training", without its loss scaling: bfloat16 has float32's exponent range, so small
gradients do not underflow. `precision=float32` applies the model as it is.
"""
import jax
import jax.numpy as jnp

PRECISIONS = ('float32', 'mixed')


def cast_floats(tree, dtype):
  """`tree` with its floating-point arrays in `dtype`; integers and Python values untouched."""
  def cast(x):
    floating = hasattr(x, 'dtype') and jnp.issubdtype(x.dtype, jnp.floating)
    return x.astype(dtype) if floating else x
  return jax.tree.map(cast, tree)


class Policy:
  """A model whose `apply` runs under `precision`; every other attribute is the model's."""

  def __init__(self, model, precision: str):
    if precision not in PRECISIONS:
      raise ValueError(f'precision {precision!r} is unknown; choose one of '
                       f'{", ".join(PRECISIONS)}')
    self.model, self.precision = model, precision

  def __getattr__(self, name):
    return getattr(self.model, name)

  def apply(self, variables, *args, **kwargs):
    if self.precision == 'float32':
      return self.model.apply(variables, *args, **kwargs)
    variables = {**variables, 'params': cast_floats(variables['params'], jnp.bfloat16)}
    outputs = self.model.apply(variables, *cast_floats(args, jnp.bfloat16), **kwargs)
    return cast_floats(outputs, jnp.float32)


def policy(model, precision: str):
  """`model`, applied under `precision` (the model itself for float32)."""
  return model if precision == 'float32' else Policy(model, precision)
