"""One training step per model, compared with stored golden values.

If this fails after a change, ask whether the change of behaviour was meant. If it was,
regenerate with `UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py` and commit the JSON
together with the change that explains it.
"""
import json
import os
import pathlib

import jax
import numpy as np
import pytest

from experiments import train
from research.data import load_dataset, pipeline
from research.train import loop, parallel

GOLDEN = pathlib.Path(__file__).parent / 'golden' / 'one_step.json'
MODELS = {
    'mlp': dict(model='mlp', mlp=dict(depth=2, width=64, dropout=0.2, norm='batch')),
    'mlp_residual_tanh': dict(model='mlp', mlp=dict(depth=3, width=32, skip='residual',
                                                     activation='tanh', weight_init='glorot')),
    'cnn': dict(model='cnn', cnn=dict(channels=(8, 16), dense=(32,), dropout=0.2,
                                      norm='batch')),
}


def one_step_metrics(overrides: dict) -> dict:
  config = train.get_config()
  with config.unlocked():
    config.batch_size, config.num_devices = 32, 1
    config.model = overrides['model']
    config[config.model].update(overrides[config.model])
  dataset = load_dataset('digits')
  b, host_state = loop.build_backend(config, dataset, parallel.select_devices(1))
  perm = pipeline.epoch_permutation(config.seed, 0, len(dataset.train_labels))
  state, m = b.train_step(b.put(host_state), b.put(pipeline.split_arrays(dataset, 'train')),
                          b.put(perm))
  leaves = jax.tree.leaves(state.params)
  return {
      'loss': float(m['loss']), 'accuracy': float(m['accuracy']),
      'grad_norm': float(m['grad_norm']),
      'param_sum': float(sum(np.sum(np.asarray(x, np.float64)) for x in leaves)),
      'param_abs_mean': float(np.mean(np.concatenate([np.abs(np.ravel(x)) for x in leaves]))),
  }


@pytest.mark.parametrize('name', MODELS)
def test_one_step_matches_golden(name):
  got = one_step_metrics(MODELS[name])
  if os.environ.get('UPDATE_GOLDEN'):
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    golden[name] = got
    GOLDEN.write_text(json.dumps(golden, indent=2, sort_keys=True) + '\n')
  expected = json.loads(GOLDEN.read_text())[name]
  for key, value in expected.items():
    assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-7), (
        f'{name}: {key} after one step is {got[key]!r}, golden value {value!r}. Did you mean '
        'to change behaviour? If so, regenerate tests/golden/one_step.json (see this file).')
