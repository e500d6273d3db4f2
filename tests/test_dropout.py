"""The dropout family (research/nn/dropout.py): statistics, mask structure, identities, and
masks that do not change with the device count."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, PartitionSpec as P

from research.nn import dropout as d

KEY = jax.random.key(0)
RATE = 0.3


def apply(module, x, deterministic=False, key=KEY, **kwargs):
  variables = module.init({'params': KEY, 'dropout': key}, x, True, **kwargs)
  return module.apply(variables, x, deterministic, rngs={'dropout': key}, **kwargs)


def assert_mean_close(values, expected, per_value_std):
  """|mean - expected| within 5 standard errors of the mean of independent draws."""
  values = np.asarray(values, np.float64)
  assert abs(values.mean() - expected) < 5 * per_value_std / np.sqrt(values.size)


UNBIASED = {  # module, input shape, std of one output value for an input of ones
    'standard': (d.Dropout(RATE), (64, 2048), np.sqrt(RATE / (1 - RATE))),
    'gaussian': (d.GaussianDropout(RATE), (64, 2048), np.sqrt(RATE / (1 - RATE))),
    'spatial': (d.SpatialDropout(RATE), (512, 4, 4, 64), np.sqrt(RATE / (1 - RATE))),
    'locked': (d.LockedDropout(RATE), (512, 8, 64), np.sqrt(RATE / (1 - RATE))),
    'stochastic_depth': (d.StochasticDepth(RATE), (8192, 3), np.sqrt(RATE / (1 - RATE))),
}


@pytest.mark.parametrize('name', UNBIASED)
def test_train_mode_preserves_the_expectation(name):
  module, shape, std = UNBIASED[name]
  out = apply(module, jnp.ones(shape))
  # Values shared by a mask are not independent: average over the independent draws only.
  independent = {'spatial': lambda: out[:, 0, 0, :], 'locked': lambda: out[:, 0, :],
                 'stochastic_depth': lambda: out[:, 0]}.get(name, lambda: out)()
  assert_mean_close(independent, 1.0, std)


def test_gaussian_dropout_variance_is_p_over_1_minus_p():
  out = np.asarray(apply(d.GaussianDropout(RATE), jnp.ones((64, 4096))), np.float64)
  n = out.size
  # The sample variance of n normals has standard error var * sqrt(2 / n).
  assert abs(out.var() - RATE / (1 - RATE)) < 5 * RATE / (1 - RATE) * np.sqrt(2 / n)


def test_alpha_dropout_keeps_selu_normalised_inputs_normalised():
  x = jax.nn.selu(jax.random.normal(jax.random.key(1), (256, 4096)))
  x = (x - x.mean()) / x.std()  # exactly zero mean, unit variance: isolate the dropout
  out = np.asarray(apply(d.AlphaDropout(0.2), x), np.float64)
  assert abs(out.mean()) < 0.01 and abs(out.var() - 1.0) < 0.01
  # Dropped units all take the same value, a * alpha' + b, well below any kept unit's.
  a = (0.8 + d.SELU_SATURATION ** 2 * 0.8 * 0.2) ** -0.5
  dropped = np.isclose(out, a * d.SELU_SATURATION - a * 0.2 * d.SELU_SATURATION, atol=1e-5)
  assert abs(dropped.mean() - 0.2) < 0.01


def test_classic_dropout_matches_inverted_dropout_in_expectation():
  x = jax.random.normal(jax.random.key(2), (4, 16))
  train = np.stack([apply(d.ClassicDropout(RATE), jnp.tile(x, (512, 1)), key=jax.random.key(k))
                    for k in range(8)])
  chex.assert_trees_all_close(apply(d.ClassicDropout(RATE), x, deterministic=True),
                              (1 - RATE) * x)
  # Training: each unit is kept unscaled with probability 1 - rate, so E[out] = (1 - rate) x,
  # what the test-time network outputs; inverted dropout has E[out] = x = its test output.
  mean = train.reshape(-1, 4, 16).mean(0)
  np.testing.assert_allclose(mean, (1 - RATE) * np.asarray(x), atol=0.05)
  kept = train.reshape(-1, 4, 16) != 0
  assert np.all(np.isclose(train.reshape(-1, 4, 16), np.asarray(x))[kept])


def test_spatial_masks_are_constant_over_height_and_width():
  out = np.asarray(apply(d.SpatialDropout(0.5), jnp.ones((16, 5, 7, 12))))
  np.testing.assert_array_equal(out, np.broadcast_to(out[:, :1, :1, :], out.shape))
  assert 0 < (out == 0).mean() < 1


def test_locked_masks_are_constant_over_time():
  out = np.asarray(apply(d.LockedDropout(0.5), jnp.ones((16, 9, 12))))
  np.testing.assert_array_equal(out, np.broadcast_to(out[:, :1, :], out.shape))
  assert 0 < (out == 0).mean() < 1


def test_stochastic_depth_drops_whole_examples():
  out = np.asarray(apply(d.StochasticDepth(0.5), jnp.ones((64, 4, 4, 8))))
  per_example = out.reshape(64, -1)
  assert np.all(per_example.min(1) == per_example.max(1))
  assert set(np.unique(per_example)) == {0.0, 2.0}


@pytest.mark.parametrize('size', [1, 3, 4])
def test_dropblock_zeros_form_blocks_of_the_given_size(size):
  out = np.asarray(apply(d.DropBlock(0.1, size), jnp.ones((32, 16, 16, 4))))
  zero = out == 0
  assert zero.any()
  # Every dropped unit lies inside a size x size window that is dropped completely.
  windows = np.lib.stride_tricks.sliding_window_view(zero, (size, size), axis=(1, 2))
  full = windows.all(axis=(-2, -1))  # B x (H-size+1) x (W-size+1) x C
  covered = np.zeros_like(zero)
  for i, j in zip(*np.nonzero(full.any(axis=(0, 3)))):
    covered[:, i:i + size, j:j + size, :] |= full[:, i:i + 1, j:j + 1, :]
  np.testing.assert_array_equal(covered, zero)
  assert 0.05 < zero.mean() < 0.12  # about the rate (overlapping blocks drop a little less)
  # Kept units are rescaled so that each example's sum is unchanged.
  np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), 16 * 16 * 4, rtol=1e-5)


def test_dropblock_schedule_scales_the_rate_with_progress():
  x = jnp.ones((32, 16, 16, 4))
  assert (np.asarray(apply(d.DropBlock(0.2, 3), x, progress=0.0)) == 1).all()
  early = (np.asarray(apply(d.DropBlock(0.2, 3), x, progress=0.25)) == 0).mean()
  late = (np.asarray(apply(d.DropBlock(0.2, 3), x, progress=1.0)) == 0).mean()
  assert early < late / 2


def test_dropconnect_masks_weights_shared_over_the_batch():
  layer = d.DropConnectDense(6, 0.5)
  x = jnp.tile(jnp.eye(5), (3, 1))  # each one-hot input three times: rows of the kernel
  variables = layer.init({'params': KEY}, x, True)
  kernel = np.asarray(variables['params']['kernel'])
  out = np.asarray(layer.apply(variables, x, False, rngs={'dropout': KEY}))
  rows = out.reshape(3, 5, 6)
  np.testing.assert_array_equal(rows[0], rows[1])  # the same mask for every example
  np.testing.assert_array_equal(rows[0], rows[2])
  effective = rows[0]
  kept = effective != 0
  np.testing.assert_allclose(effective[kept], 2 * kernel[kept], rtol=1e-6)
  assert 0.2 < kept.mean() < 0.8
  other = np.asarray(layer.apply(variables, x, False, rngs={'dropout': jax.random.key(9)}))
  assert (other != out).any()  # another step, another mask
  np.testing.assert_allclose(layer.apply(variables, x, True), np.tile(kernel, (3, 1)),
                             rtol=1e-6)


ALL = {
    'standard': (lambda r: d.Dropout(r), (8, 6)),
    'classic': (lambda r: d.ClassicDropout(r), (8, 6)),
    'gaussian': (lambda r: d.GaussianDropout(r), (8, 6)),
    'alpha': (lambda r: d.AlphaDropout(r), (8, 6)),
    'spatial': (lambda r: d.SpatialDropout(r), (8, 4, 4, 3)),
    'dropblock': (lambda r: d.DropBlock(r, 2), (8, 4, 4, 3)),
    'locked': (lambda r: d.LockedDropout(r), (8, 5, 3)),
    'stochastic_depth': (lambda r: d.StochasticDepth(r), (8, 4, 4, 3)),
}


@pytest.mark.parametrize('name', ALL)
def test_deterministic_mode_and_rate_zero_are_the_identity(name):
  make, shape = ALL[name]
  x = jax.random.normal(jax.random.key(3), shape)
  if name != 'classic':  # classic dropout scales at test time; tested above
    np.testing.assert_array_equal(apply(make(0.5), x, deterministic=True), x)
  np.testing.assert_array_equal(apply(make(0.0), x), x)
  # A traced rate of 0 (as under jax.vmap over rates) is the identity by arithmetic.
  traced = jax.jit(lambda r: apply(make(r), x))(jnp.float32(0.0))
  np.testing.assert_allclose(traced, x, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('rate', [-0.1, 1.0, 1.5])
def test_a_rate_outside_0_1_is_a_clear_error(rate):
  with pytest.raises(ValueError, match=r'dropout rate must be in \[0, 1\)'):
    apply(d.Dropout(rate), jnp.ones((2, 3)))
  with pytest.raises(ValueError, match='dropout rate'):
    apply(d.DropConnectDense(3, rate), jnp.ones((2, 3)))


def test_dropconnect_per_example_masks_weights_and_bias_of_each_example():
  """Wan et al.'s training: every example its own mask, over the kernel and the bias."""
  layer = d.DropConnectDense(6, 0.5, per_example=True)
  x = jnp.tile(jnp.eye(5), (3, 1))  # each one-hot input three times: rows of the kernel
  variables = layer.init({'params': KEY}, x, True)
  rows = np.asarray(layer.apply(variables, x, False, rngs={'dropout': KEY})).reshape(3, 5, 6)
  assert (rows[0] != rows[1]).any() and (rows[0] != rows[2]).any()  # a mask per example
  with_bias = {'params': {**variables['params'], 'bias': jnp.full(6, 10.0)}}
  bias_only = np.asarray(layer.apply(with_bias, jnp.zeros((64, 5)), False,
                                     rngs={'dropout': KEY}))
  assert set(np.unique(bias_only)) == {0.0, 20.0}  # the bias dropped, or kept and rescaled
  assert 0.3 < (bias_only == 0).mean() < 0.7


def test_dropconnect_gaussian_inference_matches_the_average_over_masks():
  """Algorithm 2 of Wan et al.: at test time the activation averaged over the Gaussian that
  matches the masked pre-activation's mean and variance, close to averaging over real masks."""
  relu = jax.nn.relu
  x = jax.random.normal(jax.random.key(3), (4, 64))
  layer = d.DropConnectDense(8, 0.5, per_example=True, gaussian_samples=4000, activation=relu)
  variables = layer.init({'params': KEY}, x, True)
  variables = {'params': {**variables['params'], 'bias': jnp.linspace(-1, 1, 8)}}
  gaussian = layer.apply(variables, x, True)
  masks = jax.vmap(lambda k: layer.apply(variables, x, False, rngs={'dropout': k}))(
      jax.random.split(jax.random.key(5), 4000)).mean(0)
  mean_weights = relu(x @ variables['params']['kernel'] + variables['params']['bias'])
  np.testing.assert_allclose(gaussian, masks, atol=0.1, rtol=0.05)
  assert np.abs(np.asarray(mean_weights - masks)).max() > 0.2  # the simple rule is not that


@pytest.mark.parametrize('name', [*ALL, 'dropconnect', 'dropconnect_per_example'])
def test_masks_are_identical_on_1_and_8_devices(name):
  if name == 'dropconnect':
    make, shape = (lambda r, axis_name=None: d.DropConnectDense(4, r)), (16, 6)
  elif name == 'dropconnect_per_example':
    make, shape = (lambda r, axis_name=None: d.DropConnectDense(
        4, r, per_example=True, axis_name=axis_name)), (16, 6)
  else:
    make, shape = ALL[name][0], (16, *ALL[name][1][1:])
  x = jax.random.normal(jax.random.key(4), shape)
  variables = make(0.5).init({'params': KEY, 'dropout': KEY}, x, True)
  one_device = make(0.5).apply(variables, x, False, rngs={'dropout': KEY})

  def local(x_local):
    module = type(make(0.5))(**{**_fields(make(0.5)), 'axis_name': 'batch'})
    return module.apply(variables, x_local, False, rngs={'dropout': KEY})

  mesh = Mesh(np.array(jax.devices()[:8]), ('batch',))
  sharded = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=P('batch'), out_specs=P('batch'),
                                  check_vma=False))(x)
  # The same draws; the arithmetic around them may round differently once compiled.
  np.testing.assert_array_equal(np.asarray(sharded) == 0, np.asarray(one_device) == 0)
  np.testing.assert_allclose(sharded, one_device, rtol=1e-5, atol=1e-6)


def _fields(module) -> dict:
  return {f: getattr(module, f) for f in module.__dataclass_fields__
          if f not in ('parent', 'name')}

