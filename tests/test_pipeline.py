"""The input pipeline and augmentation: pure functions of (seed, step), device-count free."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, PartitionSpec as P

from research.data import augment, pipeline
from research.data.dataset import make_dataset


def _tiny_dataset(n=40):
  images = np.arange(n * 4 * 4, dtype=np.float32).reshape(n, 4, 4) % 251
  return make_dataset('tiny', images, np.arange(n) % 10, images[:8], np.arange(8), 10)


def _on_devices(fn, num_devices, *args):
  """Runs fn on each device's share under shard_map and returns the concatenated outputs."""
  mesh = Mesh(np.array(jax.devices()[:num_devices]), ('batch',))
  mapped = jax.shard_map(fn, mesh=mesh, in_specs=P(), out_specs=P('batch'), check_vma=False)
  return np.asarray(jax.jit(mapped)(*args))


def test_epoch_permutation_is_a_permutation_and_deterministic():
  perm = np.asarray(pipeline.epoch_permutation(3, 7, 100))
  assert sorted(perm.tolist()) == list(range(100))
  np.testing.assert_array_equal(perm, pipeline.epoch_permutation(3, 7, 100))
  assert not np.array_equal(perm, pipeline.epoch_permutation(3, 8, 100))
  assert not np.array_equal(perm, pipeline.epoch_permutation(4, 7, 100))


def test_an_epoch_visits_every_example_once():
  data = pipeline.split_arrays(_tiny_dataset(), 'train')
  perm = pipeline.epoch_permutation(0, 0, 40)
  seen = [np.asarray(pipeline.local_train_batch(data, perm, t, 8, 8, None)[1]) for t in range(5)]
  images = [np.asarray(pipeline.local_train_batch(data, perm, t, 8, 8, None)[0]) for t in range(5)]
  assert len({im.tobytes() for im in np.concatenate(images)}) == 40
  assert len(np.concatenate(seen)) == 40


def test_global_batch_is_the_same_on_any_device_count():
  data = pipeline.split_arrays(_tiny_dataset(), 'train')
  perm = pipeline.epoch_permutation(0, 0, 40)
  reference = None
  for devices in (1, 2, 4, 8):
    batch = functools.partial(pipeline.local_train_batch, global_batch=16,
                              local_batch=16 // devices, axis_name='batch')
    images = _on_devices(lambda d, p, s: batch(d, p, s)[0], devices, data, perm, jnp.int32(1))
    if reference is None:
      reference = images
    np.testing.assert_array_equal(images, reference)


def test_eval_batches_pad_and_mask_past_the_end():
  data = pipeline.split_arrays(_tiny_dataset(), 'test')  # 8 examples
  _, labels, mask = pipeline.local_eval_batch(data, 6, 4, None)
  assert np.asarray(mask).tolist() == [True, True, False, False]
  assert np.asarray(labels)[:2].tolist() == [6, 7]


def test_inactive_augmentation_is_the_identity():
  x = jnp.ones((2, 4, 4, 1))
  assert augment.augment_batch(x, jax.random.key(0), augment.AugmentConfig()) is x


def test_flip_and_translate_are_exact():
  image = jnp.arange(16.0).reshape(1, 4, 4, 1)
  key = jax.random.key(0)
  flipped = augment.augment_batch(jnp.repeat(image, 64, 0), key, augment.AugmentConfig(flip=True))
  for out in np.asarray(flipped):
    assert np.array_equal(out, image[0]) or np.array_equal(out, image[0, :, ::-1])
  shifted = np.asarray(augment.augment_batch(jnp.repeat(image, 64, 0), key,
                                             augment.AugmentConfig(translate=1)))
  for out in shifted:  # every output is the image moved by whole pixels, zeros filled in
    ok = False
    for dy in (-1, 0, 1):
      for dx in (-1, 0, 1):
        expected = np.zeros((4, 4))
        src = np.asarray(image[0, :, :, 0])
        ys, xs = slice(max(dy, 0), 4 + min(dy, 0)), slice(max(dx, 0), 4 + min(dx, 0))
        yd, xd = slice(max(-dy, 0), 4 + min(-dy, 0)), slice(max(-dx, 0), 4 + min(-dx, 0))
        expected[ys, xs] = src[yd, xd]
        ok |= np.allclose(out[..., 0], expected, atol=1e-5)
    assert ok


def test_vertical_flip_and_cutout_are_exact():
  image = jnp.arange(1.0, 37.0).reshape(1, 6, 6, 1)
  batch = jnp.repeat(image, 64, 0)
  key = jax.random.key(3)
  flipped = np.asarray(augment.augment_batch(batch, key, augment.AugmentConfig(vflip=True)))
  kinds = [np.array_equal(out, image[0]) or np.array_equal(out, image[0, ::-1]) or None
           for out in flipped]
  assert None not in kinds and 10 < sum(np.array_equal(o, image[0]) for o in flipped) < 54
  cut = np.asarray(augment.augment_batch(batch, key, augment.AugmentConfig(cutout=2)))
  for out in cut[..., 0]:  # a 2 x 2 square (cut by the border to 1 x 1 or 1 x 2) is zero
    zeros = np.argwhere(out == 0)
    assert 1 <= len(zeros) <= 4 and np.ptp(zeros, axis=0).max() <= 1
    kept = out != 0
    np.testing.assert_array_equal(out[kept], np.asarray(image[0, ..., 0])[kept])


def test_a_traced_strength_draws_as_the_fixed_one_and_zero_is_the_identity():
  """What an ensemble sweeping an augmentation's strength relies on (research/train/ensemble)."""
  images = jax.random.normal(jax.random.key(1), (8, 8, 8, 1))
  key = jax.random.key(2)
  for field, value in (('flip', 1.0), ('vflip', 1.0), ('translate', 2.0), ('rotate', 20.0),
                       ('noise', 0.5), ('cutout', 3.0)):
    fixed = {'flip': True, 'vflip': True, 'translate': 2, 'cutout': 3}.get(field, value)
    static = augment.augment_batch(images, key, augment.AugmentConfig(**{field: fixed}))
    traced = jax.jit(lambda s, f=field: augment.augment_batch(
        images, key, augment.AugmentConfig(**{f: s})))
    np.testing.assert_allclose(traced(jnp.float32(value)), static, atol=1e-5, err_msg=field)
    np.testing.assert_array_equal(traced(jnp.float32(0.0)), images, err_msg=field)


def test_augmentation_draws_do_not_depend_on_device_count():
  cfg = augment.AugmentConfig(flip=True, translate=2, rotate=10.0, scale=0.1, brightness=0.1,
                              contrast=0.1, noise=0.1, vflip=True, cutout=3)
  images = jax.random.normal(jax.random.key(1), (16, 8, 8, 1))
  key = jax.random.key(2)
  results = []
  for devices in (1, 8):
    lb = 16 // devices
    fn = lambda x, k: augment.augment_batch(
        jax.lax.dynamic_slice_in_dim(x, jax.lax.axis_index('batch') * lb, lb), k, cfg, 'batch')
    results.append(_on_devices(fn, devices, images, key))
  np.testing.assert_allclose(results[0], results[1], rtol=1e-6, atol=1e-6)
  assert not np.allclose(results[0], np.asarray(images))


def test_per_pixel_mean_normalisation():
  """He et al.'s per-pixel mean: every pixel position of the normalised training set has mean 0;
  one scalar scale makes the whole set's std 1."""
  from research.data import load_dataset
  from research.data.dataset import with_normalization
  dataset = with_normalization(load_dataset('digits'), 'pixel_mean')
  x = np.asarray(pipeline.normalize(dataset.train_images, dataset.mean, dataset.std), np.float64)
  np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)
  assert x.std() == pytest.approx(1.0, rel=1e-5)
  assert dataset.mean.shape == (8, 8, 1)
