"""MNIST and Fashion-MNIST from their official IDX files: found locally, or downloaded.

Where to look, in order: `data_dir` if given; otherwise the Debian package's folder
(`apt-get install dataset-fashion-mnist`) and a per-user cache. When the files are nowhere and
`download` is on, they are fetched into `data_dir` (or the cache) and verified by sha256 first.
"""
import dataclasses
import os
import pathlib
import sys

from research.data import download as download_lib
from research.data import idx
from research.data.dataset import Dataset, make_dataset
from research.errors import DataError

SPLITS = {'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
          'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}


@dataclasses.dataclass(frozen=True)
class IdxSource:
  """Where an IDX dataset lives and how to recognise its files.

  sha256: file name (without .gz) -> digest. With `gunzip` the digest is over the decompressed
  content, which accepts re-compressed copies; otherwise over the .gz file as published.
  """
  name: str
  urls: tuple[str, ...]
  sha256: dict[str, str]
  gunzip: bool
  local_dirs: tuple[str, ...] = ()


FASHION_MNIST = IdxSource(
    name='fashion_mnist',
    urls=('http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',),
    # Over the decompressed content; the published md5 sums are over one particular gzip.
    sha256={
        'train-images-idx3-ubyte': 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
        'train-labels-idx1-ubyte': 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
        't10k-images-idx3-ubyte': '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
        't10k-labels-idx1-ubyte': '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
    },
    gunzip=True,
    local_dirs=('/usr/share/datasets/fashion-mnist',))

MNIST = IdxSource(
    name='mnist',
    urls=('https://ossci-datasets.s3.amazonaws.com/mnist/',
          'https://storage.googleapis.com/cvdf-datasets/mnist/'),
    sha256={
        'train-images-idx3-ubyte': '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609',
        'train-labels-idx1-ubyte': '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c',
        't10k-images-idx3-ubyte': '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6',
        't10k-labels-idx1-ubyte': 'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6',
    },
    gunzip=False,
    local_dirs=('/usr/share/datasets/mnist',))

SOURCES = {s.name: s for s in (MNIST, FASHION_MNIST)}


def cache_dir(name: str) -> pathlib.Path:
  root = os.environ.get('XDG_CACHE_HOME') or pathlib.Path.home() / '.cache'
  return pathlib.Path(root) / 'research' / name


def _find(stem: str, folders: list[pathlib.Path]) -> pathlib.Path | None:
  for folder in folders:
    for candidate in (folder / f'{stem}.gz', folder / stem):
      if candidate.is_file():
        return candidate
  return None


def _read_verified(source: IdxSource, stem: str, path: pathlib.Path):
  content = idx.read_bytes(path)  # decompressed; a broken gzip stream is a DataError here
  array = idx.parse_idx(content, name=str(path))  # names structural damage precisely
  # A published .gz digest says nothing about an uncompressed copy: check what can be checked,
  # and say so where nothing can.
  if source.gunzip:
    actual = download_lib.sha256_hex(content)
  elif path.suffix == '.gz':
    actual = download_lib.sha256_hex(path.read_bytes())
  else:
    print(f'warning: {path} is not verified: {source.name} publishes checksums of its .gz '
          'files only', file=sys.stderr)
    return array
  if actual != source.sha256[stem]:
    raise DataError(f'{path}: checksum mismatch (sha256 {actual}, expected '
                    f'{source.sha256[stem]}); the file is corrupt or not the official one')
  return array


def locate(source: IdxSource, data_dir: str, download: bool) -> dict[str, pathlib.Path]:
  """Paths of the four files, downloading what is missing when allowed."""
  folders = ([pathlib.Path(data_dir)] if data_dir else
             [pathlib.Path(d) for d in source.local_dirs] + [cache_dir(source.name)])
  stems = [stem for pair in SPLITS.values() for stem in pair]
  found = {stem: _find(stem, folders) for stem in stems}
  missing = [stem for stem, path in found.items() if path is None]
  if missing and not download:
    raise DataError(f'{source.name}: {missing[0]} not found in '
                    f'{", ".join(map(str, folders))} (download=False)')
  for stem in missing:
    dest = folders[-1] / f'{stem}.gz'
    errors = []
    for base in source.urls:
      try:
        found[stem] = download_lib.fetch(base + f'{stem}.gz', dest, source.sha256[stem],
                                         gunzip=source.gunzip)
        break
      except DataError as e:
        errors.append(str(e))
    else:
      raise DataError(f'{source.name}: {stem} not found in {", ".join(map(str, folders))} and '
                      f'could not be downloaded ({errors[-1]})')
  return found


def load_idx_dataset(source: IdxSource, data_dir: str = '', download: bool = True) -> Dataset:
  paths = locate(source, data_dir, download)
  arrays = {stem: _read_verified(source, stem, path) for stem, path in paths.items()}
  (train_x, train_y), (test_x, test_y) = [(arrays[a], arrays[b]) for a, b in SPLITS.values()]
  for x, y, split in ((train_x, train_y, 'train'), (test_x, test_y, 'test')):
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
      raise DataError(f'{source.name}: {split} images {x.shape} and labels {y.shape} do not '
                      'match (expected N x H x W images and N labels)')
  return make_dataset(source.name, train_x, train_y, test_x, test_y, num_classes=10)
