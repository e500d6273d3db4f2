"""CIFAR-10 in its official binary format ("CIFAR-10 binary version").

Five training batches `data_batch_{1..5}.bin` and `test_batch.bin`; each record is one label
byte followed by 3,072 pixel bytes (1,024 red, 1,024 green, 1,024 blue, row-major 32x32).
Never the "python version": that is a pickle, and unpickling untrusted files runs code.
"""
import pathlib

import numpy as np

from research.data.dataset import Dataset, make_dataset
from research.errors import DataError

_RECORD = 1 + 32 * 32 * 3
TRAIN_FILES = tuple(f'data_batch_{i}.bin' for i in range(1, 6))
TEST_FILES = ('test_batch.bin',)


def read_batch(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
  """Reads one binary batch file into (images NHWC uint8, labels)."""
  raw = np.fromfile(path, dtype=np.uint8)
  if raw.size == 0 or raw.size % _RECORD:
    raise DataError(f'{path}: not a CIFAR-10 binary batch ({raw.size} bytes is not a '
                    f'positive multiple of the {_RECORD}-byte record)')
  records = raw.reshape(-1, _RECORD)
  labels = records[:, 0]
  if labels.max() > 9:
    raise DataError(f'{path}: corrupt CIFAR-10 batch (label {labels.max()} outside 0..9)')
  images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
  return np.ascontiguousarray(images), labels


def find_dir(data_dir: str) -> pathlib.Path:
  candidates = [pathlib.Path(data_dir) / 'cifar-10-batches-bin', pathlib.Path(data_dir)]
  for candidate in candidates:
    if all((candidate / f).is_file() for f in TRAIN_FILES + TEST_FILES):
      return candidate
  raise DataError(f'cifar10: no binary batches (data_batch_1.bin ... test_batch.bin) in '
                  f'{data_dir or "."!s} or its cifar-10-batches-bin/: download the binary '
                  'version (cifar-10-binary.tar.gz) from https://www.cs.toronto.edu/~kriz/'
                  'cifar.html, unpack it and set data_dir= to where it is')


def load_cifar10(data_dir: str) -> Dataset:
  folder = find_dir(data_dir)
  train = [read_batch(folder / f) for f in TRAIN_FILES]
  test_images, test_labels = read_batch(folder / TEST_FILES[0])
  return make_dataset('cifar10', np.concatenate([im for im, _ in train]),
                      np.concatenate([lb for _, lb in train]), test_images, test_labels,
                      num_classes=10)
