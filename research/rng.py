"""Per-example random keys: how randomness stays independent of the device count.

Every random draw that touches an example (its dropout mask, its augmentation) uses a key made
from a per-step stream key and the example's position in the *global* batch. On a device that
holds a slice of the batch, positions are offset by the device's index along the batch axis,
so 1, 2 or 8 devices draw exactly the same numbers for the same example.

With gradient accumulation a device's batch is cut into `slices` microbatches, and slice j of
every device together holds global positions [j * M, (j + 1) * M), M = global batch / slices:
so each microbatch (and the BatchNorm statistics over it) is the same set of examples on any
number of devices. With one slice this is the plain layout, device d holding
[d * local_batch, (d + 1) * local_batch). `sliced` sets the layout for a train step; within
it, `in_slice` says which slice the examples at hand are.
"""
import contextlib
import contextvars

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# (slices per device batch, the slice at hand or None for the whole device batch), set while
# a train step is traced.
_LAYOUT = contextvars.ContextVar('batch_layout', default=(1, None))


@contextlib.contextmanager
def _layout(slices: int, index):
  token = _LAYOUT.set((slices, index))
  try:
    yield
  finally:
    _LAYOUT.reset(token)


def sliced(slices: int):
  """Within: every device's batch is `slices` microbatches (the layout above)."""
  return _layout(slices, None)


def slices() -> int:
  """The microbatches per device batch of the layout in force (1 outside `sliced`)."""
  return _LAYOUT.get()[0]


def in_slice(index):
  """Within `sliced`: the examples at hand are microbatch `index` (may be traced)."""
  return _layout(_LAYOUT.get()[0], index)


def stream_key(seed: int, stream: str, step) -> jax.Array:
  """The key of one named random stream ('dropout', 'augment', ...) at one training step."""
  key = jax.random.fold_in(jax.random.key(seed), _stream_id(stream))
  return jax.random.fold_in(key, step)


def _stream_id(stream: str) -> int:
  # A stable small integer per name (Python's hash() is salted per process).
  return int.from_bytes(stream.encode()[:4].ljust(4, b'\0'), 'little') & 0x7FFFFFFF


def _position(i, device, size: int, devices: int):
  """The global position of example i of `device`'s batch, cut into slices of `size` (the
  layout above); NumPy or JAX arrays."""
  return (i // size * devices + device) * size + i % size


def global_positions(local_batch: int, axis_name: str | None) -> jax.Array:
  """Positions in the global batch of this device's `local_batch` examples: its whole batch,
  or inside `in_slice` the slice at hand."""
  slices, index = _LAYOUT.get()
  devices = lax.axis_size(axis_name) if axis_name else 1
  device = lax.axis_index(axis_name) if axis_name else 0
  if index is not None:  # the examples at hand are one whole slice
    return _position(index * local_batch + jnp.arange(local_batch), device, local_batch,
                     devices)
  return _position(jnp.arange(local_batch), device, local_batch // slices, devices)


def host_positions(global_batch: int, devices: int, slices: int = 1) -> np.ndarray:
  """global_positions of every row of a batch-sharded global array (device d holds rows
  [d * local_batch, (d + 1) * local_batch)), on the host: what a per-process feed gathers."""
  local = global_batch // devices
  row = np.arange(global_batch)
  return _position(row % local, row // local, local // slices, devices)


def example_keys(key: jax.Array, local_batch: int, axis_name: str | None) -> jax.Array:
  """One key per local example, a function of `key` and the example's global position."""
  return jax.vmap(lambda i: jax.random.fold_in(key, i))(global_positions(local_batch,
                                                                          axis_name))
