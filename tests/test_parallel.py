"""Device-count invariance and backend agreement: the same global batch gives the same run.

20 steps with dropout and BatchNorm on, so masks and batch statistics are exercised too. The
per-process input path (batches gathered on the host, as several processes use it) is held to
the same reference as the device-resident one.

The optimizer is SGD with momentum, whose update is proportional to the gradient. Adam's first
steps move every parameter by about +-lr with the sign of its gradient, so a gradient that is
rounding noise (a first-layer weight from a pixel that is 0 in nearly every digit, which
BatchNorm almost cancels) takes a sign that depends on the summation order, which another
device count changes: on an AVX-512 EPYC the 2-device losses then left 1e-5 by step 5. That is
the optimizer amplifying rounding, not the parallel step disagreeing.
"""
import functools
import json

import jax
import numpy as np
import pytest

from research.train import config as config_lib
from research.data import load_dataset
from research.train import loop, parallel, state as state_lib
from tests.conftest import run_cli, short_run, subprocess_xla_flags


# The other tasks (research/tasks.py), each on its own data.
TASKS = {'classification': {},
         'regression': {'task': 'regression', 'data': 'diabetes', 'loss.name': 'mse'},
         'binary': {'task': 'binary', 'data': 'breast_cancer'},
         'reconstruction': {'task': 'reconstruction', 'model': 'autoencoder',
                            'loss.name': 'mse', 'autoencoder.encoder': (32,),
                            'autoencoder.code': 8, 'corruption.kind': 'gaussian',
                            'corruption.level': 0.3},
         'adversarial': {'task': 'adversarial', 'model': 'gan', 'gan.latent': 8,
                         'gan.generator': (32,), 'gan.discriminator': (32,)}}


def _config(backend: str, devices: int, task: str = 'classification'):
  return config_lib.replace(
      config_lib.TrainConfig(), backend=backend, num_devices=devices, batch_size=64,
      eval_batch_size=200, **{'mlp.depth': 2, 'mlp.width': 64, 'mlp.dropout': 0.3,
                              'mlp.norm': 'batch', 'optim.name': 'momentum',
                              'optim.learning_rate': 0.05, **TASKS[task]})


def _run(backend: str, devices: int, steps: int = 20, host_batches: bool = False,
         task: str = 'classification'):
  """(train losses, final state fingerprint, test metrics) of a short run."""
  config = _config(backend, devices, task)
  losses, b, state, source = short_run(config, devices, steps, host_batches)
  dataset = load_dataset(config.data)
  test = loop.evaluate(b, state, source, len(dataset.test_labels), config.eval_batch_size,
                       loop.task_of(config, dataset))
  return losses, state_lib.fingerprint(b.get(state)), test


def _losses(backend: str, devices: int, steps: int = 20):
  return _run(backend, devices, steps)[:2]


@pytest.fixture(scope='module')
def reference():
  return _losses('shard_map', 1)


@pytest.mark.parametrize('backend', parallel.BACKENDS)
@pytest.mark.parametrize('devices', [1, 2, 4, 8])
def test_losses_agree_across_device_counts(reference, backend, devices):
  losses, _ = _losses(backend, devices)
  np.testing.assert_allclose(losses, reference[0], rtol=1e-5)
  assert losses[-1] < losses[0]  # and it learns


def test_pmap_and_shard_map_give_the_same_state_on_several_devices():
  assert _losses('pmap', 4, steps=5)[1] == _losses('shard_map', 4, steps=5)[1]


def test_pmap_and_shard_map_agree_on_one_device():
  # One device has no collectives (loop.collective_axis), and without the all-reduces XLA lays
  # out the two programs differently: equal to float rounding, not bit for bit.
  (pmap_losses, _, pmap_accuracy), (shard_losses, _, shard_accuracy) = (
      _run('pmap', 1, steps=5), _run('shard_map', 1, steps=5))
  np.testing.assert_allclose(pmap_losses, shard_losses, rtol=1e-6)
  assert pmap_accuracy['accuracy'] == shard_accuracy['accuracy']


@pytest.mark.parametrize('devices', [1, 8])
def test_batches_gathered_per_process_train_like_the_resident_data(reference, devices):
  losses, _, test = _run('shard_map', devices, host_batches=True)
  np.testing.assert_allclose(losses, reference[0], rtol=1e-5)
  assert test['accuracy'] == _run('shard_map', 1)[2]['accuracy']


@pytest.mark.parametrize('task', ['regression', 'binary', 'reconstruction', 'adversarial'])
def test_every_task_trains_alike_on_1_and_8_devices_and_both_backends(task):
  """(Classification runs every device count, 1 to 8, in the tests above.)"""
  run = functools.partial(_run, steps=8, task=task)  # the compiles cost more than the steps
  reference_losses, _, reference_test = run('shard_map', 1)
  assert reference_losses[-1] < reference_losses[0]
  for backend, counts in (('shard_map', (8,)), ('pmap', (8,))):
    for devices in counts:
      losses, _, test = run(backend, devices)
      np.testing.assert_allclose(losses, reference_losses, rtol=1e-5,
                                 err_msg=f'{backend} on {devices} devices')
      np.testing.assert_allclose(test['loss'], reference_test['loss'], rtol=1e-5)
  # The per-process input path, as several processes run it.
  losses, _, _ = run('shard_map', 8, host_batches=True)
  np.testing.assert_allclose(losses, reference_losses, rtol=1e-5)


def test_an_eval_batch_that_does_not_divide_the_devices_is_padded(tmp_path):
  """eval_batch_size=100 on 8 devices runs as 104 (the padding masked): the same metrics."""
  from experiments import cli
  found = []
  for eval_batch in (100, 104):
    workdir = tmp_path / str(eval_batch)
    assert cli.main(['run', 'train', '--workdir', str(workdir), 'steps=4', 'batch_size=64',
                     'num_devices=8', f'eval_batch_size={eval_batch}', 'eval_every=4',
                     'checkpoint_every=4', 'log_every=2']) == 0
    found.append(json.loads((workdir / 'results.json').read_text())['test'])
  assert found[0]['count'] == found[1]['count'] == 360
  assert found[0]['accuracy'] == found[1]['accuracy']
  assert found[0]['loss'] == pytest.approx(found[1]['loss'], rel=1e-6)


def test_a_long_run_on_several_cpu_devices_does_not_deadlock(tmp_path):
  """Hundreds of steps, each with a collective, on 8 CPU devices sharing the host's cores, in
  a process of its own (a deadlock aborts the process). With every call dispatched
  asynchronously this aborted within 150 steps on a 2-core Xeon, in every try, under either
  backend; the next test holds both to one call in flight."""
  timeouts = ('--xla_cpu_collective_call_warn_stuck_timeout_seconds=5 '
              '--xla_cpu_collective_call_terminate_timeout_seconds=10')
  done = run_cli('run', 'train', 'model=mlp', 'data=digits', 'steps=400', 'eval_every=200',
                 'log_every=100', 'checkpoint_every=400',
                 '--workdir', str(tmp_path / 'run'), timeout=240,
                 env_extra={'XLA_FLAGS': f'{subprocess_xla_flags(8)} {timeouts}'})
  assert done.returncode == 0, done.stderr[-800:]


@pytest.mark.parametrize('backend', parallel.BACKENDS)
def test_several_cpu_devices_get_one_call_in_flight_and_one_device_async_dispatch(backend):
  step = lambda state, batch: (state, {})
  devices = tuple(jax.devices())
  for count, waits in ((1, False), (8, True)):
    made = parallel.make_backend(backend, devices[:count], step, step, 'batch',
                                 train_steps=step)
    for call in (made.train_step, made.eval_step, made.train_steps):
      assert getattr(call, 'waits_for_outputs', False) == waits
    # The throughput experiment lowers the step ahead of time, for XLA's cost analysis.
    state, batch = made.put({'w': np.zeros(2, np.float32)}), np.zeros((count, 2), np.float32)
    assert made.train_step.lower(state, batch).compile().cost_analysis() is not None
    # pmap's copy of the state is read from one device: indexing its per-device stack would be
    # a program with an all-reduce per leaf (parallel._first_copy).
    got = made.get(state)
    np.testing.assert_array_equal(got['w'], np.zeros(2, np.float32))
    assert backend == 'shard_map' or len(got['w'].devices()) == 1
