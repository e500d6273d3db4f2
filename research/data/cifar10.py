"""CIFAR-10 in its official binary format ("CIFAR-10 binary version").

Five training batches `data_batch_{1..5}.bin` and `test_batch.bin`; each record is one label
byte followed by 3,072 pixel bytes (1,024 red, 1,024 green, 1,024 blue, row-major 32x32).
Never the "python version": that is a pickle, and unpickling untrusted files runs code.

Found in `data_dir` (or its cifar-10-batches-bin/), or, with no data_dir, in the per-user cache;
when missing and `download` is on, the official archive is fetched, verified by sha256 before
it is used, and only its six batch files are taken out of it (never paths the archive names).
"""
import os
import pathlib
import tarfile
import tempfile

import numpy as np

from research.data import download as download_lib
from research.data.dataset import Dataset, make_dataset
from research.data.mnist import cache_dir
from research.errors import DataError

ARCHIVE_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz'
# 170,052,171 bytes; the official page gives its MD5, c32a1d4ab5d03f1284b67883e8d87530.
ARCHIVE_SHA256 = 'c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd'
FOLDER = 'cifar-10-batches-bin'

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


def _complete(folder: pathlib.Path) -> bool:
  return all((folder / f).is_file() for f in TRAIN_FILES + TEST_FILES)


def find_dir(data_dir: str) -> pathlib.Path | None:
  root = pathlib.Path(data_dir) if data_dir else cache_dir('cifar10')
  return next((c for c in (root / FOLDER, root) if _complete(c)), None)


def extract_batches(archive: pathlib.Path, root: pathlib.Path) -> pathlib.Path:
  """The six batch files of the official archive, written to root/cifar-10-batches-bin."""
  folder = root / FOLDER
  folder.mkdir(parents=True, exist_ok=True)
  try:
    with tarfile.open(archive, 'r:gz') as tar:
      for name in TRAIN_FILES + TEST_FILES:
        member = tar.getmember(f'{FOLDER}/{name}')
        if not member.isfile():
          raise DataError(f'{archive}: {member.name} is not a regular file')
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=name + '.', suffix='.part')
        with os.fdopen(fd, 'wb') as out:
          out.write(tar.extractfile(member).read())
        os.replace(tmp, folder / name)
  except (KeyError, tarfile.TarError, OSError) as e:
    raise DataError(f'{archive}: not the CIFAR-10 binary archive ({e})') from None
  return folder


def locate(data_dir: str, download: bool) -> pathlib.Path:
  found = find_dir(data_dir)
  if found is not None:
    return found
  root = pathlib.Path(data_dir) if data_dir else cache_dir('cifar10')
  where = f'no binary batches (data_batch_1.bin ... test_batch.bin) in {root} or its {FOLDER}/'
  if not download:
    raise DataError(f'cifar10: {where} (download=False): download the binary version '
                    f'({ARCHIVE_URL}), unpack it and set data_dir= to where it is')
  try:
    archive = download_lib.fetch(ARCHIVE_URL, root / 'cifar-10-binary.tar.gz', ARCHIVE_SHA256,
                                 timeout_s=300)
  except DataError as e:
    raise DataError(f'cifar10: {where}, and {e}; fetch {ARCHIVE_URL} where a network is, '
                    'unpack it and set data_dir=') from None
  folder = extract_batches(archive, root)
  archive.unlink()
  return folder


def load_cifar10(data_dir: str = '', download: bool = True) -> Dataset:
  folder = locate(data_dir, download)
  train = [read_batch(folder / f) for f in TRAIN_FILES]
  test_images, test_labels = read_batch(folder / TEST_FILES[0])
  return make_dataset('cifar10', np.concatenate([im for im, _ in train]),
                      np.concatenate([lb for _, lb in train]), test_images, test_labels,
                      num_classes=10)
