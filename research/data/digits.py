"""scikit-learn's 8x8 handwritten digits: 1,797 real images shipped inside the package.

The embedded default dataset: no download, no files. The split is fixed and needs no random
numbers: every fifth image (index % 5 == 0) is a test image, giving 1,437 train and 360 test.
"""
import importlib.util
import pathlib

import numpy as np

from research.data.dataset import Dataset, make_dataset


def _csv_path() -> pathlib.Path:
  # The file sklearn.datasets.load_digits reads, found without importing scikit-learn, whose
  # import takes longer than the rest of a warm run's start.
  package = importlib.util.find_spec('sklearn').submodule_search_locations[0]
  return pathlib.Path(package) / 'datasets' / 'data' / 'digits.csv.gz'


def load_digits() -> Dataset:
  table = np.loadtxt(_csv_path(), delimiter=',')  # 1,797 rows: 64 pixels, then the label
  images = table[:, :-1].reshape(-1, 8, 8).astype(np.uint8)  # values 0..16, exact
  labels = table[:, -1].astype(np.int64)
  is_test = np.arange(len(labels)) % 5 == 0
  return make_dataset('digits', images[~is_test], labels[~is_test], images[is_test],
                      labels[is_test], num_classes=10)
