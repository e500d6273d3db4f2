"""Parallel backends: how the one-device step is mapped over a 1-D set of devices.

Both keep the train state replicated and the data resident on every device, and both bind the
step's `axis_name`, so `lax.pmean` and `lax.axis_index` mean the same thing in each:

- `shard_map`: `jax.shard_map` under `jax.jit` over a 1-D mesh (what JAX recommends since pmap
  went into maintenance). Arrays are global `jax.Array`s, replicated with `P()`.
- `pmap`: `jax.pmap`; arrays carry a leading device axis.

`check_vma=False` makes shard_map treat gradients as pmap does (local until the explicit
`lax.pmean` in the step), so one step function is correct under both.
"""
import dataclasses
from typing import Any, Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from research.errors import UserError

BACKENDS = ('shard_map', 'pmap')


@dataclasses.dataclass(frozen=True)
class Backend:
  name: str
  devices: tuple
  put: Callable[[Any], Any]           # host pytree -> replicated on the devices
  get: Callable[[Any], Any]           # replicated -> one copy (for checkpoints, fingerprints)
  train_step: Callable                # (state, data, perm) -> (state, metrics)
  eval_step: Callable                 # (state, data, start) -> stats


def select_devices(num_devices: int) -> tuple:
  available = jax.devices()
  if num_devices == 0:
    return tuple(available)
  if num_devices > len(available):
    raise UserError(f'num_devices={num_devices} but only {len(available)} '
                    f'{available[0].platform} device(s) are available')
  return tuple(available[:num_devices])


def _stack_on_devices(tree, devices):
  """One copy per device along a new leading axis: the layout pmap expects."""
  sharding = NamedSharding(Mesh(np.array(devices), ('devices',)), P('devices'))
  stack = lambda x: np.broadcast_to(np.asarray(x), (len(devices), *np.shape(x)))
  return jax.device_put(jax.tree.map(stack, tree), sharding)


def make_backend(name: str, devices: tuple, train_step, eval_step, axis_name: str) -> Backend:
  if name == 'shard_map':
    mesh = Mesh(np.array(devices), (axis_name,))
    replicated = NamedSharding(mesh, P())
    mapped = lambda f: jax.shard_map(f, mesh=mesh, in_specs=P(), out_specs=P(), check_vma=False)
    return Backend(
        name=name, devices=devices,
        put=lambda tree: jax.device_put(tree, replicated),
        get=lambda tree: tree,
        train_step=jax.jit(mapped(train_step), donate_argnums=0),
        eval_step=jax.jit(mapped(eval_step)))
  if name == 'pmap':
    return Backend(
        name=name, devices=devices,
        put=lambda tree: _stack_on_devices(tree, devices),
        get=lambda tree: jax.tree.map(lambda x: x[0], tree),
        train_step=jax.pmap(train_step, axis_name, devices=devices, donate_argnums=0),
        eval_step=jax.pmap(eval_step, axis_name, devices=devices))
  raise UserError(f'backend={name!r} is unknown; choose one of {", ".join(BACKENDS)}')
