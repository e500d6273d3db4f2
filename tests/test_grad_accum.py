"""Gradient accumulation (`grad_accum=k`): k microbatches per device batch give the update of
the uncut batch, and a run with microbatches is the same on any number of devices.

Exactness holds where the loss is a mean over examples and no layer looks across examples:
so the k = 1 against k = 4 comparisons turn BatchNorm off (it normalises each microbatch by
its own statistics, research/train/microbatches.py) and keep dropout, corruption and latent
codes on, whose draws must follow the example, not the microbatch. The device-count tests keep
BatchNorm on: the same microbatches hold the same examples on 1 and 8 devices. SGD with
momentum, as in tests/test_parallel.py (an update proportional to the gradient).
"""
import contextlib

import jax
import numpy as np
import pytest

from experiments import cli
from research import rng
from research.train import config as config_lib
from tests.conftest import short_run
from tests.test_parallel import TASKS

STEPS = 3


def _params(task: str, grad_accum: int, devices: int = 1, backend: str = 'shard_map',
            norm: str = 'none', host_batches: bool = False):
  """(train losses, final parameters) of a short run."""
  config = config_lib.replace(
      config_lib.TrainConfig(), backend=backend, num_devices=devices, batch_size=64,
      grad_accum=grad_accum, **{'mlp.depth': 2, 'mlp.width': 32, 'mlp.dropout': 0.3,
                                'mlp.norm': norm, 'optim.name': 'momentum',
                                'optim.learning_rate': 0.05, **TASKS[task]})
  losses, backend, state, _ = short_run(config, devices, STEPS, host_batches)
  return losses, jax.device_get(backend.get(state).params)


def _assert_close(a, b, **tolerance):
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, **tolerance), a, b)


@pytest.mark.parametrize('task', list(TASKS))
def test_four_microbatches_give_the_update_of_the_whole_batch(task):
  """Float rounding only: the sum over microbatches adds in another order (1e-5 relative; a
  parameter whose gradient is rounding noise gets 1e-7 absolute)."""
  whole_losses, whole = _params(task, 1)
  sliced_losses, sliced = _params(task, 4)
  np.testing.assert_allclose(sliced_losses, whole_losses, rtol=1e-5)
  _assert_close(sliced, whole, rtol=1e-5, atol=1e-7)


def test_dropout_draws_that_ignored_the_layout_would_be_caught(monkeypatch):
  """The comparison above can fail: if a microbatch's dropout draws did not know which slice
  they are in, every slice would repeat the first slice's masks, and the update would differ
  beyond the tolerance."""
  _, whole = _params('classification', 1)
  monkeypatch.setattr(rng, 'in_slice', lambda index: contextlib.nullcontext())
  _, wrong = _params('classification', 4)
  with pytest.raises(AssertionError):
    _assert_close(wrong, whole, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize('backend, devices, host_batches', [
    ('shard_map', 8, False), ('pmap', 8, False), ('shard_map', 8, True)])
def test_microbatches_with_batchnorm_are_the_same_on_1_and_8_devices(backend, devices,
                                                                     host_batches):
  reference_losses, reference = _params('classification', 4, norm='batch')
  losses, found = _params('classification', 4, devices, backend, 'batch', host_batches)
  np.testing.assert_allclose(losses, reference_losses, rtol=1e-5)
  _assert_close(found, reference, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('overrides, message', [
    (['grad_accum=0'], 'grad_accum=0 is out of range'),
    (['grad_accum=3'], 'grad_accum=3 does not divide the batch on each device'),
    (['grad_accum=2', 'loss.name=weighted_cross_entropy'], 'class_weight_norm=count'),
])
def test_bad_grad_accum_is_one_line_and_exit_2(tmp_path, capsys, overrides, message):
  code = cli.main(['run', 'train', '--workdir', str(tmp_path / 'w'), 'batch_size=64',
                   'steps=2', *overrides])
  err = capsys.readouterr().err
  assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_the_memory_benchmark_runs_and_microbatches_need_fewer_temporaries(monkeypatch, capsys):
  from experiments.throughput import accumulation_memory
  monkeypatch.setattr('sys.argv', ['accumulation_memory', '--model', 'mlp', '--data', 'digits',
                                   '--batch', '256', '--accums', '1,8'])
  accumulation_memory.main()
  lines = capsys.readouterr().out.strip().splitlines()
  temporaries = [float(line.split('temporaries ')[1].split(' MiB')[0]) for line in lines]
  assert len(temporaries) == 2 and temporaries[1] < temporaries[0]


def test_microbatches_outside_their_layout_are_refused():
  """Microbatches must be cut from a batch picked under their layout (rng.sliced): a caller
  that forgot it would silently get other examples' dropout draws."""
  from research.train import microbatches
  grad_fn = microbatches.value_and_grad(
      lambda p, carry, x: ((p * x).sum(), ((), carry)), steps=2)
  with pytest.raises(ValueError, match='need rng.sliced'):
    grad_fn(1.0, {}, np.ones(4, np.float32))
  with rng.sliced(2):
    (loss, _), grad = grad_fn(1.0, {}, np.ones(4, np.float32))
  assert float(loss) == 2.0 and float(grad) == 2.0  # means over the two slices of two
