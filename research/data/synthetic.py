"""Synthetic sets, fully determined by their arguments, so they serve tests and timing runs
anywhere.

- `load_synthetic`: image classification, noisy copies of one random template per class. The
  noise level sets the difficulty; at the default a linear model cannot separate it perfectly.
- `load_synthetic_regression`: a linear target with Gaussian noise, a fraction of whose
  training targets are replaced by gross outliers; the test targets stay clean, so a test
  error measures how well the clean relation was learned.
"""
import numpy as np

from research.data.dataset import Dataset, make_dataset


def load_synthetic(num_classes: int = 10, image_size: int = 8, channels: int = 1,
                   num_train: int = 2048, num_test: int = 512, noise: float = 2.0,
                   seed: int = 0) -> Dataset:
  rng = np.random.default_rng(seed)
  templates = rng.standard_normal((num_classes, image_size, image_size, channels))

  def draw(n):
    labels = rng.integers(0, num_classes, size=n)
    noise_draw = noise * rng.standard_normal((n, image_size, image_size, channels))
    return (templates[labels] + noise_draw).astype(np.float32), labels

  train_images, train_labels = draw(num_train)
  test_images, test_labels = draw(num_test)
  return make_dataset('synthetic', train_images, train_labels, test_images, test_labels,
                      num_classes)


def load_synthetic_regression(outlier_fraction: float = 0.1, features: int = 8,
                              num_train: int = 1024, num_test: int = 512, noise: float = 0.5,
                              outlier_scale: float = 20.0, seed: int = 0) -> Dataset:
  """y = x . w + noise, x ~ N(0, I); in the training split a fixed `outlier_fraction` of the
  targets is shifted by +-outlier_scale times the target's std (one sign per outlier, at
  random)."""
  rng = np.random.default_rng(seed)
  weights_F = rng.standard_normal(features)
  x_NxF = rng.standard_normal((num_train + num_test, features)).astype(np.float32)
  y_N = x_NxF @ weights_F + noise * rng.standard_normal(num_train + num_test)
  outliers = rng.permutation(num_train)[:round(outlier_fraction * num_train)]
  signs = rng.choice((-1.0, 1.0), size=len(outliers))
  y_N[outliers] += signs * outlier_scale * y_N[:num_train].std()
  return make_dataset('synthetic_regression', x_NxF[:num_train], y_N[:num_train],
                      x_NxF[num_train:], y_N[num_train:], num_classes=0)
