"""Per-example random keys: how randomness stays independent of the device count.

Every random draw that touches an example (its dropout mask, its augmentation) uses a key made
from a per-step stream key and the example's position in the *global* batch. On a device that
holds a slice of the batch, positions are offset by the device's index along the batch axis,
so 1, 2 or 8 devices draw exactly the same numbers for the same example.
"""
import jax
import jax.numpy as jnp
from jax import lax


def stream_key(seed: int, stream: str, step) -> jax.Array:
  """The key of one named random stream ('dropout', 'augment', ...) at one training step."""
  key = jax.random.fold_in(jax.random.key(seed), _stream_id(stream))
  return jax.random.fold_in(key, step)


def _stream_id(stream: str) -> int:
  # A stable small integer per name (Python's hash() is salted per process).
  return int.from_bytes(stream.encode()[:4].ljust(4, b'\0'), 'little') & 0x7FFFFFFF


def global_positions(local_batch: int, axis_name: str | None) -> jax.Array:
  """Positions in the global batch of this device's examples."""
  offset = lax.axis_index(axis_name) * local_batch if axis_name else 0
  return offset + jnp.arange(local_batch)


def example_keys(key: jax.Array, local_batch: int, axis_name: str | None) -> jax.Array:
  """One key per local example, a function of `key` and the example's global position."""
  return jax.vmap(lambda i: jax.random.fold_in(key, i))(global_positions(local_batch,
                                                                          axis_name))
