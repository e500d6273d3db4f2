"""Optimizers, schedules, clipping and frozen parameter groups."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from research import optim
from research.errors import UserError

PARAMS = {'hidden_0': {'kernel': jnp.ones((3, 3)), 'bias': jnp.ones(3)},
          'output': {'kernel': jnp.ones((3, 2)), 'bias': jnp.ones(2)}}


def _quadratic(params):
  return sum(jnp.sum(x ** 2) for x in jax.tree.leaves(params))


def _train(cfg, steps=50, params=PARAMS):
  tx = optim.make_optimizer(cfg, steps, params)
  state = tx.init(params)
  for _ in range(steps):
    updates, state = tx.update(jax.grad(_quadratic)(params), state, params)
    params = optax.apply_updates(params, updates)
  return params


@pytest.mark.parametrize('name', optim.OPTIMIZERS)
def test_every_optimizer_descends(name):
  cfg = optim.OptimConfig(name=name, learning_rate=0.05, weight_decay=1e-3)
  assert _quadratic(_train(cfg)) < 0.5 * _quadratic(PARAMS)


def test_rmsprop_is_optax_rmsprop_with_its_decay():
  cfg = optim.OptimConfig(name='rmsprop', learning_rate=0.01, rmsprop_decay=0.8)
  ours = _train(cfg, steps=5)
  tx, params = optax.rmsprop(0.01, decay=0.8), PARAMS
  state = tx.init(params)
  for _ in range(5):
    updates, state = tx.update(jax.grad(_quadratic)(params), state, params)
    params = optax.apply_updates(params, updates)
  jax.tree.map(np.testing.assert_array_equal, ours, params)


def test_schedules():
  sched = lambda **kw: optim.make_schedule(optim.OptimConfig(learning_rate=1.0, **kw), 100)
  assert float(sched()(99)) == 1.0
  assert float(sched(schedule='cosine')(100)) == pytest.approx(0.0, abs=1e-6)
  assert float(sched(schedule='warmup_cosine', warmup_steps=10)(5)) == pytest.approx(0.5)
  step = sched(schedule='step', boundaries=(30, 60), decay_factor=0.1)
  assert [float(step(t)) for t in (29, 30, 60)] == pytest.approx([1.0, 0.1, 0.01])
  assert float(sched(schedule='linear')(50)) == pytest.approx(0.5)
  # He et al.'s ResNet-110 warm-up: 0.1 of the rate for the first steps, then the rate.
  warm = sched(schedule='step', warmup_steps=4, warmup_factor=0.1, boundaries=(30, 60))
  assert [float(warm(t)) for t in (0, 3, 4, 29, 30, 60)] == pytest.approx(
      [0.1, 0.1, 1.0, 1.0, 0.1, 0.01])


def test_gradient_clipping_bounds_the_update():
  cfg = optim.OptimConfig(name='sgd', learning_rate=1.0, grad_clip=0.5)
  tx = optim.make_optimizer(cfg, 1, PARAMS)
  grads = jax.tree.map(lambda x: 100 * x, PARAMS)
  updates, _ = tx.update(grads, tx.init(PARAMS), PARAMS)
  assert float(optax.tree.norm(updates)) == pytest.approx(0.5, rel=1e-5)


def test_frozen_groups_do_not_move():
  cfg = optim.OptimConfig(name='adamw', learning_rate=0.1, weight_decay=0.1,
                          freeze=('hidden_0/.*',))
  trained = _train(cfg)
  np.testing.assert_array_equal(trained['hidden_0']['kernel'], PARAMS['hidden_0']['kernel'])
  assert not np.allclose(trained['output']['kernel'], PARAMS['output']['kernel'])


def test_freeze_pattern_that_matches_nothing_is_an_error():
  with pytest.raises(UserError, match="'encoder/.*' matches no parameter"):
    optim.make_optimizer(optim.OptimConfig(freeze=('encoder/.*',)), 1, PARAMS)


@pytest.mark.parametrize('options, message', [
    ({'optim.boundaries': (100, 200)}, 'optim.schedule=constant ignores it'),
    ({'optim.warmup_steps': 10, 'optim.schedule': 'cosine'}, 'optim.schedule=cosine ignores it'),
])
def test_schedule_options_the_schedule_ignores_are_refused(options, message):
  from research.train import config as config_lib
  with pytest.raises(UserError, match=message):
    config_lib.validate(config_lib.replace(config_lib.TrainConfig(), **options))
  config_lib.validate(config_lib.replace(config_lib.TrainConfig(), **{
      **options, 'optim.schedule': 'step'}))
