"""scikit-learn's embedded tabular datasets: a feature vector per example, no download.

Each example's "image" is its feature vector (shape F), normalised per feature by the
pipeline as images are per channel. The split is fixed and needs no random numbers, as for
digits: every fifth example (index % 5 == 0) is a test example.
- diabetes: 442 patients, 10 features (raw units), the disease progression a year later as
  a real-valued target (Efron et al. 2004): 353 train, 89 test;
- breast_cancer: 569 tumours, 30 features, malignant (0) or benign (1) (the Wisconsin
  diagnostic data): 455 train, 114 test.
"""
import numpy as np

from research.data.dataset import Dataset, make_dataset


def _split(name: str, features: np.ndarray, targets: np.ndarray, num_classes: int) -> Dataset:
  is_test = np.arange(len(targets)) % 5 == 0
  return make_dataset(name, features[~is_test].astype(np.float32), targets[~is_test],
                      features[is_test].astype(np.float32), targets[is_test], num_classes)


def load_diabetes() -> Dataset:
  from sklearn import datasets  # imported here: it is slow, and only these sets need it
  features, targets = datasets.load_diabetes(return_X_y=True, scaled=False)
  return _split('diabetes', features, targets, num_classes=0)


def load_breast_cancer() -> Dataset:
  from sklearn import datasets
  features, targets = datasets.load_breast_cancer(return_X_y=True)
  return _split('breast_cancer', features, targets, num_classes=2)
