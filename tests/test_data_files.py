"""File formats and sources: IDX, CIFAR-10 binary, downloads, and every way a file goes bad."""
import functools
import gzip
import http.server
import pathlib
import threading

import numpy as np
import pytest

from research.data import cifar10, digits, idx, load_dataset, mnist
from research.errors import DataError, UserError


def _source(sums, urls=(), gunzip=True):
  return mnist.IdxSource(name='tiny', urls=urls, sha256=sums, gunzip=gunzip)


def test_idx_round_trip_all_types(tmp_path):
  for dtype in (np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    for name in ('a.idx', 'a.idx.gz'):
      idx.write_idx(tmp_path / name, array)
      np.testing.assert_array_equal(idx.parse_idx(idx.read_bytes(tmp_path / name)), array)


@pytest.mark.parametrize('content, message', [
    (b'\x00\x00', 'truncated IDX file'),
    (b'\x12\x34\x08\x01' + b'\x00' * 8, 'bad magic number'),
    (b'\x00\x00\x42\x01' + b'\x00' * 8, 'bad magic number'),
    (b'\x00\x00\x08\x03\x00\x00', 'truncated IDX header'),
    (b'\x00\x00\x08\x01\x00\x00\x00\x05' + b'\x01\x02', 'IDX file truncated'),
    (b'\x00\x00\x08\x01\x00\x00\x00\x01' + b'\x01\x02', 'trailing bytes'),
])
def test_bad_idx_content_is_a_data_error(content, message):
  with pytest.raises(DataError, match=message):
    idx.parse_idx(content)


def test_broken_gzip_is_a_data_error(tmp_path):
  path = tmp_path / 'x.gz'
  path.write_bytes(gzip.compress(b'\x00\x00\x08\x01\x00\x00\x00\x01\x07')[:-6])
  with pytest.raises(DataError, match='corrupt or truncated gzip'):
    idx.read_bytes(path)


def test_idx_source_loads_and_verifies(tiny_idx_dir):
  folder, arrays, sums = tiny_idx_dir
  ds = mnist.load_idx_dataset(_source(sums), str(folder), download=False)
  np.testing.assert_array_equal(ds.train_images[..., 0], arrays['train-images-idx3-ubyte'])
  np.testing.assert_array_equal(ds.test_labels, arrays['t10k-labels-idx1-ubyte'])
  assert ds.image_shape == (28, 28, 1)


def test_checksum_mismatch_is_named(tiny_idx_dir):
  folder, _, sums = tiny_idx_dir
  bad = dict(sums, **{'t10k-labels-idx1-ubyte': '0' * 64})
  with pytest.raises(DataError, match='t10k-labels.*checksum mismatch'):
    mnist.load_idx_dataset(_source(bad), str(folder), download=False)


def test_uncompressed_copy_of_a_gz_checksummed_source_is_loaded_with_a_warning(tmp_path,
                                                                                capfd):
  """MNIST publishes digests of its .gz files: an uncompressed copy cannot be verified, and the
  loader says so instead of comparing a digest with itself."""
  rng = np.random.default_rng(1)
  for stem, shape in (('train-images-idx3-ubyte', (4, 28, 28)), ('train-labels-idx1-ubyte', (4,)),
                      ('t10k-images-idx3-ubyte', (2, 28, 28)), ('t10k-labels-idx1-ubyte', (2,))):
    idx.write_idx(tmp_path / stem, rng.integers(0, 10, shape, dtype=np.uint8))
  sums = {stem: '0' * 64 for stem in ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte',
                                      't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}
  ds = mnist.load_idx_dataset(_source(sums, gunzip=False), str(tmp_path), download=False)
  assert len(ds.train_labels) == 4
  assert capfd.readouterr().err.count('is not verified') == 4


def test_missing_files_without_download(tmp_path):
  with pytest.raises(DataError, match='not found.*download=False'):
    mnist.load_idx_dataset(_source({}), str(tmp_path), download=False)


@pytest.fixture
def http_server(tiny_idx_dir):
  """Serves the tiny IDX files on loopback, as a dataset mirror would."""
  folder = tiny_idx_dir[0]
  handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
  handler.log_message = lambda *a: None
  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  yield f'http://127.0.0.1:{server.server_address[1]}/'
  server.shutdown()


def test_download_from_loopback_mirror_verifies_sha256(http_server, tiny_idx_dir, tmp_path):
  _, arrays, sums = tiny_idx_dir
  dest = tmp_path / 'downloaded'
  ds = mnist.load_idx_dataset(_source(sums, urls=(http_server,)), str(dest), download=True)
  np.testing.assert_array_equal(ds.train_labels, arrays['train-labels-idx1-ubyte'])
  assert sorted(p.name for p in dest.iterdir()) == sorted(f'{s}.gz' for s in sums)


def test_download_with_wrong_checksum_leaves_nothing(http_server, tiny_idx_dir, tmp_path):
  sums = dict(tiny_idx_dir[2], **{'train-images-idx3-ubyte': 'f' * 64})
  dest = tmp_path / 'downloaded'
  with pytest.raises(DataError, match='checksum mismatch'):
    mnist.load_idx_dataset(_source(sums, urls=(http_server,)), str(dest), download=True)
  assert not (dest / 'train-images-idx3-ubyte.gz').exists()
  assert not list(dest.glob('*.part'))


def test_download_failure_is_one_clear_error(tmp_path):
  unreachable = ('http://127.0.0.1:9/',)  # the discard port: connection refused
  with pytest.raises(DataError, match='could not be downloaded'):
    mnist.load_idx_dataset(_source({'train-images-idx3-ubyte': '0' * 64}, urls=unreachable),
                           str(tmp_path), download=True)


def _write_cifar(folder, n_per_file=5):
  rng = np.random.default_rng(1)
  expected = {}
  for name in cifar10.TRAIN_FILES + cifar10.TEST_FILES:
    labels = rng.integers(0, 10, n_per_file, dtype=np.uint8)
    images = rng.integers(0, 256, (n_per_file, 32, 32, 3), dtype=np.uint8)
    planes = images.transpose(0, 3, 1, 2).reshape(n_per_file, -1)
    (folder / name).write_bytes(np.concatenate([labels[:, None], planes], 1).tobytes())
    expected[name] = (images, labels)
  return expected


def test_cifar10_binary_batches(tmp_path):
  folder = tmp_path / 'cifar-10-batches-bin'
  folder.mkdir()
  expected = _write_cifar(folder)
  ds = cifar10.load_cifar10(str(tmp_path))
  assert ds.train_images.shape == (25, 32, 32, 3) and ds.test_images.shape == (5, 32, 32, 3)
  np.testing.assert_array_equal(ds.test_images, expected['test_batch.bin'][0])
  np.testing.assert_array_equal(ds.train_labels[:5], expected['data_batch_1.bin'][1])


def test_cifar10_bad_files(tmp_path):
  _write_cifar(tmp_path)
  (tmp_path / 'data_batch_3.bin').write_bytes(b'\x00' * 100)
  with pytest.raises(DataError, match='not a CIFAR-10 binary batch'):
    cifar10.load_cifar10(str(tmp_path))
  with pytest.raises(DataError, match='no binary batches'):
    cifar10.load_cifar10(str(tmp_path / 'nowhere'), download=False)


def test_digits_split_is_fixed():
  ds = digits.load_digits()
  assert (len(ds.train_labels), len(ds.test_labels)) == (1437, 360)
  assert ds.train_images.dtype == np.uint8 and ds.image_shape == (8, 8, 1)


def test_unknown_dataset_name():
  with pytest.raises(UserError, match="data='imagenet' is not a dataset"):
    load_dataset('imagenet')


@pytest.mark.skipif(not mnist.pathlib.Path('/usr/share/datasets/fashion-mnist').is_dir(),
                    reason='Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)')
def test_real_fashion_mnist_from_debian_package():
  ds = load_dataset('fashion_mnist', download=False)
  assert ds.train_images.shape == (60000, 28, 28, 1) and ds.test_images.shape == (10000, 28, 28, 1)
  assert np.bincount(ds.train_labels).tolist() == [6000] * 10


def test_missing_cifar10_says_where_to_get_it(tmp_path):
  with pytest.raises(DataError, match=r'\(download=False\): download the binary version '
                                      r'\(https://www.cs.toronto.edu/~kriz/cifar-10-binary'):
    cifar10.load_cifar10(str(tmp_path), download=False)


def _cifar_archive(tmp_path, skip=''):
  """A tar.gz laid out as the official one, with small batches."""
  import tarfile
  staged = tmp_path / 'staged' / cifar10.FOLDER
  staged.mkdir(parents=True)
  expected = _write_cifar(staged)
  archive = tmp_path / 'official.tar.gz'
  with tarfile.open(archive, 'w:gz') as tar:
    for path in sorted(staged.iterdir()):
      if path.name != skip:
        tar.add(path, arcname=f'{cifar10.FOLDER}/{path.name}')
  return archive, expected


def test_cifar10_is_downloaded_verified_and_only_its_batches_kept(tmp_path, monkeypatch):
  import shutil
  archive, expected = _cifar_archive(tmp_path)
  fetched = []

  def fake_fetch(url, dest, sha256, timeout_s):
    assert url == cifar10.ARCHIVE_URL and sha256 == cifar10.ARCHIVE_SHA256
    fetched.append(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return pathlib.Path(shutil.copy(archive, dest))

  monkeypatch.setattr(cifar10.download_lib, 'fetch', fake_fetch)
  root = tmp_path / 'data'
  ds = cifar10.load_cifar10(str(root))
  np.testing.assert_array_equal(ds.test_images, expected['test_batch.bin'][0])
  assert sorted(p.name for p in (root / cifar10.FOLDER).iterdir()) == sorted(
      cifar10.TRAIN_FILES + cifar10.TEST_FILES)
  assert not (root / 'cifar-10-binary.tar.gz').exists()
  cifar10.load_cifar10(str(root))  # found now: no second download
  assert len(fetched) == 1


def test_cifar10_archive_without_a_batch_or_unreachable_is_one_clear_error(tmp_path, monkeypatch):
  import shutil
  archive, _ = _cifar_archive(tmp_path, skip='test_batch.bin')
  monkeypatch.setattr(cifar10.download_lib, 'fetch',
                      lambda url, dest, sha256, timeout_s: pathlib.Path(shutil.copy(archive, dest)))
  (tmp_path / 'data').mkdir()
  with pytest.raises(DataError, match='not the CIFAR-10 binary archive'):
    cifar10.load_cifar10(str(tmp_path / 'data'))

  def offline(url, dest, sha256, timeout_s):
    raise DataError(f'download of {url} failed: no network')

  monkeypatch.setattr(cifar10.download_lib, 'fetch', offline)
  with pytest.raises(DataError, match=r'and download of .* failed: no network; fetch'):
    cifar10.load_cifar10(str(tmp_path / 'elsewhere'))
