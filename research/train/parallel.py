"""Parallel backends: how the one-device step is mapped over a 1-D set of devices.

Both keep the train state replicated and the data resident on every device, and both bind the
step's `axis_name`, so `lax.pmean` and `lax.axis_index` mean the same thing in each:

- `shard_map`: `jax.shard_map` under `jax.jit` over a 1-D mesh (what JAX recommends since pmap
  went into maintenance). Arrays are global `jax.Array`s, replicated with `P()`.
- `pmap`: `jax.pmap`; arrays carry a leading device axis.

With several processes (research/train/distributed.py) the mesh spans every process's devices,
and the batch comes in already sliced per device (research/data/feed.py): `batch_sharded=True`
maps the step's second argument over the batch axis. That is shard_map's job; pmap is kept for
one process.

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
  train_step: Callable                # (state, *inputs) -> (state, metrics)
  eval_step: Callable                 # (state, *inputs) -> stats
  train_steps: Callable | None = None  # (state, *inputs) -> (state, metrics of steps_per_call)


def select_devices(num_devices: int) -> tuple:
  available = jax.devices()  # with several processes: every process's devices
  if num_devices == 0:
    return tuple(available)
  if jax.process_count() > 1:
    raise UserError(f'num_devices={num_devices} picks devices of one process; with '
                    f'{jax.process_count()} processes use num_devices=0 (all of them)')
  if num_devices > len(available):
    hint = (f'; for {num_devices} CPU devices set XLA_FLAGS=--xla_force_host_platform_device_'
            f'count={num_devices} before starting' if available[0].platform == 'cpu' else '')
    raise UserError(f'num_devices={num_devices} but only {len(available)} '
                    f'{available[0].platform} device(s) are available{hint}')
  return tuple(available[:num_devices])


def _stack_on_devices(tree, devices):
  """One copy per device along a new leading axis: the layout pmap expects."""
  sharding = NamedSharding(Mesh(np.array(devices), ('devices',)), P('devices'))
  stack = lambda x: np.broadcast_to(np.asarray(x), (len(devices), *np.shape(x)))
  return jax.device_put(jax.tree.map(stack, tree), sharding)


def _first_copy(tree):
  """The first device's copy of pmap's per-device stack, read from that device alone:
  indexing the stack (x[0]) is a program over every device with an all-reduce per leaf, which
  can deadlock XLA:CPU's collectives when several are in flight (docs/performance.md)."""
  return jax.tree.map(lambda x: x.addressable_data(0)[0], tree)


def one_call_in_flight(fn: Callable) -> Callable:
  """`fn`, returning only once its outputs are computed; `fn.lower` (ahead-of-time lowering,
  for cost and memory analyses) is kept."""
  def call(*args):
    return jax.block_until_ready(fn(*args))
  call.lower = fn.lower
  call.waits_for_outputs = True
  return call


def make_backend(name: str, devices: tuple, train_step, eval_step, axis_name: str,
                 batch_sharded: bool = False, train_steps=None) -> Backend:
  backend = _mapped_backend(name, devices, train_step, eval_step, axis_name, batch_sharded,
                            train_steps)
  # XLA:CPU's collectives can deadlock when several multi-device calls are in flight (a
  # participant never reaches the rendezvous, and XLA aborts the process: docs/performance.md),
  # so on CPU devices each call returns once computed. They share the host's cores, so little
  # overlap is lost.
  if devices[0].platform == 'cpu' and len(devices) > 1:
    calls = ('train_step', 'eval_step') + (('train_steps',) if train_steps else ())
    return dataclasses.replace(
        backend, **{call: one_call_in_flight(getattr(backend, call)) for call in calls})
  return backend


def _mapped_backend(name, devices, train_step, eval_step, axis_name, batch_sharded,
                    train_steps) -> Backend:
  if name == 'shard_map':
    mesh = Mesh(np.array(devices), (axis_name,))
    replicated = NamedSharding(mesh, P())
    in_specs = (P(), P(axis_name)) if batch_sharded else P()
    mapped = lambda f: jax.shard_map(f, mesh=mesh, in_specs=in_specs, out_specs=P(),
                                     check_vma=False)
    return Backend(
        name=name, devices=devices,
        put=lambda tree: jax.device_put(tree, replicated),
        get=lambda tree: tree,
        train_step=jax.jit(mapped(train_step), donate_argnums=0),
        eval_step=jax.jit(mapped(eval_step)),
        train_steps=train_steps and jax.jit(mapped(train_steps), donate_argnums=0))
  if name == 'pmap' and (batch_sharded or jax.process_count() > 1):
    raise UserError('backend=pmap runs on one process; use backend=shard_map with '
                    f'{jax.process_count()} processes')
  if name == 'pmap':
    return Backend(
        name=name, devices=devices,
        put=lambda tree: _stack_on_devices(tree, devices),
        get=_first_copy,
        train_step=jax.pmap(train_step, axis_name, devices=devices, donate_argnums=0),
        eval_step=jax.pmap(eval_step, axis_name, devices=devices),
        train_steps=train_steps and jax.pmap(train_steps, axis_name, devices=devices,
                                           donate_argnums=0))
  raise UserError(f'backend={name!r} is unknown; choose one of {", ".join(BACKENDS)}')
