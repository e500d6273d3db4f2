"""A synthetic image-classification set: noisy copies of one random template per class.

Fully determined by its arguments, so it serves tests and timing runs anywhere. The noise level
sets the difficulty; at the default a linear model cannot separate it perfectly.
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
