"""What the train and eval steps are fed, step by step: the two input strategies side by side.

- `ResidentInputs` (one process): the whole dataset sits on every device once; a step gets the
  data and its epoch's permutation, and each device gathers its own slice on the device.
- `HostBatchInputs` (several processes): each process gathers only its devices' slices of the
  batch on the host (research/data/feed.py) and the step gets them ready-sliced.

Both pick the same examples for the same (seed, step), so the choice changes where the gather
runs, not the numbers. Each comes with the functions the steps use to read their inputs
(research/train/step.py): `*_train_batch(...)(*inputs, step)` -> (images, labels) and
`*_eval_batch(...)(*inputs)` -> (images, labels, mask), normalised, this device's share.
"""
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from research.data import feed, pipeline
from research.data.dataset import Dataset


def resident_train_batch(global_batch: int, local_batch: int, axis_name: str | None):
  def batch(data: pipeline.DeviceData, perm_N, step):
    return pipeline.local_train_batch(data, perm_N, step, global_batch, local_batch, axis_name)
  return batch


def resident_eval_batch(local_batch: int, axis_name: str | None):
  def batch(data: pipeline.DeviceData, start):
    return pipeline.local_eval_batch(data, start, local_batch, axis_name)
  return batch


def host_train_batch(mean, std):
  def batch(images_and_labels, step):
    del step  # the host already picked this step's examples
    images, labels_B = images_and_labels
    return pipeline.normalize(images, mean, std), labels_B
  return batch


def host_eval_batch(mean, std):
  def batch(images_labels_and_mask):
    images, labels_B, mask_B = images_labels_and_mask
    return pipeline.normalize(images, mean, std), labels_B, mask_B
  return batch


class ResidentInputs:

  def __init__(self, put, dataset: Dataset, seed: int, global_batch: int):
    self._put, self._seed = put, seed
    self._train = put(pipeline.split_arrays(dataset, 'train'))
    self._eval = {split: put(pipeline.split_arrays(dataset, split))
                  for split in dataset.eval_splits}
    self._count = len(dataset.train_labels)
    self._per_epoch = pipeline.steps_per_epoch(self._count, global_batch)
    self._epoch, self._perm = None, None
    self._first_epoch, self._perms, self._epoch_perms = None, None, {}

  def train(self, step: int) -> tuple:
    epoch = step // self._per_epoch
    if epoch != self._epoch:
      self._epoch = epoch
      self._perm = self._put(pipeline.epoch_permutation(self._seed, epoch, self._count))
    return self._train, self._perm

  def steps(self, step: int, steps: int) -> tuple:
    """The inputs of step.make_steps_per_call for steps [step, step + steps): the permutations of
    every epoch they touch, as a fixed number of rows so that one program serves every call."""
    first = step // self._per_epoch
    rows = (steps - 1) // self._per_epoch + 2
    if self._first_epoch != first:
      self._first_epoch = first
      # Each epoch's permutation is drawn once (consecutive calls share epochs) and stacked on
      # the device: fetching them to the host would wait for the call still running.
      self._epoch_perms = {e: self._epoch_perms[e] if e in self._epoch_perms else
                           pipeline.epoch_permutation(self._seed, e, self._count)
                           for e in range(first, first + rows)}
      self._perms = self._put(jnp.stack(list(self._epoch_perms.values())))
    return self._train, self._perms, self._put(np.int32(first))

  def eval(self, start: int, split: str = 'test') -> tuple:
    return self._eval[split], self._put(np.int32(start))


class HostBatchInputs:

  def __init__(self, devices: tuple, axis_name: str, dataset: Dataset, seed: int,
               global_batch: int, eval_batch: int, slices: int = 1):
    mesh = Mesh(np.array(devices), (axis_name,))
    self._train = feed.ProcessFeed(dataset.train_images, dataset.train_labels, seed,
                                   global_batch, mesh, axis_name, slices)
    self._eval = {split: feed.ProcessFeed(*dataset.split(split), seed, eval_batch, mesh,
                                          axis_name) for split in dataset.eval_splits}

  def train(self, step: int) -> tuple:
    return (self._train.train_batch(step),)

  def eval(self, start: int, split: str = 'test') -> tuple:
    return (self._eval[split].eval_batch(start),)
