"""Device-count invariance and backend agreement: the same global batch gives the same run.

20 steps with dropout and BatchNorm on, so masks and batch statistics are exercised too.
"""
import numpy as np
import pytest

from experiments import train
from research.data import load_dataset, pipeline
from research.train import loop, parallel, state as state_lib


def _losses(backend: str, devices: int, steps: int = 20):
  config = train.get_config()
  with config.unlocked():
    config.backend, config.num_devices, config.batch_size = backend, devices, 64
    config.mlp.update(dict(depth=2, width=64, dropout=0.3, norm='batch'))
  dataset = load_dataset('digits')
  b, host_state = loop.build_backend(config, dataset, parallel.select_devices(devices))
  state, data = b.put(host_state), b.put(pipeline.split_arrays(dataset, 'train'))
  perm = b.put(pipeline.epoch_permutation(0, 0, len(dataset.train_labels)))
  losses = []
  for _ in range(steps):
    state, m = b.train_step(state, data, perm)
    losses.append(float(np.ravel(m['loss'])[0]))
  return np.array(losses), state_lib.fingerprint(b.get(state))


@pytest.fixture(scope='module')
def reference():
  return _losses('shard_map', 1)


@pytest.mark.parametrize('backend', parallel.BACKENDS)
@pytest.mark.parametrize('devices', [1, 2, 4, 8])
def test_losses_agree_across_device_counts(reference, backend, devices):
  losses, _ = _losses(backend, devices)
  np.testing.assert_allclose(losses, reference[0], rtol=1e-5)
  assert losses[-1] < losses[0]  # and it learns


@pytest.mark.parametrize('devices', [1, 4])
def test_pmap_and_shard_map_give_the_same_state(devices):
  assert _losses('pmap', devices, steps=5)[1] == _losses('shard_map', devices, steps=5)[1]
