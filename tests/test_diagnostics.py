"""Per-layer diagnostics against norms and statistics computed by hand."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import cli
from research import diagnostics, metrics
from research.models.mlp import MLP


def _softmax(z):
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def test_gradient_norms_match_hand_backprop():
  """One linear hidden layer and softmax cross-entropy, differentiated by hand in NumPy."""
  model = MLP(num_classes=3, depth=1, width=4, activation='linear')
  rng = np.random.default_rng(0)
  x = rng.standard_normal((5, 6)).astype(np.float32)
  labels = np.array([0, 2, 1, 1, 0])
  params = model.init(jax.random.key(0), x, train=False)['params']
  values = jax.jit(diagnostics.make_diagnostics(model, 'linear'))(params, {}, x, labels,
                                                                  jax.random.key(1))
  p = jax.tree.map(np.asarray, params)
  h = x @ p['hidden_0']['kernel'] + p['hidden_0']['bias']
  logits = h @ p['output']['kernel'] + p['output']['bias']
  d_logits = (_softmax(logits) - np.eye(3)[labels]) / len(x)
  d_w1 = h.T @ d_logits
  d_w0 = x.T @ (d_logits @ p['output']['kernel'].T)
  np.testing.assert_allclose(values['grad_norm/output'], np.linalg.norm(d_w1), rtol=1e-5)
  np.testing.assert_allclose(values['grad_norm/hidden_0'], np.linalg.norm(d_w0), rtol=1e-5)
  np.testing.assert_allclose(values['act_mean/hidden_0'], h.mean(), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(values['act_std/hidden_0'], h.std(), rtol=1e-5)


def _set_first_layer(params, kernel_scale, bias):
  p = jax.tree.map(np.array, params)
  p['hidden_0']['kernel'] *= kernel_scale
  p['hidden_0']['bias'][:] = bias
  return p


@pytest.mark.parametrize('activation,scale,bias,statistic,expected', [
    ('sigmoid', 0.0, 10.0, 'saturated', 1.0),   # every unit at 0.99995
    ('sigmoid', 0.0, 0.0, 'saturated', 0.0),    # every unit at 0.5, the steepest point
    ('tanh', 0.0, -5.0, 'saturated', 1.0),
    ('relu', 0.0, -1.0, 'dead', 1.0),           # zero for every example
    ('relu', 0.0, 1.0, 'dead', 0.0),
])
def test_saturation_and_dead_units(activation, scale, bias, statistic, expected):
  model = MLP(num_classes=2, depth=1, width=8, activation=activation)
  x = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
  params = _set_first_layer(model.init(jax.random.key(0), x, train=False)['params'], scale,
                            bias)
  values = diagnostics.make_diagnostics(model, activation)(params, {}, x, np.zeros(16, int),
                                                           jax.random.key(0))
  assert float(values[f'{statistic}/hidden_0']) == expected


def test_dead_counts_units_not_outputs():
  """Half the units are negative for every example: dead is 0.5 although no example is 0."""
  value = jnp.concatenate([-jnp.ones((4, 3)), jnp.ones((4, 3))], axis=1)
  stats = diagnostics.activation_statistics({'hidden_0_act': (value,)}, 'relu')
  assert float(stats['dead/hidden_0']) == 0.5


def test_layer_names_run_from_input_to_output():
  params = {name: {'kernel': 0, 'bias': 0} for name in
            ('output', 'hidden_10', 'gate_2', 'hidden_2', 'hidden_0')}
  params['stem'] = {'kernel': 0}
  assert diagnostics.layer_names(params) == ['stem', 'gate_2', 'hidden_0', 'hidden_2',
                                             'hidden_10', 'output']


def test_training_logs_diagnostics_to_metrics_jsonl(tmp_path):
  assert cli.main(['run', 'train', '--workdir', str(tmp_path), 'steps=4', 'batch_size=16',
                   'diagnostics_every=2', 'mlp.activation=sigmoid', 'mlp.depth=3',
                   'num_devices=2']) == 0
  records = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  probes = [r for r in records if r['split'] == 'diagnostics']
  assert [r['step'] for r in probes] == [0, 2, 4]
  assert {'grad_norm/hidden_0', 'grad_norm/output', 'saturated/hidden_2'} <= set(probes[0])


def test_lstm_training_logs_diagnostics_of_its_hidden_states(tmp_path):
  """The LSTM has no activation option: its hidden states o * tanh(c) count as tanh units."""
  assert cli.main(['run', 'train', '--workdir', str(tmp_path), 'model=lstm', 'lstm.hidden=8',
                   'steps=2', 'batch_size=16', 'diagnostics_every=2', 'num_devices=1']) == 0
  records = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  probe = [r for r in records if r['split'] == 'diagnostics'][-1]
  assert {'saturated/lstm_0', 'act_std/lstm_0', 'grad_norm/output'} <= set(probe)


@pytest.mark.parametrize('scale', [1e-21, 1e-30, 1.0, 1e15])
def test_norms_do_not_underflow_or_overflow(scale):
  """Entries whose squares fall below float32's range (about 1e-38 once summed: entries below
  about 1e-19) used to give a norm of exactly 0; the scaled norm matches float64."""
  rng = np.random.default_rng(0)
  g = (rng.standard_normal((64, 128)) * scale).astype(np.float32)
  reference = np.linalg.norm(g.astype(np.float64))
  got = diagnostics.gradient_norms({'hidden_0': {'kernel': jnp.asarray(g)}})
  np.testing.assert_allclose(got['grad_norm/hidden_0'], reference, rtol=1e-5)
  tree = {'a': jnp.asarray(g), 'b': jnp.asarray(g[:3] * 2)}
  np.testing.assert_allclose(metrics.global_norm(tree),
                             np.sqrt(reference ** 2 + np.sum((2 * g[:3].astype(np.float64)) ** 2)),
                             rtol=1e-5)


def test_vanished_first_layer_gradient_of_a_deep_sigmoid_net_is_tiny_not_zero():
  """The audit's case: depth 32, sigmoid, Glorot, digits. Every first-layer gradient entry is
  nonzero but below 1e-19, so the unscaled float32 norm reads 0."""
  from research.data import load_dataset
  dataset = load_dataset('digits')
  x = ((dataset.train_images[:128].reshape(128, -1) - dataset.mean) / dataset.std)
  labels = dataset.train_labels[:128]
  model = MLP(num_classes=10, depth=32, width=64, activation='sigmoid', weight_init='glorot')
  params = model.init(jax.random.key(0), x[:1], train=False)['params']
  values = jax.jit(diagnostics.make_diagnostics(model, 'sigmoid'))(params, {}, x, labels,
                                                                   jax.random.key(1))
  from research import losses

  def loss(p):
    logits = model.apply({'params': p}, x, train=True, rngs={'dropout': jax.random.key(1)})
    return losses.per_example_loss(losses.LossConfig(), logits, labels).mean()

  kernel_grad = np.asarray(jax.jit(jax.grad(loss))(params)['hidden_0']['kernel'], np.float64)
  assert np.all(kernel_grad != 0) and np.abs(kernel_grad).max() < 1e-19
  np.testing.assert_allclose(values['grad_norm/hidden_0'], np.linalg.norm(kernel_grad),
                             rtol=1e-5)
