"""The train state: everything a run needs to continue, and nothing else.

Only arrays: the model and optimizer are rebuilt from the config, so a checkpoint is a plain
pytree and its fingerprint is a hash over arrays.
"""
import hashlib

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax


@flax.struct.dataclass
class TrainState:
  step: jax.Array          # int32 scalar: the number of updates applied so far
  params: dict
  opt_state: optax.OptState
  batch_stats: dict        # BatchNorm running statistics ({} when the model has none)


def init_variables(model, seed: int, image_shape) -> dict:
  """Initial parameters (and BatchNorm statistics) from (seed); the dummy batch has size 1.

  Jitted: one program instead of an eager dispatch (and compile) per initialiser op, and the
  persistent compilation cache can keep it."""
  dummy = jnp.zeros((1, *image_shape), jnp.float32)
  init = jax.jit(lambda key, x: model.init(key, x, train=False))
  return init(jax.random.key(seed), dummy)


def state_from_variables(variables: dict, tx: optax.GradientTransformation) -> TrainState:
  params = variables['params']
  # Jitted for the reason init_variables is: eager zeros_like dispatches an op per leaf.
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=jax.jit(tx.init)(params),
                    batch_stats=variables.get('batch_stats', {}))


def fingerprint(state: TrainState) -> str:
  """sha256 over every array of the state with its path, dtype and shape, in a fixed order."""
  digest = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_flatten_with_path(jax.device_get(state))[0]:
    array = np.ascontiguousarray(np.asarray(leaf))
    digest.update(f'{jax.tree_util.keystr(path)}|{array.dtype}|{array.shape}|'.encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def count_params(params) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))
