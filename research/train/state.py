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
from flax.core import DenyList


@flax.struct.dataclass
class TrainState:
  step: jax.Array          # int32 scalar: the number of updates applied so far
  params: dict
  opt_state: optax.OptState
  batch_stats: dict        # BatchNorm running statistics ({} when the model has none)


# How the initialisation program compiles on a CPU. Its compile time is the random
# generator's, a threefry loop per parameter, which LLVM compiles several times faster at -O1
# than at -O2 (docs/performance.md), to the same values: integer hashing, then elementwise
# float arithmetic that both levels emit alike (tests/test_init.py holds every initialiser the
# models use to it). XLA's own loop emitters are named so that the test suite's older ones
# (tests/conftest.py) do not apply: tests initialise exactly as users do. Other platforms keep
# XLA's defaults, where no one measured.
CPU_INIT_COMPILER_OPTIONS = {'xla_backend_optimization_level': 1,
                             'xla_cpu_use_fusion_emitters': True}


def init_compiler_options() -> dict | None:
  return CPU_INIT_COMPILER_OPTIONS if jax.default_backend() == 'cpu' else None


def initial_variables(model, key, dummy) -> dict:
  """`model.init`'s parameters and BatchNorm statistics, without the activations the models
  sow for diagnostics: collecting those would make the program run the forward pass too."""
  return model.init(key, dummy, train=False, mutable=DenyList('activations'))


def init_variables(model, seed: int, image_shape) -> dict:
  """Initial parameters (and BatchNorm statistics) from (seed); the dummy batch has size 1.

  Jitted: one program instead of an eager dispatch (and compile) per initialiser op, and the
  persistent compilation cache can keep it."""
  dummy = jnp.zeros((1, *image_shape), jnp.float32)
  init = jax.jit(lambda key, x: initial_variables(model, key, x),
                 compiler_options=init_compiler_options())
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
