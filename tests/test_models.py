"""Models and building blocks: shapes, options, registries, and dropout's contract."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, PartitionSpec as P

from research.models import build_model, resnet
from research.nn import activations, initializers
from research.nn.dropout import Dropout
from research.train.state import count_params


def _init(model, shape=(8, 8, 1)):
  return model.init(jax.random.key(0), jnp.zeros((2, *shape)), train=False)


@pytest.mark.parametrize('norm', ['none', 'batch', 'layer'])
@pytest.mark.parametrize('skip', ['none', 'residual', 'highway'])
def test_mlp_shapes_and_counts(norm, skip):
  model = build_model('mlp', dict(depth=3, width=16, norm=norm, skip=skip), 10)
  variables = _init(model)
  assert model.apply(variables, jnp.ones((5, 8, 8, 1)), train=False).shape == (5, 10)
  dense = (64 * 16 + 16) + 2 * (16 * 16 + 16) + (16 * 10 + 10)
  dense += 2 * (16 * 16 + 16) if skip == 'highway' else 0  # a gate per layer after the first
  norm_params = {'none': 0, 'batch': 3 * 32, 'layer': 3 * 32}[norm]
  biases_before_batchnorm = 3 * 16 if norm == 'batch' else 0  # cancelled by it: not created
  assert count_params(variables['params']) == dense + norm_params - biases_before_batchnorm
  assert ('batch_stats' in variables) == (norm == 'batch')


def _dense(p, name, h):
  """Layer `name` of an MLP's params applied to h, by hand."""
  return h @ p[name]['kernel'] + p[name]['bias']


def test_residual_adds_the_input():
  plain = build_model('mlp', dict(depth=2, width=8, activation='linear'), 3)
  residual = build_model('mlp', dict(depth=2, width=8, activation='linear', skip='residual'), 3)
  variables = _init(plain)
  x = jax.random.normal(jax.random.key(1), (4, 8, 8, 1))
  p = variables['params']
  h0 = _dense(p, 'hidden_0', x.reshape(4, -1))
  h1 = _dense(p, 'hidden_1', h0)
  np.testing.assert_allclose(plain.apply(variables, x, train=False), _dense(p, 'output', h1),
                             rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(residual.apply(variables, x, train=False),
                             _dense(p, 'output', h0 + h1), rtol=1e-4, atol=1e-5)


def test_highway_gates_between_transform_and_carry():
  model = build_model('mlp', dict(depth=2, width=8, activation='linear', skip='highway'), 3)
  variables = _init(model)
  x = jax.random.normal(jax.random.key(1), (4, 8, 8, 1))
  p = variables['params']
  h0 = _dense(p, 'hidden_0', x.reshape(4, -1))
  f1 = _dense(p, 'hidden_1', h0)
  gate = jax.nn.sigmoid(_dense(p, 'gate_1', h0))
  np.testing.assert_allclose(p['gate_1']['bias'], -2.0)  # starts mostly carrying
  expected = _dense(p, 'output', gate * f1 + (1 - gate) * h0)
  np.testing.assert_allclose(model.apply(variables, x, train=False), expected, rtol=1e-4,
                             atol=1e-5)


def test_mlp_sows_every_hidden_activation():
  model = build_model('mlp', dict(depth=3, width=8, activation='sigmoid'), 3)
  variables = _init(model)
  _, sown = model.apply({'params': variables['params']}, jnp.ones((5, 8, 8, 1)), train=False,
                        mutable=['activations'])
  assert sorted(sown['activations']) == ['hidden_0_act', 'hidden_1_act', 'hidden_2_act']
  (h2,) = sown['activations']['hidden_2_act']
  assert h2.shape == (5, 8) and float(h2.min()) > 0  # sigmoid outputs


def test_cnn_sows_every_activation_for_the_probes():
  model = build_model('cnn', dict(channels=(4, 8), dense=(16,)), 3)
  variables = _init(model)
  _, sown = model.apply({'params': variables['params']}, jnp.ones((2, 8, 8, 1)), train=False,
                        mutable=['activations'])
  assert sorted(sown['activations']) == ['conv_0_act', 'conv_1_act', 'dense_0_act']


@pytest.mark.parametrize('depth,params', [(20, 0.27e6), (56, 0.85e6), (110, 1.7e6)])
def test_cifar_resnet_parameter_counts_match_the_paper(depth, params):
  """He et al. (2015), Table 6: 0.27M, 0.85M, 1.7M; the plain twin has the same layers."""
  for block in ('residual', 'plain'):
    model = build_model('resnet', dict(depth=depth, block=block), 10)
    shapes = jax.eval_shape(lambda m=model: _init(m, (32, 32, 3)))
    assert count_params(shapes['params']) == pytest.approx(params, rel=0.02)


def test_option_a_shortcut_subsamples_and_zero_pads():
  x = jnp.arange(2 * 4 * 4 * 16, dtype=jnp.float32).reshape(2, 4, 4, 16)
  y = resnet.option_a_shortcut(x, 32, 2)
  assert y.shape == (2, 2, 2, 32)
  np.testing.assert_array_equal(y[..., 8:24], x[:, ::2, ::2, :])
  assert float(jnp.abs(y[..., :8]).max()) == 0 and float(jnp.abs(y[..., 24:]).max()) == 0


@pytest.mark.parametrize('block', ['residual', 'plain', 'highway'])
def test_resnet_runs_and_updates_batch_stats(block):
  model = build_model('resnet', dict(depth=8, block=block), 10)
  variables = _init(model, (8, 8, 3))
  logits, updates = model.apply(variables, jnp.ones((4, 8, 8, 3)), train=True,
                                mutable=['batch_stats'])
  assert logits.shape == (4, 10)
  assert jax.tree.structure(updates['batch_stats']) == jax.tree.structure(
      variables['batch_stats'])


def test_resnet_depth_must_be_6n_plus_2():
  with pytest.raises(ValueError, match='6n\\+2'):
    resnet.blocks_per_stage(21)
  assert [d for d in range(120) if resnet.is_cifar_depth(d)] == [8, 14, 20, 26, 32, 38, 44, 50,
                                                                 56, 62, 68, 74, 80, 86, 92, 98,
                                                                 104, 110, 116]


@pytest.mark.parametrize('pool', ['max', 'avg', 'none'])
def test_cnn_shapes(pool):
  model = build_model('cnn', dict(channels=(4, 8), dense=(16,), pool=pool, norm='batch'), 10)
  variables = _init(model, (28, 28, 1))
  assert model.apply(variables, jnp.ones((3, 28, 28, 1)), train=False).shape == (3, 10)
  flat = 8 * (7 * 7 if pool != 'none' else 28 * 28)
  assert variables['params']['dense_0']['kernel'].shape == (flat, 16)
  # BatchNorm follows each convolution and cancels a bias: none is created.
  assert set(variables['params']['conv_0']) == set(variables['params']['conv_1']) == {'kernel'}


def test_registries_name_the_choices():
  for name in ('linear', 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'softmax', 'gelu', 'swish',
               'selu', 'mish'):
    assert activations.get_activation(name)(jnp.ones(3)).shape == (3,)
  x = jnp.linspace(-5.0, 5.0, 11)
  np.testing.assert_allclose(activations.get_activation('mish')(x),
                             x * jnp.tanh(jnp.log1p(jnp.exp(x))), rtol=1e-5, atol=1e-6)
  for name in ('lecun', 'glorot', 'he', 'lecun_uniform', 'glorot_uniform', 'he_uniform'):
    assert initializers.get_initializer(name)(jax.random.key(0), (4, 4)).shape == (4, 4)
  with pytest.raises(ValueError, match='activation .* choose one of'):
    activations.get_activation('rellu')
  with pytest.raises(ValueError, match="'transformer' is not a model"):
    build_model('transformer', {}, 10)


def test_initializer_variances():
  """He: Var = 2/fan_in; Glorot: 2/(fan_in+fan_out); LeCun: 1/fan_in (truncation rescaled)."""
  fan_in, fan_out = 400, 200
  for name, expected in (('he', 2 / fan_in), ('glorot', 2 / (fan_in + fan_out)),
                         ('lecun', 1 / fan_in), ('he_uniform', 2 / fan_in)):
    w = initializers.get_initializer(name)(jax.random.key(0), (fan_in, fan_out))
    assert abs(float(w.var()) / expected - 1) < 0.05, name


def _dropout(rate, x, deterministic=False, key=0):
  layer = Dropout(rate)
  return layer.apply({}, x, deterministic=deterministic, rngs={'dropout': jax.random.key(key)})


def test_dropout_rate_zero_and_deterministic_are_identity():
  x = jax.random.normal(jax.random.key(0), (4, 32))
  np.testing.assert_array_equal(_dropout(0.0, x), x)
  np.testing.assert_array_equal(_dropout(0.5, x, deterministic=True), x)


def test_dropout_keeps_the_expectation_and_rate():
  x = jnp.ones((512, 512))
  y = np.asarray(_dropout(0.3, x))
  assert abs((y == 0).mean() - 0.3) < 0.005
  assert abs(y.mean() - 1.0) < 0.01
  np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7], rtol=1e-6)


@pytest.mark.parametrize('rate', [-0.1, 1.0, 1.5])
def test_dropout_rejects_rates_outside_unit_interval(rate):
  with pytest.raises(ValueError, match=r'in \[0, 1\)'):
    _dropout(rate, jnp.ones((2, 2)))


def test_dropout_masks_are_identical_on_1_and_8_devices():
  x = jnp.ones((16, 64))
  masks = []
  for devices in (1, 8):
    mesh = Mesh(np.array(jax.devices()[:devices]), ('batch',))
    fn = lambda x: Dropout(0.5, axis_name='batch').apply(
        {}, x, deterministic=False, rngs={'dropout': jax.random.key(3)})
    mapped = jax.shard_map(fn, mesh=mesh, in_specs=P('batch'), out_specs=P('batch'),
                           check_vma=False)
    masks.append(np.asarray(jax.jit(mapped)(x)))
  np.testing.assert_array_equal(masks[0], masks[1])
  assert 0.4 < (masks[0] == 0).mean() < 0.6


def test_lstm_reads_rows_and_dropout_is_off_in_test_mode():
  model = build_model('lstm', {'hidden': 16, 'dropout': 0.5, 'dropout_kind': 'variational'}, 10)
  x = jax.random.normal(jax.random.key(0), (4, 8, 8, 1))
  variables = model.init(jax.random.key(1), x, train=False)
  # One LSTM cell for the whole sequence (8 inputs + 16 recurrent -> 4 gates) and the output.
  assert count_params(variables['params']) == 4 * 16 * (8 + 16 + 1) + 16 * 10 + 10
  test = model.apply(variables, x, train=False)
  assert test.shape == (4, 10)
  for kind in ('naive', 'variational'):
    plain = build_model('lstm', {'hidden': 16, 'dropout': 0.0, 'dropout_kind': kind}, 10)
    np.testing.assert_allclose(plain.apply(variables, x, train=True), test, rtol=1e-6)
    dropped = build_model('lstm', {'hidden': 16, 'dropout': 0.5, 'dropout_kind': kind}, 10)
    train = dropped.apply(variables, x, train=True, rngs={'dropout': jax.random.key(2)})
    assert np.abs(np.asarray(train) - np.asarray(test)).max() > 1e-3


def test_variational_lstm_masks_the_recurrent_state_naive_does_not():
  """With all-zero inputs, input dropout changes nothing: the hidden states then differ from
  the test-mode ones only where h_{t-1} is dropped, i.e. for variational dropout alone."""
  x = jnp.zeros((4, 6, 4, 1))
  options = {'hidden': 8, 'dropout': 0.5}
  variables = {'params': build_model('lstm', options, 3).init(jax.random.key(0), x,
                                                              train=False)['params']}
  # Nonzero biases, so that the state moves without any input.
  variables = jax.tree_util.tree_map_with_path(
      lambda path, v: v + 0.5 if 'bias' in jax.tree_util.keystr(path) else v, variables)

  def hidden_states(kind, train):
    model = build_model('lstm', {**options, 'dropout_kind': kind}, 3)
    _, sown = model.apply(variables, x, train=train, rngs={'dropout': jax.random.key(1)},
                          mutable=['activations'])
    return np.asarray(sown['activations']['lstm_0_act'][0])  # B x T x H

  test = hidden_states('naive', train=False)
  np.testing.assert_allclose(hidden_states('naive', train=True), test, rtol=1e-6)
  variational = hidden_states('variational', train=True)
  np.testing.assert_allclose(variational[:, 0], test[:, 0], rtol=1e-6)  # h_0 = 0: no change
  assert np.abs(variational[:, 1:] - test[:, 1:]).max() > 1e-3


def test_resnet_stochastic_depth_is_per_example_and_off_in_test_mode():
  x = jnp.tile(jax.random.normal(jax.random.key(0), (1, 8, 8, 1)), (16, 1, 1, 1))
  model = build_model('resnet', {'depth': 8, 'stochastic_depth': 0.9}, 10)
  variables = model.init(jax.random.key(1), x, train=False)
  same = build_model('resnet', {'depth': 8}, 10)
  np.testing.assert_array_equal(model.apply(variables, x, train=False),
                                same.apply(variables, x, train=False))
  train, _ = model.apply(variables, x, train=True, rngs={'dropout': jax.random.key(2)},
                         mutable=['batch_stats'])
  # Sixteen copies of one image: different branches dropped for different copies.
  assert len({tuple(np.round(np.asarray(row), 4)) for row in train}) > 1


def test_dropconnect_mlp_has_the_standard_mlp_parameters():
  x = jnp.ones((2, 8, 8, 1))
  shapes = {kind: jax.tree.map(jnp.shape, build_model(
      'mlp', {'depth': 2, 'width': 16, 'dropout': 0.3, 'dropout_kind': kind}, 10).init(
          jax.random.key(0), x, train=False)) for kind in ('standard', 'dropconnect')}
  assert shapes['standard'] == shapes['dropconnect']


@pytest.mark.parametrize('shape, strides, padding, use_bias', [
    ((3, 9, 7, 1), 1, 'SAME', True), ((3, 8, 8, 3), 1, 'SAME', True),
    ((3, 9, 7, 3), 1, 'VALID', True), ((3, 8, 8, 16), 1, 'SAME', True),
    ((3, 8, 8, 16), 2, 'SAME', True), ((3, 9, 7, 1), 1, 'SAME', False),
    ((3, 8, 8, 16), 1, 'SAME', False)])
def test_conv_matches_flax_conv_values_and_gradients(shape, strides, padding, use_bias):
  """research/nn/conv.Conv: flax's parameters and numbers, its own formulas (for 1 and 3
  input channels the forward by shifts and the kernel gradient from patches, the bias
  gradient as a product), with and without a bias."""
  import flax.linen as nn
  from research.nn.conv import Conv
  x = jax.random.normal(jax.random.key(1), shape)
  ours = Conv(5, (3, 3), strides=strides, padding=padding, use_bias=use_bias)
  flax_conv = nn.Conv(5, (3, 3), strides=strides, padding=padding, use_bias=use_bias)
  variables = ours.init(jax.random.key(0), x)
  flax_variables = flax_conv.init(jax.random.key(0), x)
  same = jax.tree.map(lambda a, b: np.array_equal(a, b), variables, flax_variables)
  assert all(jax.tree.leaves(same))  # same names, shapes and initial values
  variables = jax.tree.map(lambda v: v + 0.1, variables)  # a non-zero bias

  def loss(module):
    return lambda v, x: jnp.sum(jnp.sin(module.apply(v, x)) ** 2)

  np.testing.assert_allclose(ours.apply(variables, x), flax_conv.apply(variables, x),
                             rtol=1e-5, atol=1e-5)
  got = jax.grad(loss(ours), argnums=(0, 1))(variables, x)
  want = jax.grad(loss(flax_conv), argnums=(0, 1))(variables, x)
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def test_channel_sum_is_the_sum_over_leading_axes():
  from research.nn.channels import channel_sum
  x = jax.random.normal(jax.random.key(0), (4, 5, 6, 7))
  np.testing.assert_allclose(channel_sum(x), x.sum(axis=(0, 1, 2)), rtol=1e-5, atol=1e-5)


def test_max_pool_matches_reduce_window_and_routes_gradients_as_pytorch():
  """research/nn/pooling.max_pool_2x2: lax.reduce_window's values; without ties, JAX's own
  gradient; with ties, the whole gradient to the first maximum in row-major order."""
  from research.nn.pooling import max_pool_2x2
  x = jax.random.normal(jax.random.key(0), (2, 6, 4, 3))
  expected = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), 'VALID')
  np.testing.assert_array_equal(max_pool_2x2(x), expected)
  weights = jax.random.normal(jax.random.key(1), expected.shape)
  grad = lambda pool, x: jax.grad(lambda x: (pool(x) * weights).sum())(x)
  reference = lambda x: x.reshape(2, 3, 2, 2, 2, 3).max(axis=(2, 4))  # JAX's tie rule
  np.testing.assert_array_equal(grad(max_pool_2x2, x), grad(reference, x))

  window_grad = lambda window: jax.grad(lambda x: max_pool_2x2(x).sum())(
      jnp.array(window, jnp.float32).reshape(1, 2, 2, 1))[0, :, :, 0]
  np.testing.assert_array_equal(window_grad([[-1, 2], [2, 2]]), [[0, 1], [0, 0]])
  np.testing.assert_array_equal(window_grad([[0, -1], [3, 3]]), [[0, 0], [1, 0]])
  np.testing.assert_array_equal(window_grad([[5, 5], [5, 5]]), [[1, 0], [0, 0]])
  with pytest.raises(ValueError, match='even'):
    max_pool_2x2(jnp.zeros((1, 3, 4, 1)))


def test_cnn_pool_drops_an_odd_last_row_and_column():
  from research.models.cnn import pool_2x2
  x = jax.random.normal(jax.random.key(0), (2, 5, 7, 3))
  for kind in ('max', 'avg'):
    assert pool_2x2(x, kind).shape == (2, 2, 3, 3)
    g = jax.grad(lambda x: pool_2x2(x, kind).sum())(x)
    np.testing.assert_array_equal(g[:, 4, :, :], 0.0)
    np.testing.assert_array_equal(g[:, :, 6, :], 0.0)


def test_cnn_gradients_jitted_equal_eager_with_batchnorm_and_max_pool():
  """XLA may compute the pooled maximum and the window's elements in fusions that round
  differently (here: first-layer convolution by shifts, BatchNorm, ReLU, inputs normalised in
  the program). The pool's gradient must not depend on testing them for equality: when it did,
  the jitted gradients were off by 5% of their size."""
  rng = np.random.default_rng(0)
  raw = jnp.asarray(rng.integers(0, 17, (32, 8, 8, 1)).astype(np.uint8))
  labels = jnp.asarray(rng.integers(0, 10, 32))
  model = build_model('cnn', dict(channels=(8, 16), dense=(32,), norm='batch'), 10)
  variables = _init(model)

  def grads(params, raw):
    x = (raw.astype(jnp.float32) - 4.8) / 6.0
    def loss(params):
      logits, _ = model.apply({**variables, 'params': params}, x, train=True,
                              mutable=['batch_stats'])
      return -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], 1).mean()
    return jax.grad(loss)(params)

  jitted, eager = jax.jit(grads)(variables['params'], raw), grads(variables['params'], raw)
  for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager)):
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize('shape', [(16, 5), (4, 6, 6, 3)])
def test_batchnorm_matches_flax_batchnorm(shape):
  """research/nn/normalization.BatchNorm: flax's names, initial values, outputs, gradients and
  running statistics, in train and eval mode, alone and averaged over a named axis."""
  import flax.linen as nn
  from research.nn.normalization import BatchNorm
  x = 3.0 + 2.0 * jax.random.normal(jax.random.key(0), (2, *shape))  # [devices, ...]
  ours = lambda train, axis: BatchNorm(use_running_average=not train, axis_name=axis)
  theirs = lambda train, axis: nn.BatchNorm(use_running_average=not train, momentum=0.9,
                                             axis_name=axis)
  variables = ours(True, None).init(jax.random.key(1), x[0])
  flax_variables = theirs(True, None).init(jax.random.key(1), x[0])
  assert jax.tree.map(np.shape, variables) == jax.tree.map(np.shape, flax_variables)
  assert all(jax.tree.leaves(jax.tree.map(np.array_equal, variables, flax_variables)))
  variables = {'params': {'scale': 1.0 + jnp.arange(shape[-1]) / 10.0,
                          'bias': jnp.arange(shape[-1]) / 5.0},
               'batch_stats': {'mean': jnp.full(shape[-1], 0.5), 'var': jnp.full(shape[-1], 2.0)}}

  def run(make, train, axis):
    def f(params, x):
      out, updates = make(train, axis).apply({**variables, 'params': params}, x,
                                             mutable=['batch_stats'])
      return jnp.sum(jnp.sin(out)), (out, updates)
    grad = jax.grad(f, argnums=(0, 1), has_aux=True)
    if axis is None:
      return jax.jit(grad)(variables['params'], x[0])
    return jax.jit(jax.vmap(grad, in_axes=(None, 0), axis_name=axis))(variables['params'], x)

  for train, axis in ((True, None), (False, None), (True, 'devices')):
    got, want = run(ours, train, axis), run(theirs, train, axis)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize('mean', [0.0, 1.5, 5.0])
def test_batchnorm_gradients_are_accurate_at_shifted_means(mean):
  """Against float64: the scale and bias gradients of sum(sin(BatchNorm(x))) for inputs of
  mean `mean` and std 1 (the audit's shape). The variance as E[x^2] - E[x]^2 (flax's formula)
  amplifies the sums' relative rounding by up to 1 + mean^2 / var, hence the bound
  2e-6 * (1 + mean^2), about 17 float32 epsilons times that factor. Each per-channel sum taken
  as one chain of 32,768 additions broke it at every mean here (1.8e-4 at mean 5); the
  two-level sums stay 7-9x inside it, room for another CPU's rounding."""
  from research.nn.normalization import BatchNorm
  x = mean + jax.random.normal(jax.random.key(0), (128, 16, 16, 32))
  params = {'scale': 1.0 + jnp.arange(32) / 10.0, 'bias': jnp.arange(32) / 5.0}
  stats = {'mean': jnp.zeros(32), 'var': jnp.ones(32)}

  def loss(p, x):
    out, _ = BatchNorm(use_running_average=False).apply(
        {'params': p, 'batch_stats': stats}, x, mutable=['batch_stats'])
    return jnp.sum(jnp.sin(out))

  def reference(p, x):
    mu, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
    return jnp.sum(jnp.sin((x - mu) / jnp.sqrt(var + 1e-5) * p['scale'] + p['bias']))

  got = jax.jit(jax.grad(loss))(params, x)
  with jax.enable_x64(True):
    want = jax.grad(reference)(jax.tree.map(lambda a: np.asarray(a, np.float64), params),
                               np.asarray(x, np.float64))
    # numpy copies, so that the comparison below, outside x64, stays in float64
    want = jax.tree.map(np.asarray, want)
  for name in ('scale', 'bias'):
    error = float(np.linalg.norm(np.asarray(got[name], np.float64) - want[name])
                  / np.linalg.norm(want[name]))
    assert error < 2e-6 * (1 + mean ** 2), f'{name} gradient relative error {error:.1e}'


def test_resnet_downsampling_branch_is_centred_where_the_shortcut_samples():
  """With centre-tap kernels a plain linear block's stride-2 branch is a pure subsampling: with
  symmetric padding it equals option A's x[::2, ::2] (with 'SAME' it was x[1::2, 1::2])."""
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 4))
  block = resnet.Block(4, 2, 'plain', 'linear', 'he', 'none', None)
  centre = jnp.zeros((3, 3, 4, 4)).at[1, 1].set(jnp.eye(4))
  params = {name: {'kernel': centre, 'bias': jnp.zeros(4)} for name in ('conv_a', 'conv_b')}
  branch = block.apply({'params': params}, x, train=False)
  np.testing.assert_array_equal(branch, resnet.option_a_shortcut(x, 4, 2))


@pytest.mark.parametrize('name, options, looped', [
    ('mlp', dict(depth=3, width=16, norm='batch'), False),
    ('cnn', dict(channels=(8, 16), dense=(32,), norm='batch'), False),
    ('vgg', dict(stages=((4, 4), (8,)), dense=(16,), dropout=0.0, norm='batch'), True),
    ('inception', dict(stem=4, modules=((2, 2, 4, 2, 2, 2),), pool_after=(0,), norm='batch'),
     False),
    ('xception', dict(stem=(4, 4), entry=(8,), middle_blocks=1, exit=(8, 8), final=()), False),
    ('resnet', dict(depth=8, norm='batch'), True)])
def test_cpu_tuned_and_plain_layers_compute_the_same_model(name, options, looped):
  """research/nn/switch.py's switch: the same parameters (names, shapes, initial values),
  outputs, BatchNorm statistics and gradients from the CPU-tuned layers and flax's, for every
  model family that uses them; `looped`: the CPU-tuned layers in their form for the inside of
  a loop (convolutions as products). The rest of the suite runs flax's layers
  (tests/conftest.py), so these are what holds the CPU-tuned ones to them."""
  import contextlib
  from research.nn import switch
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(16, 8, 8, 1)).astype(np.float32))
  labels = jnp.asarray(rng.integers(0, 10, 16))

  def run(kind):
    loop = switch.inside_loop() if looped and kind == 'cpu_tuned' else contextlib.nullcontext()
    with switch.forced(kind), loop:
      model = build_model(name, options, 10)
      variables = _init(model)

      def loss(params):
        logits, updates = model.apply({**variables, 'params': params}, x, train=True,
                                      mutable=['batch_stats'])
        return optax_ce(logits, labels), updates
      (value, updates), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(
          variables['params'])
      return variables, value, updates, grads

  tuned, plain = run('cpu_tuned'), run('plain')
  assert jax.tree.map(np.shape, tuned[0]) == jax.tree.map(np.shape, plain[0])
  assert all(jax.tree.leaves(jax.tree.map(np.array_equal, tuned[0], plain[0])))
  for a, b in zip(jax.tree.leaves(tuned[1:]), jax.tree.leaves(plain[1:])):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def optax_ce(logits, labels):
  import optax
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@pytest.mark.parametrize('strides', [1, 2])
def test_the_cpu_depthwise_convolution_is_flaxs_grouped_one(strides):
  """Same parameters (name, shape, initial values), outputs and gradients as flax's grouped
  convolution, which XLA:CPU runs slowly (research/nn/separable.py)."""
  import flax.linen as flax_nn
  from research.nn import separable
  x = jax.random.normal(jax.random.key(0), (4, 7, 7, 6))
  tuned = separable.DepthwiseConv(3, strides)
  plain = flax_nn.Conv(6, (3, 3), strides=strides, padding='SAME', feature_group_count=6,
                       use_bias=False)
  variables = tuned.init(jax.random.key(1), x)
  assert jax.tree.map(np.shape, variables) == jax.tree.map(
      np.shape, plain.init(jax.random.key(1), x))
  np.testing.assert_array_equal(variables['params']['kernel'],
                                plain.init(jax.random.key(1), x)['params']['kernel'])
  loss = lambda layer: lambda v, x: (layer.apply(v, x) ** 2).sum()
  for a, b in zip(jax.value_and_grad(loss(tuned), argnums=(0, 1))(variables, x),
                  jax.value_and_grad(loss(plain), argnums=(0, 1))(variables, x)):
    for u, w in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_allclose(u, w, rtol=1e-4, atol=1e-4)


def test_inside_a_loop_the_cpu_convolution_is_one_product():
  """XLA:CPU runs convolutions slowly inside a loop: there `Conv` (kernel larger than
  MAX_PATCH, or strided) is a product, the same function, and outside it stays a convolution."""
  from research.nn import conv, switch
  x = jax.random.normal(jax.random.key(0), (2, 7, 7, 8))
  for strides in (1, 2):
    layer = conv.Conv(16, (3, 3), strides=strides)
    variables = layer.init(jax.random.key(1), x)
    outside = str(jax.make_jaxpr(layer.apply)(variables, x))
    with switch.forced('cpu_tuned'), switch.inside_loop():
      inside = str(jax.make_jaxpr(layer.apply)(variables, x))
      looped = layer.apply(variables, x)
    assert 'conv_general_dilated' in outside and 'conv_general_dilated' not in inside
    np.testing.assert_allclose(looped, layer.apply(variables, x), rtol=1e-5, atol=1e-5)


def test_the_switch_picks_the_layers(monkeypatch):
  import flax.linen as nn
  from research.nn import conv, normalization, switch
  monkeypatch.delenv(switch.ENVIRONMENT, raising=False)  # a user's default, not the suite's
  with switch.forced('plain'):
    assert type(conv.make_conv(4, (3, 3))) is nn.Conv
    assert type(normalization.make_norm('batch', True, None)) is nn.BatchNorm
  with switch.forced('cpu_tuned'):
    assert type(conv.make_conv(4, (3, 3))) is conv.Conv
    assert type(normalization.make_norm('batch', True, None)) is normalization.BatchNorm
  assert switch.layer_kind() == 'cpu_tuned'  # the tests run on the CPU
  with pytest.raises(ValueError, match='choose one of cpu_tuned, plain'):
    with switch.forced('fast'):
      pass


def _vgg16_parameters_by_hand() -> int:
  """Configuration D of Simonyan and Zisserman 2015 from its architecture: thirteen 3 x 3
  convolutions with biases, five 2 x 2 pools (224 -> 7), FC 4096, 4096, 1000."""
  channels = [3, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
  convolutions = sum(9 * cin * cout + cout for cin, cout in zip(channels, channels[1:]))
  dense = [7 * 7 * 512, 4096, 4096, 1000]
  return convolutions + sum(n_in * n_out + n_out for n_in, n_out in zip(dense, dense[1:]))


def test_vgg16_has_the_papers_138_million_parameters():
  from research.models.vgg import VGG, VGG16_STAGES
  model = VGG(num_classes=1000, stages=VGG16_STAGES, dense=(4096, 4096))
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 224, 224, 3)),
                                             train=False))
  counted = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes['params']))
  assert counted == _vgg16_parameters_by_hand() == 138_357_544


def test_a_small_vgg_trains_with_batchnorm_and_pools_each_stage():
  from research.models.vgg import VGG
  model = VGG(num_classes=10, stages=((4, 4), (8,)), dense=(16,), norm='batch')
  x = jnp.ones((2, 8, 8, 1))
  variables = model.init(jax.random.key(0), x, train=False)
  assert variables['params']['dense_0']['kernel'].shape == (2 * 2 * 8, 16)  # 8 -> 4 -> 2
  assert 'bias' not in variables['params']['conv_0_0']  # BatchNorm follows
  logits, updates = model.apply(variables, x, train=True, mutable=['batch_stats'],
                                rngs={'dropout': jax.random.key(1)})
  assert logits.shape == (2, 10) and 'batch_stats' in updates


def test_a_separable_convolution_costs_1_over_n_plus_1_over_k2_of_a_full_one():
  """Howard et al. 2017 (section 3.1): k^2 C + C N against k^2 C N, in weights and in
  multiply-adds per position. The layers' parameters match the closed forms exactly; XLA's
  FLOP counts (2 per multiply-add) match them once the k x k taps that fall on 'SAME' padding,
  which XLA does not multiply, are left out: of k * side per axis, p (p + 1) do, p = k // 2."""
  import flax.linen as flax_nn
  from research.nn import separable, switch
  c, n, k, batch, side = 32, 64, 3, 8, 16
  positions, p = batch * side * side, k // 2
  padding_taps = 1 - ((k * side - p * (p + 1)) / (k * side)) ** 2
  x = jnp.ones((batch, side, side, c))
  full = flax_nn.Conv(n, (k, k), use_bias=False)
  cases = {
      'full': (full, separable.conv_weights(c, n, k),
               separable.conv_multiply_adds(c, n, k, positions) * (1 - padding_taps)),
      'separable': (separable.SeparableConv(n, k, use_bias=False),
                    separable.separable_weights(c, n, k),
                    separable.separable_multiply_adds(c, n, k, positions)
                    - k * k * c * positions * padding_taps)}  # only the depthwise part pads
  assert (separable.separable_multiply_adds(c, n, k, positions)
          / separable.conv_multiply_adds(c, n, k, positions)) == pytest.approx(1 / n + 1 / k ** 2)
  for name, (layer, weights, multiply_adds) in cases.items():
    variables = layer.init(jax.random.key(0), x)
    assert count_params(variables['params']) == weights, name
    with switch.forced('plain'):  # flax's grouped convolution: the arithmetic as written
      cost = jax.jit(layer.apply).lower(variables, x).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    assert cost['flops'] == pytest.approx(2 * multiply_adds, rel=1e-3), name


def test_a_locally_connected_cnn_has_a_kernel_per_position_and_the_same_shapes():
  """The same receptive fields without weight sharing: each stage's k^2 C N + N parameters
  become H W (k^2 C N + N), H x W its output positions ('SAME', before pooling)."""
  from research.models.cnn import CNN
  options = dict(channels=(4, 8), dense=(), kernel_size=3, pool='max')
  x = jnp.ones((2, 8, 8, 1))
  shared, local = (CNN(num_classes=10, local=flag, **options) for flag in (False, True))
  params = {name: jax.eval_shape(lambda m=m: m.init(jax.random.key(0), x, train=False))['params']
            for name, m in (('shared', shared), ('local', local))}
  per_position = [9 * 1 * 4 + 4, 9 * 4 * 8 + 8]
  sides = [8, 4]  # the second stage sees the first's 2 x 2 pooled map
  for i, (count, side) in enumerate(zip(per_position, sides)):
    assert count_params(params['shared'][f'conv_{i}']) == count
    assert count_params(params['local'][f'conv_{i}']) == side * side * count
  assert params['local']['output']['kernel'].shape == params['shared']['output']['kernel'].shape


@pytest.mark.parametrize('size, stride', [(2, 2), (3, 2), (3, 1)])
def test_pooling_kinds_sizes_and_strides(size, stride):
  from research.models import cnn
  x = jax.random.normal(jax.random.key(0), (2, 9, 9, 3))
  window, strides = (1, size, size, 1), (1, stride, stride, 1)
  reference_max = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, strides, 'VALID')
  np.testing.assert_allclose(cnn.pool(x, 'max', size, stride), reference_max)
  np.testing.assert_allclose(cnn.pool(x, 'sum', size, stride),
                             cnn.pool(x, 'avg', size, stride) * size * size, rtol=1e-5)
  side = cnn.pooled_side(9, 'max', size, stride)  # 'VALID': the windows that fit
  assert cnn.pool(x, 'avg', size, stride).shape == (2, side, side, 3)


def test_global_average_pooling_feeds_the_head_one_value_per_channel():
  from research.models.cnn import CNN
  model = CNN(num_classes=10, channels=(4, 6), dense=(5,), head='gap')
  variables = model.init(jax.random.key(0), jnp.ones((1, 28, 28, 1)), train=False)
  assert variables['params']['dense_0']['kernel'].shape == (6, 5)


@pytest.mark.parametrize('overrides, message', [
    (['model=cnn', 'cnn.pool_size=5', 'cnn.channels=(4,4)'], 'leaves no pixel of data=digits'),
    (['model=cnn', 'cnn.head=attention'], "cnn.head='attention' is not allowed"),
    (['model=vgg', 'vgg.stages=((8,),(8,),(8,),(8,))'], 'halves the image 4 times'),
    (['model=vgg', 'vgg.stages=()'], 'vgg.stages=() is not allowed'),
    (['model=inception', 'inception.pool_after=(0,1)', 'inception.modules=((4,4,4,4,4,4),)'],
     'it names modules by index'),
    (['model=inception', 'inception.stem=0'], 'inception.stem=0 is out of range'),
    (['model=inception', 'inception.modules=((4,4,4,4,4,4),(4,4,4,4,4,4),(4,4,4,4,4,4),'
      '(4,4,4,4,4,4))', 'inception.pool_after=(0,1,2,3)'], 'enough for at most 3'),
    (['model=xception', 'xception.exit=(4,)'], 'xception.exit take two positive widths'),
])
def test_a_network_that_does_not_fit_its_image_is_one_line_and_exit_2(tmp_path, capsys,
                                                                       overrides, message):
  from experiments import cli
  code = cli.main(['run', 'train', '--workdir', str(tmp_path / 'w'), *overrides])
  err = capsys.readouterr().err
  assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
  assert not (tmp_path / 'w').exists()


def _kernel_weights(params) -> int:
  return sum(int(np.prod(x.shape)) for path, x in jax.tree_util.tree_leaves_with_path(params)
             if 'kernel' in jax.tree_util.keystr(path))


@pytest.mark.parametrize('reduce', [True, False])
def test_an_inception_module_has_its_closed_form_weights_and_channels(reduce):
  """GoogLeNet's inception (3a) (Szegedy et al. 2015, table 1: 192 channels in at 28 x 28;
  widths 64, 96, 128, 16, 32, 32): the table lists 159K parameters and 128M operations. The
  closed form gives 163,328 weights (159.5 thousand if a K is 1024, our reading of the table,
  not the paper's statement) and 128.05M multiply-adds at 28 x 28."""
  from research.models import inception
  widths = (64, 96, 128, 16, 32, 32)
  layer = inception.InceptionModule(widths, reduce=reduce)
  x = jnp.zeros((1, 28, 28, 192))
  shapes = jax.eval_shape(lambda: layer.init(jax.random.key(0), x))
  weights = inception.module_weights(192, widths, reduce)
  assert _kernel_weights(shapes['params']) == weights
  out = jax.eval_shape(lambda: layer.apply(layer.init(jax.random.key(0), x), x))
  assert out.shape == (1, 28, 28, inception.module_channels(192, widths, reduce))
  if reduce:
    assert weights == 163_328 and weights // 1024 == 159
    assert weights * 28 * 28 == 128_049_152
  else:  # the naive module: the large kernels see all 192 channels
    assert weights == 192 * 64 + 9 * 192 * 128 + 25 * 192 * 32


def test_xception_has_the_papers_22_9_million_parameters():
  """Chollet 2017, table 3: Xception 22,855,952 parameters (Inception V3 23,626,728, not
  built here), BatchNorm's scales and offsets counted, its running statistics not."""
  from research.models.xception import XCEPTION_FULL, Xception
  model = Xception(num_classes=1000, **XCEPTION_FULL)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 299, 299, 3)),
                                             train=False))
  assert count_params(shapes['params']) == 22_855_952


def test_a_small_xception_has_its_flows_and_batchnorm_statistics():
  from research.models.xception import Xception
  model = Xception(num_classes=10, entry=(8, 16), middle_blocks=1, exit=(16, 24), final=(32,))
  x = jnp.ones((2, 8, 8, 1))
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
  assert variables['params']['output']['kernel'].shape == (32, 10)
  assert variables['params']['entry_1_shortcut']['kernel'].shape == (1, 1, 8, 16)
  assert 'middle_0_sep_2' in variables['params'] and 'batch_stats' in variables
  logits, _ = jax.eval_shape(
      lambda v: model.apply(v, x, train=True, mutable=['batch_stats']), variables)
  assert logits.shape == (2, 10)
