"""Datasets by name. Each loader returns a `Dataset` of NHWC images and integer labels."""
from research.data import cifar10, digits, mnist, synthetic
from research.data.dataset import Dataset
from research.errors import UserError

NAMES = ('digits', 'fashion_mnist', 'mnist', 'cifar10', 'synthetic')


def load_dataset(name: str, data_dir: str = '', download: bool = True) -> Dataset:
  """Loads a dataset by name; `data_dir` and `download` apply to file-based sources."""
  if name == 'digits':
    return digits.load_digits()
  if name == 'synthetic':
    return synthetic.load_synthetic()
  if name in mnist.SOURCES:
    return mnist.load_idx_dataset(mnist.SOURCES[name], data_dir, download)
  if name == 'cifar10':
    return cifar10.load_cifar10(data_dir)
  raise UserError(f'data={name!r} is not a dataset; choose one of {", ".join(NAMES)}')
