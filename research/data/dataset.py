"""The in-memory form of every image-classification dataset: arrays plus what describes them."""
import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Train and test splits as NHWC arrays (uint8 where the source is 8-bit; a tabular set's
  examples are feature vectors), with int32 class labels, or float32 targets where
  num_classes is 0 (a regression set).

  `mean` and `std` are per-channel statistics of the training images in their stored units; the
  pipeline normalises with them on the device, so the stored arrays stay compact.
  """
  name: str
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  num_classes: int
  mean: np.ndarray
  std: np.ndarray
  val_images: np.ndarray | None = None  # a validation split held out of the training data
  val_labels: np.ndarray | None = None  # (research/data/splits.py), or none

  @property
  def image_shape(self) -> tuple[int, ...]:
    return tuple(self.train_images.shape[1:])

  @property
  def eval_splits(self) -> tuple[str, ...]:
    """The splits a run evaluates: validation (when held out), then test."""
    return ('val', 'test') if self.val_labels is not None else ('test',)

  def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of 'train', 'val' or 'test'."""
    return getattr(self, f'{name}_images'), getattr(self, f'{name}_labels')


def make_dataset(name, train_images, train_labels, test_images, test_labels,
                 num_classes) -> Dataset:
  """Builds a `Dataset`, adding a channel axis to grey images and computing per-channel (or
  per-feature) statistics; num_classes=0 keeps real-valued targets."""
  if train_images.ndim == 3:
    train_images, test_images = train_images[..., None], test_images[..., None]
  target_dtype = np.int32 if num_classes else np.float32
  pixels = train_images.reshape(-1, train_images.shape[-1]).astype(np.float64)
  std = pixels.std(axis=0)
  return Dataset(
      name=name,
      train_images=train_images, train_labels=train_labels.astype(target_dtype),
      test_images=test_images, test_labels=test_labels.astype(target_dtype),
      num_classes=num_classes,
      mean=pixels.mean(axis=0).astype(np.float32),
      std=np.where(std > 0, std, 1.0).astype(np.float32))


NORMALIZATIONS = ('channel', 'pixel_mean', 'unit')


def with_normalization(dataset: Dataset, kind: str) -> Dataset:
  """The dataset with the statistics the pipeline normalises by:
    channel:    (x - mean_C) / std_C, per-channel statistics (the default);
    pixel_mean: (x - mean_HxWxC) / std, the per-pixel mean He et al. (2015) subtract on
                CIFAR-10. The paper gives no scale; dividing by the std that remains is ours
                (with BatchNorm after the first convolution it sets only that layer's
                effective learning rate);
    unit:       x / max, the training images' largest value: pixels in [0, 1], the targets a
                binary cross-entropy reconstruction needs."""
  if kind == 'channel':
    return dataset
  if kind == 'unit':
    top = float(dataset.train_images.max())
    return dataclasses.replace(dataset, mean=np.zeros((1,), np.float32),
                               std=np.full((1,), top if top > 0 else 1.0, np.float32))
  if kind != 'pixel_mean':
    raise ValueError(f'normalisation {kind!r} is unknown; choose one of '
                     f'{", ".join(NORMALIZATIONS)}')
  pixels = dataset.train_images.astype(np.float64)
  mean = pixels.mean(axis=0)
  std = (pixels - mean).std()
  return dataclasses.replace(dataset, mean=mean.astype(np.float32),
                             std=np.full((1,), std if std > 0 else 1.0, np.float32))
