"""A deterministic, device-resident input pipeline.

The whole dataset lives on the device (uint8 where the source is 8-bit). Example order is a
fresh permutation per epoch, drawn from (seed, epoch); the batch at step t is the slice
[t mod S * B, (t mod S + 1) * B) of its epoch's permutation (S = steps per epoch, the last
partial batch dropped). Each device gathers only its own slice of that global batch by its
index on the batch axis. So the batch at step t is a pure function of (seed, t): resuming at
step t needs nothing but t, and the device count changes nothing but who computes what.
"""
import functools

import flax.struct
import jax
import jax.numpy as jnp

from research import rng
from research.data.dataset import Dataset


@flax.struct.dataclass
class DeviceData:
  images: jax.Array   # N x H x W x C, stored dtype
  labels: jax.Array   # N int32 class labels, or float32 targets
  mean: jax.Array     # C, float32
  std: jax.Array      # C, float32


def split_arrays(dataset: Dataset, split: str) -> DeviceData:
  images, labels = dataset.split(split)
  return DeviceData(images=images, labels=labels, mean=dataset.mean, std=dataset.std)


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
  return max(num_examples // batch_size, 1)


@functools.partial(jax.jit, static_argnums=2)
def epoch_permutation(seed: int, epoch, n: int) -> jax.Array:
  """The example order of one epoch, a function of (seed, epoch) only."""
  return jax.random.permutation(rng.stream_key(seed, 'data_order', epoch), n).astype(jnp.int32)


def normalize(images, mean, std):
  return (images.astype(jnp.float32) - mean) / std


def local_train_batch(data: DeviceData, perm_N: jax.Array, step, global_batch: int,
                      local_batch: int, axis_name: str | None):
  """This device's share of the global batch at `step`: normalized images and labels."""
  slot = step % steps_per_epoch(perm_N.shape[0], global_batch)
  positions_B = slot * global_batch + rng.global_positions(local_batch, axis_name)
  index_B = perm_N[positions_B]
  return normalize(data.images[index_B], data.mean, data.std), data.labels[index_B]


def padded(index_B, num_examples: int):
  """(indices clamped to the last example, mask of the real ones), NumPy or JAX: evaluation
  batches keep one shape (one compiled program) past the end of a split, and the mask keeps
  the padding out of the metrics."""
  return index_B.clip(max=num_examples - 1), index_B < num_examples


def local_eval_batch(data: DeviceData, start, local_batch: int, axis_name: str | None):
  """Examples [start, start + global batch) in order, padded past the end; returns a mask."""
  safe_B, mask_B = padded(start + rng.global_positions(local_batch, axis_name),
                          data.labels.shape[0])
  images = normalize(data.images[safe_B], data.mean, data.std)
  return images, data.labels[safe_B], mask_B
