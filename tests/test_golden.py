"""Two training steps per model, compared with stored golden values.

If this fails after a change, ask whether the change of behaviour was meant. If it was,
regenerate with `UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py` and commit the JSON
together with the change that explains it.

The values must hold on any x86-64 or ARM CPU, whose XLA kernels round differently, so only
well-conditioned quantities are compared:
- the first step's loss, accuracy and gradient norm, computed from the initial parameters;
- the second step's loss and gradient norm, after one Adam update. Adam's first update is
  about +-lr for every parameter, with the sign of its gradient; where a gradient is rounding
  noise (a bias before BatchNorm was one) its sign, and so the sum of the parameters, depends
  on the CPU. Such a parameter moves the loss by its gradient times lr: nothing.
The mean absolute parameter after the update was a golden value once, and is no longer: each
flipped update moves it by 2 lr / N, so on a 2-core AVX2 EPYC one ulp moved it by 1.0e-5 while
a 1% change of the learning rate moved it by only 1.3e-6 (it measures the coin flips more than
the update). `test_golden_quantities_do_not_move_under_one_ulp` measures how far each quantity moves when
the initial parameters or the input normalisation change by one unit in the last place, the
size of the differences between CPUs, and requires that to stay below a fifth of its
tolerance. Measured on an AVX-512 EPYC: the first step's quantities move by up to 5e-7, the
second step's by up to 7e-6 (the BatchNorm MLP: a first-layer weight from a pixel that is 0 in
every digit acts as a bias before BatchNorm, so its gradient is noise and its Adam update a
coin flip, which the second step's BatchNorm statistics see). On a 2-vCPU AVX-512 Xeon the
CNN's first gradient norm moved by 6.5e-7 (about five float32 epsilons: the norm is one sum of
squares over every parameter, whose rounding the nudge reorders), hence its tolerance of 5e-6.
"""
import json
import os
import pathlib

import jax
import numpy as np
import pytest

from research.train import config as config_lib
from research.data import load_dataset, pipeline
from research.train import loop, parallel

GOLDEN = pathlib.Path(__file__).parent / 'golden' / 'two_steps.json'
# Relative tolerances, by how well-conditioned the quantity is (see above); a 1% change of the
# learning rate moves loss_after by 1.5e-4 or more, outside its tolerance (tested below).
TOLERANCE = {'loss': 2e-6, 'accuracy': 2e-6, 'grad_norm': 5e-6,
             'loss_after': 5e-5, 'grad_norm_after': 5e-5}
MODELS = {
    'mlp': dict(model='mlp', mlp=dict(depth=2, width=64, dropout=0.2, norm='batch')),
    'mlp_residual_tanh': dict(model='mlp', mlp=dict(depth=3, width=32, skip='residual',
                                                     activation='tanh', weight_init='glorot')),
    'cnn': dict(model='cnn', cnn=dict(channels=(8, 16), dense=(32,), dropout=0.2,
                                      norm='batch')),
}


def _ulp_nudge(tree, seed: int):
  """Every float array moved by one unit in the last place, up or down at random."""
  rng = np.random.default_rng(seed)

  def nudge(x):
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
      return x
    direction = np.where(rng.random(x.shape) < 0.5, -np.inf, np.inf).astype(x.dtype)
    return np.nextafter(x, direction)
  return jax.tree.map(nudge, tree)


def two_step_metrics(overrides: dict, nudge_params: int | None = None,
                     nudge_inputs: int | None = None, learning_rate: float | None = None) -> dict:
  model = overrides['model']
  config = config_lib.replace(
      config_lib.TrainConfig(), batch_size=32, num_devices=1, model=model,
      **{f'{model}.{key}': value for key, value in overrides[model].items()},
      **({'optim.learning_rate': learning_rate} if learning_rate else {}))
  dataset = load_dataset('digits')
  b, host_state = loop.build_backend(config, dataset, parallel.select_devices(1))
  if nudge_params is not None:
    host_state = host_state.replace(params=_ulp_nudge(host_state.params, nudge_params))
  data = pipeline.split_arrays(dataset, 'train')
  if nudge_inputs is not None:
    data = data.replace(mean=_ulp_nudge(data.mean, nudge_inputs))
  data, perm = b.put(data), b.put(pipeline.epoch_permutation(config.seed, 0,
                                                             len(dataset.train_labels)))
  state, first = b.train_step(b.put(host_state), data, perm)
  state, second = b.train_step(state, data, perm)
  return {
      'loss': float(first['loss']), 'accuracy': float(first['accuracy']),
      'grad_norm': float(first['grad_norm']),
      'loss_after': float(second['loss']), 'grad_norm_after': float(second['grad_norm']),
  }


def _relative_change(a: dict, b: dict) -> dict:
  return {key: abs(a[key] - b[key]) / abs(b[key]) for key in b}


@pytest.mark.parametrize('name', MODELS)
def test_two_steps_match_golden(name):
  got = two_step_metrics(MODELS[name])
  if os.environ.get('UPDATE_GOLDEN'):
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    golden[name] = got
    GOLDEN.write_text(json.dumps(golden, indent=2, sort_keys=True) + '\n')
  expected = json.loads(GOLDEN.read_text())[name]
  assert set(got) == set(expected)
  for key, value in expected.items():
    assert got[key] == pytest.approx(value, rel=TOLERANCE[key]), (
        f'{name}: {key} after two steps is {got[key]!r}, golden value {value!r}. Did you mean '
        'to change behaviour? If so, regenerate tests/golden/two_steps.json (see this file).')


@pytest.mark.parametrize('name', MODELS)
def test_golden_quantities_do_not_move_under_one_ulp(name):
  """Another CPU rounds differently: about one ulp per operation. A quantity that such a change
  moves by more than a fifth of its tolerance cannot be a golden value."""
  base = two_step_metrics(MODELS[name])
  for nudged in (two_step_metrics(MODELS[name], nudge_params=1),
                 two_step_metrics(MODELS[name], nudge_inputs=2)):
    for key, change in _relative_change(nudged, base).items():
      assert change < TOLERANCE[key] / 5, f'{name}: one ulp moves {key} by {change:.1e} relative'


def test_the_tolerance_sees_a_one_percent_change_of_the_learning_rate():
  base = two_step_metrics(MODELS['mlp'])
  changed = two_step_metrics(MODELS['mlp'], learning_rate=1.01e-3)
  assert _relative_change(changed, base)['loss_after'] > 2 * TOLERANCE['loss_after']
