"""The ensemble trainer (research/train/ensemble.py): a member is exactly a `train` run with
its seed and rate; batching, device count and interruption change nothing."""
import dataclasses
import os
import re
import signal

import jax
import numpy as np
import pytest

from research.train import config as config_lib
from research import optim
from research.data import load_dataset, pipeline
from research.errors import NonFiniteError, UserError
from research.train import (checkpoint, ensemble, loop, metrics_log, preemption,
                            state as state_lib)

MLP = dict(depth=2, width=32, activation='relu', weight_init='he', norm='none', skip='none',
           dropout_kind='standard')
CFG = ensemble.EnsembleConfig(model='mlp', options=MLP, rate_field='dropout', epochs=2,
                              batch_size=64, optim=optim.OptimConfig(name='adam',
                                                                     learning_rate=1e-3),
                              fast_compile=True)


@pytest.fixture(scope='module')
def digits():
  return load_dataset('digits')


def params_of(states, k):
  return jax.tree.map(np.asarray, ensemble.member(states, k).params)


def test_a_member_is_the_train_run_with_its_seed_and_rate(digits, tmp_path):
  group = ensemble.Ensemble(CFG, digits, [3, 5], [0.0, 0.4], devices=jax.devices()[:1])
  states = group.train(tmp_path / 'ensemble', {}, {})
  steps = group.total_steps
  config = config_lib.replace(
      config_lib.TrainConfig(), seed=5, batch_size=64, num_devices=1, steps=steps,
      log_every=steps, eval_every=steps, checkpoint_every=steps,
      **{f'mlp.{key}': value for key, value in {**MLP, 'width': 32, 'dropout': 0.4}.items()})
  run = loop.train_and_evaluate(config, tmp_path / 'train', digits, {})
  ckpt = checkpoint.Checkpointer(tmp_path / 'train' / 'checkpoints')
  backend, host_state = loop.build_backend(config, digits, jax.devices()[:1])
  restored, _, _ = ckpt.restore(ckpt.latest_step(), checkpoint.abstract(host_state))
  ckpt.close()
  # Same initialisation, batches, dropout masks and updates: equal up to float rounding
  # (vmap and scan may order the arithmetic differently from the train loop).
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6),
               params_of(states, 1), jax.tree.map(np.asarray, restored.params))
  test = group.split_metrics(states, 'test')[1]
  assert test['log_loss'] == pytest.approx(run['test']['log_loss'], rel=1e-4)


def test_vmapped_and_one_at_a_time_give_the_same_members(digits):
  seeds, rates = [0, 1, 2], [0.0, 0.2, 0.5]
  results = []
  for vmap_members in (0, 2):  # all at once; in batches of 2 with a remainder of 1
    group = ensemble.Ensemble(dataclasses.replace(CFG, vmap_members=vmap_members), digits,
                              seeds, rates)
    states, _, _ = group.init()
    results.append(group.split_metrics(group._train_epochs(states, group.seeds, group.rates,
                                                      _train_data(group), 0, 1)[0], 'test'))
  for other in results[1:]:
    for a, b in zip(results[0], other):
      assert a['log_loss'] == pytest.approx(b['log_loss'], rel=1e-5)


def _train_data(group):
  return jax.device_put(pipeline.split_arrays(group.dataset, 'train'), group.replicated)


def test_members_on_1_and_8_devices_agree(digits):
  seeds, rates = list(range(8)), [0.1 * (k % 4) for k in range(8)]
  fingerprints = []
  for devices in (jax.devices()[:1], jax.devices()[:8]):
    group = ensemble.Ensemble(CFG, digits, seeds, rates, devices=devices)
    assert len(group.members.mesh.devices.flat) == len(devices)
    states, _, _ = group.init()
    states, _ = group._train_epochs(states, group.seeds, group.rates, _train_data(group), 0, 1)
    # On the host: indexing on the devices would dispatch an all-reduce per leaf, which can
    # deadlock XLA:CPU's collectives (ensemble.member).
    assert all(isinstance(leaf, np.ndarray) for leaf in jax.tree.leaves(ensemble.member(states, 0)))
    fingerprints.append([params_of(states, k) for k in range(8)])
  for a, b in zip(*fingerprints):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6), a, b)


COLLECTIVE = re.compile(r'all-reduce|all-gather|collective-permute|all-to-all|reduce-scatter')


def test_members_spread_over_devices_never_communicate(digits):
  # Members are independent, so their programs need no collectives: any would be needless
  # traffic and, on XLA:CPU, a deadlock risk when several calls are in flight
  # (docs/performance.md). Compiled for 8 members on 8 devices.
  group = ensemble.Ensemble(CFG, digits, list(range(8)), [0.0] * 8, devices=jax.devices()[:8])
  states, seeds, rates = group.init()
  images, labels = digits.test_images[:64], digits.test_labels[:64]
  _, mask = pipeline.padded(np.arange(64), 64)
  group.outputs_on(states, images)  # builds its program
  programs = {'train': group._train_epochs.lower(states, seeds, rates, _train_data(group), 0, 1),
              'eval': group._eval_batch.lower(states, rates, images, labels, mask),
              'outputs': group._outputs_batch.lower(states, rates, images)}
  for name, lowered in programs.items():
    assert not COLLECTIVE.findall(lowered.compile().as_text()), name
  # What the check catches: one member's leaf indexed on the devices (ensemble.member's reason).
  leaf = jax.tree.leaves(states)[0]
  assert COLLECTIVE.findall(jax.jit(lambda x: x[3]).lower(leaf).compile().as_text())


def test_a_preempted_ensemble_saves_and_resumes_bit_identically(digits, tmp_path, monkeypatch):
  cfg = dataclasses.replace(CFG, epochs=4, epochs_per_call=2)
  seeds, rates = [0, 1], [0.0, 0.3]
  whole = ensemble.Ensemble(cfg, digits, seeds, rates).train(tmp_path / 'whole', {'a': 1}, {})

  call = ensemble.Ensemble.call

  def call_then_sigterm(self, *args):  # the scheduler preempts the job in the first call
    os.kill(os.getpid(), signal.SIGTERM)
    return call(self, *args)

  monkeypatch.setattr(ensemble.Ensemble, 'call', call_then_sigterm)
  with pytest.raises(preemption.Preempted, match='after step 44'):
    ensemble.Ensemble(cfg, digits, seeds, rates).train(tmp_path / 'cut', {'a': 1}, {})
  monkeypatch.setattr(ensemble.Ensemble, 'call', call)
  assert (tmp_path / 'cut' / 'checkpoints').exists()
  resumed = ensemble.Ensemble(cfg, digits, seeds, rates).train(tmp_path / 'cut', {'a': 1}, {})
  for k in range(2):
    assert state_lib.fingerprint(ensemble.member(resumed, k)) == \
        state_lib.fingerprint(ensemble.member(whole, k))
  steps = [r['step'] for r in metrics_log.read_records(tmp_path / 'cut') if r['split'] == 'train']
  assert steps == sorted(set(steps)) and len(steps) == 4  # one record per epoch, none twice
  with pytest.raises(UserError, match='different config'):
    ensemble.Ensemble(cfg, digits, seeds, rates).train(tmp_path / 'cut', {'a': 2}, {})


def test_bad_ensembles_are_clear_errors(digits):
  with pytest.raises(UserError, match='one rate per seed'):
    ensemble.Ensemble(CFG, digits, [0, 1], [0.1])
  with pytest.raises(UserError, match='larger than'):
    ensemble.Ensemble(dataclasses.replace(CFG, batch_size=5000), digits, [0], [0.1])


@pytest.mark.parametrize('field, values, optimizer', [
    ('optim.learning_rate', (3e-4, 3e-3), 'adam'),
    ('optim.weight_decay', (0.0, 0.05), 'momentum'),  # coupled L2: the term built for both
    ('loss.label_smoothing', (0.0, 0.2), 'adam'),
])
def test_members_can_differ_in_a_hyperparameter(digits, field, values, optimizer):
  """Each member trained with its own traced value equals a group where that value is fixed."""
  base = dataclasses.replace(CFG, epochs=1, optim=dataclasses.replace(CFG.optim, name=optimizer,
                                                                      learning_rate=1e-2))
  varied = ensemble.Ensemble(dataclasses.replace(base, rate_field=field), digits, [0, 0],
                             list(values), devices=jax.devices()[:1])
  states, _, _ = varied.init()
  states, _ = varied._train_epochs(states, varied.seeds, varied.rates, _train_data(varied), 0, 1)
  group, key = field.split('.')
  for k, value in enumerate(values):
    fixed_cfg = dataclasses.replace(base, **{group: dataclasses.replace(getattr(base, group),
                                                                        **{key: value})})
    fixed = ensemble.Ensemble(fixed_cfg, digits, [0], [0.0], devices=jax.devices()[:1])
    one, _, _ = fixed.init()
    one, _ = fixed._train_epochs(one, fixed.seeds, fixed.rates, _train_data(fixed), 0, 1)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 params_of(states, k), params_of(one, 0))
  assert not np.allclose(params_of(states, 0)['output']['kernel'],
                         params_of(states, 1)['output']['kernel'])


def test_a_diverging_member_stops_the_group_unless_divergence_is_kept(digits, tmp_path):
  """A learning-rate sweep keeps its diverged members as NaN and trains the others on."""
  cfg = dataclasses.replace(CFG, rate_field='optim.learning_rate', epochs=1,
                            optim=optim.OptimConfig(name='sgd', learning_rate=0.01))
  group = ensemble.Ensemble(cfg, digits, [0, 0], [0.01, 1e6], devices=jax.devices()[:1])
  with pytest.raises(NonFiniteError):
    group.train(tmp_path / 'stops', {}, {})
  kept = ensemble.Ensemble(dataclasses.replace(cfg, stop_on_divergence=False), digits, [0, 0],
                           [0.01, 1e6], devices=jax.devices()[:1])
  test = kept.split_metrics(kept.train(tmp_path / 'kept', {}, {}), 'test')
  assert np.isfinite(test[0]['loss']) and not np.isfinite(test[1]['loss'])


def test_a_call_longer_than_a_preemption_notice_warns_once_with_a_size_that_fits(monkeypatch,
                                                                                 capsys):
  from research.train import ensemble as ensemble_lib
  monkeypatch.setattr(ensemble_lib, '_warned', [])
  ensemble_lib._warn_if_longer_than_a_preemption_warning(30.0, 10)
  assert capsys.readouterr().err == ''
  ensemble_lib._warn_if_longer_than_a_preemption_warning(200.0, 10)  # 20 s per epoch
  err = capsys.readouterr().err
  assert 'took 200 s' in err and 'set epochs_per_call to 4 or fewer' in err
  ensemble_lib._warn_if_longer_than_a_preemption_warning(200.0, 10)
  assert capsys.readouterr().err == ''
  # An epoch longer than the notice: no number of epochs per call fits, and it says so.
  monkeypatch.setattr(ensemble_lib, '_warned', [])
  ensemble_lib._warn_if_longer_than_a_preemption_warning(331.0, 1)
  err = capsys.readouterr().err
  assert 'call of 1 epoch took 331 s' in err and 'one epoch alone takes longer' in err
  assert 'set epochs_per_call' not in err
