"""scikit-learn's 8x8 handwritten digits: 1,797 real images shipped inside the package.

The embedded default dataset: no download, no files. The split is fixed and needs no random
numbers: every fifth image (index % 5 == 0) is a test image, giving 1,437 train and 360 test.
"""
import numpy as np
from sklearn import datasets as sk_datasets

from research.data.dataset import Dataset, make_dataset


def load_digits() -> Dataset:
  bunch = sk_datasets.load_digits()
  images = bunch.images.astype(np.uint8)  # values 0..16, exact in uint8
  labels = bunch.target
  is_test = np.arange(len(labels)) % 5 == 0
  return make_dataset('digits', images[~is_test], labels[~is_test], images[is_test],
                      labels[is_test], num_classes=10)
