"""Datasets by name. Each loader returns a `Dataset`: NHWC images or feature vectors, with
integer class labels or (regression) real-valued targets."""
from research.data import cifar10, digits, mnist, synthetic, tabular
from research.data.dataset import Dataset
from research.errors import UserError

# Each dataset's number of classes, known before it is loaded (so a config is checked without
# the data); 0: real-valued targets.
NUM_CLASSES = {'digits': 10, 'fashion_mnist': 10, 'mnist': 10, 'cifar10': 10, 'synthetic': 10,
               'breast_cancer': 2, 'diabetes': 0, 'synthetic_regression': 0}
NAMES = tuple(NUM_CLASSES)
# Each image dataset's (height, width, channels), likewise known before it is loaded.
IMAGE_SHAPES = {'digits': (8, 8, 1), 'fashion_mnist': (28, 28, 1), 'mnist': (28, 28, 1),
                'cifar10': (32, 32, 3), 'synthetic': (8, 8, 1)}


def load_dataset(name: str, data_dir: str = '', download: bool = True) -> Dataset:
  """Loads a dataset by name; `data_dir` and `download` apply to file-based sources."""
  if name == 'digits':
    return digits.load_digits()
  if name == 'synthetic':
    return synthetic.load_synthetic()
  if name == 'synthetic_regression':
    return synthetic.load_synthetic_regression()
  if name == 'diabetes':
    return tabular.load_diabetes()
  if name == 'breast_cancer':
    return tabular.load_breast_cancer()
  if name in mnist.SOURCES:
    return mnist.load_idx_dataset(mnist.SOURCES[name], data_dir, download)
  if name == 'cifar10':
    return cifar10.load_cifar10(data_dir, download)
  raise UserError(f'data={name!r} is not a dataset; choose one of {", ".join(NAMES)}')
