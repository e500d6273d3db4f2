"""Weights from another run (research/train/transfer.py) and freezing that ends at a step."""
import json

import flax.traverse_util
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research import optim
from research.data import load_dataset
from research.models import build_model
from research.train import loop, state as state_lib, transfer
from research.train import config as config_lib
from tests.conftest import run_cli, run_killed_after_checkpoint


@pytest.fixture(scope='module')
def source_run(tmp_path_factory):
  """A finished 10-class run on digits, the source every test here transfers from."""
  workdir = tmp_path_factory.mktemp('source')
  config = config_lib.replace(config_lib.TrainConfig(), steps=30, eval_every=30,
                              checkpoint_every=30, num_devices=1,
                              **{'mlp.norm': 'batch', 'mlp.width': 32})
  loop.train_and_evaluate(config, workdir, load_dataset('digits'), {})
  return workdir


def _flat(tree):
  return flax.traverse_util.flatten_dict(jax.device_get(tree), sep='/')


def test_transplant_copies_all_but_the_excluded_head(source_run):
  model = build_model('mlp', {'norm': 'batch', 'width': 32}, 2)
  fresh = state_lib.init_variables(model, 7, (8, 8, 1))
  moved = transfer.transplant(fresh, str(source_run), exclude='output/.*')
  source, step = transfer.source_weights(str(source_run))
  assert step == 30
  for collection in ('params', 'batch_stats'):
    for path, value in _flat(moved[collection]).items():
      expected = (_flat(fresh[collection])[path] if path.startswith('output/')
                  else source[collection][path])
      np.testing.assert_array_equal(value, expected, err_msg=f'{collection} {path}')
  assert transfer.provenance(str(source_run))['step'] == 30


def test_a_shape_that_does_not_fit_names_the_parameter(source_run):
  model = build_model('mlp', {'norm': 'batch', 'width': 32}, 2)
  fresh = state_lib.init_variables(model, 0, (8, 8, 1))
  with pytest.raises(ValueError, match="params 'output/bias' has shape \\(10,\\) there and "
                                       "\\(2,\\) here"):
    transfer.transplant(fresh, str(source_run))
  with pytest.raises(ValueError, match="init_exclude='head/.*' matches no parameter"):
    transfer.transplant(fresh, str(source_run), exclude='head/.*')


def test_frozen_parameters_start_training_fresh_at_freeze_until():
  params = {'body': jnp.ones(3), 'head': jnp.ones(2)}
  grads = {'body': jnp.array([0.5, -2.0, 1.0]), 'head': jnp.array([1.0, -1.0])}
  cfg = optim.OptimConfig(name='adam', learning_rate=0.1, freeze=('body',), freeze_until=3)
  tx = optim.make_optimizer(cfg, 10, params)
  state = tx.init(params)
  for step in range(5):
    updates, state = tx.update(grads, state, params)
    if step < 3:
      np.testing.assert_array_equal(updates['body'], 0.0)
    elif step == 3:  # the first update of an Adam that never saw a gradient
      fresh, _ = optax.adam(0.1).update(grads['body'], optax.adam(0.1).init(params['body']))
      np.testing.assert_allclose(updates['body'], fresh, rtol=1e-6)
    assert np.all(np.asarray(updates['head']) != 0)


def test_learning_rate_groups_scale_their_parameters_updates():
  params = {'body': jnp.ones(3), 'head': jnp.ones(2)}
  grads = {'body': jnp.array([0.5, -2.0, 1.0]), 'head': jnp.array([1.0, -1.0])}
  cfg = optim.OptimConfig(name='sgd', learning_rate=0.1, lr_groups=('body',),
                          lr_group_scales=(0.01,))
  tx = optim.make_optimizer(cfg, 10, params)
  updates, _ = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(updates['body'], -0.001 * grads['body'], rtol=1e-6)
  np.testing.assert_allclose(updates['head'], -0.1 * grads['head'], rtol=1e-6)


def test_a_run_from_another_runs_weights_records_its_source(tmp_path, source_run):
  result = run_cli('run', 'train', '--workdir', str(tmp_path / 'run'), 'steps=20',
                   f'init_from={source_run}', 'init_exclude=output/.*', 'mlp.norm=batch',
                   'mlp.width=32', 'split.classes=(3,8)', "optim.freeze=('hidden_.*',)")
  assert result.returncode == 0, result.stderr
  record = json.loads((tmp_path / 'run' / 'manifest.json').read_text())['init_from']
  assert record['step'] == 30 and len(record['weights_fingerprint']) == 64


@pytest.mark.parametrize('overrides, message', [
    (['init_from=/nonexistent/run'], "init_from='/nonexistent/run' is not a run directory"),
    (['init_exclude=output/.*'], 'set init_from too'),
    (['optim.freeze_until=10'], 'set optim.freeze too'),
    (["optim.freeze=('hidden_[',)"], 'is not a regular expression'),
    (["optim.lr_groups=('hidden_.*',)"], 'one positive factor per pattern'),
])
def test_bad_transfer_options_are_one_line_and_write_nothing(tmp_path, overrides, message):
  result = run_cli('run', 'train', '--workdir', str(tmp_path / 'run'), *overrides)
  assert result.returncode == 2 and message in result.stderr
  assert len(result.stderr.strip().splitlines()) == 1
  assert not (tmp_path / 'run').exists()


def test_weights_that_do_not_fit_are_one_line_and_leave_no_workdir(tmp_path, source_run):
  result = run_cli('run', 'train', '--workdir', str(tmp_path / 'run'), f'init_from={source_run}',
                   'mlp.norm=batch', 'mlp.width=32', 'split.classes=(3,8)')
  assert result.returncode == 2
  assert "params 'output/bias' has shape (10,) there and (2,) here" in result.stderr
  assert len(result.stderr.strip().splitlines()) == 1
  assert not (tmp_path / 'run').exists()  # so the corrected command starts afresh


def _fine_tune(source_run, **changes):
  """Two classes fine-tuned from the source: a new head, the body frozen for 10 steps. SGD
  with momentum, as in tests/test_parallel.py: Adam's sign-like first steps would amplify
  rounding differences between device counts."""
  return config_lib.replace(
      config_lib.TrainConfig(), steps=30, checkpoint_every=10, eval_every=30, log_every=10,
      init_from=str(source_run), init_exclude='output/.*',
      **{'mlp.norm': 'batch', 'mlp.width': 32, 'split.classes': (3, 8),
         'optim.freeze': ('hidden_.*',), 'optim.freeze_until': 10, 'optim.name': 'momentum',
         'optim.learning_rate': 0.01, **changes})


def test_a_fine_tuning_run_resumes_bit_identically(tmp_path, monkeypatch, source_run):
  config, dataset = _fine_tune(source_run, num_devices=1), load_dataset('digits')
  whole = loop.train_and_evaluate(config, tmp_path / 'whole', dataset, {})
  run_killed_after_checkpoint(
      monkeypatch, 20, lambda: loop.train_and_evaluate(config, tmp_path / 'cut', dataset, {}))
  resumed = loop.train_and_evaluate(config, tmp_path / 'cut', dataset, {})
  assert resumed['resumed_from_step'] == 20
  assert resumed['state_fingerprint'] == whole['state_fingerprint']


def test_a_fine_tuning_run_on_1_and_8_devices_agrees(tmp_path, source_run):
  dataset = load_dataset('digits')
  found = [loop.train_and_evaluate(_fine_tune(source_run, num_devices=n), tmp_path / str(n),
                                   dataset, {})['test'] for n in (1, 8)]
  assert found[0]['accuracy'] == found[1]['accuracy']
  assert found[0]['loss'] == pytest.approx(found[1]['loss'], rel=1e-5)
