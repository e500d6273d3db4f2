"""Per-process input: each process gathers only its own devices' slices of every global batch.

On one process the whole dataset lives on the device (pipeline.py). With several processes the
global batch at step t is the same list of example indices (the slice of the (seed, epoch)
permutation, exactly as in pipeline.local_train_batch), but each process gathers on the host only
the rows its own devices hold and sends only those; `jax.make_array_from_callback` asks for
exactly those rows and assembles the global array. So the batch is a function of (seed, step)
whatever the number of processes, and the device at mesh position d holds the rows whose
global positions research/rng.py assigns to it (with one microbatch, positions
[d * local_batch, (d + 1) * local_batch)): the positions the dropout and augmentation keys use.
"""
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from research import rng
from research.data import pipeline


class ProcessFeed:
  """Global, batch-sharded (images, labels[, mask]) arrays; images keep their stored dtype."""

  def __init__(self, images: np.ndarray, labels: np.ndarray, seed: int, global_batch: int,
               mesh: Mesh, axis_name: str, slices: int = 1):
    self._images, self._labels = images, labels
    self._positions = rng.host_positions(global_batch, mesh.size, slices)
    self._seed, self._global_batch = seed, global_batch
    self._sharding = NamedSharding(mesh, P(axis_name))
    self._per_epoch = pipeline.steps_per_epoch(len(labels), global_batch)
    self._epoch, self._perm = None, None

  def _global(self, index_B: np.ndarray, *columns: np.ndarray) -> tuple:
    def make(column):
      def rows(index):  # called only for this process's devices, with each one's slice
        return column[index_B[index[0]]]
      return jax.make_array_from_callback((len(index_B), *column.shape[1:]), self._sharding,
                                          rows)
    return tuple(make(column) for column in columns)

  def train_batch(self, step: int) -> tuple:
    """(images, labels) of the global batch at `step`, as pipeline.local_train_batch picks."""
    epoch, slot = divmod(step, self._per_epoch)
    if epoch != self._epoch:  # the permutation is the device pipeline's, drawn on this host
      self._epoch = epoch
      self._perm = np.asarray(pipeline.epoch_permutation(self._seed, epoch, len(self._labels)))
    index_B = self._perm[slot * self._global_batch + self._positions]
    return self._global(index_B, self._images, self._labels)

  def eval_batch(self, start: int) -> tuple:
    """(images, labels, mask) of examples [start, start + global batch), padded past the end."""
    safe_B, mask_B = pipeline.padded(start + np.arange(self._global_batch), len(self._labels))
    images, labels = self._global(safe_B, self._images, self._labels)
    (mask,) = self._global(np.arange(self._global_batch), mask_B)
    return images, labels, mask
