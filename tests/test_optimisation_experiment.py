"""The optimisation experiment: theory checks, every section's report, resume, bad input, and
conclusions that follow their numbers."""
import json
import math

import numpy as np
import optax
import pytest

from experiments import cli
from experiments.optimisation import (SECTIONS, activations, convex, gd_variants, groups,
                                      learning_rate, model_size, optimizers)
from experiments.optimisation import config as config_lib
from research import stats

TINY = ['seeds=2', 'convex.dimension=6', 'convex.steps=120', 'convex.bisections=12',
        'gd_variants.batch_sizes=(0,32)', 'gd_variants.epochs=2', 'gd_variants.width=16',
        'gd_variants.variance_batches=(1,8)', 'gd_variants.variance_draws=20',
        'gd_variants.variance_examples=200',
        'sweep.optimizers=(sgd,adam)', 'sweep.rates=(0.01,0.1)', 'sweep.epochs=2',
        'sweep.width=16', 'sweep.depth=1',
        'activations.activations=(relu,)', 'activations.epochs=2',
        'activations.channels=(4,)', 'activations.dense=(8,)', 'activations.linear_epochs=2',
        'activations.linear_depth=2', 'activations.linear_width=8',
        'model_size.depths=(1,)', 'model_size.widths=(8,)', 'model_size.folds=2',
        'model_size.epochs=2']
GROUPS = ['activation_relu', 'gd_batch1148', 'gd_batch32', 'linear_deep',
          'linear_logistic', 'size_d1_w8', 'size_d1_w8_fold0', 'size_d1_w8_fold1', 'size_d1_w8_l2',
          'sweep_adam', 'sweep_sgd']


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('optimisation')
  assert cli.main(['run', 'optimisation', '--quick', '--workdir', str(workdir), *TINY]) == 0
  return workdir


def test_report_has_every_section_with_a_conclusion_and_a_plot(tiny_run):
  report = (tiny_run / 'report.md').read_text()
  for number, (name, module) in enumerate(SECTIONS.items(), 1):
    assert f'## {number}. {module.TITLE}' in report
    if hasattr(module, 'plot') and name != 'model_size':
      assert (tiny_run / f'{name}.png').stat().st_size > 1000
  assert report.count('**Conclusion.**') == len(SECTIONS)
  assert sorted(p.name for p in (tiny_run / 'runs').iterdir()) == GROUPS
  results = json.loads((tiny_run / 'results.json').read_text())
  assert set(results['headline']) == set(SECTIONS)
  # Theory holds on the tiny settings too: every threshold and rate within its bound.
  assert all(r['holds'] for r in convex.analyze(results['sections']['convex'])['rows'])


def test_every_group_has_its_seeds_rates_and_splits(tiny_run):
  sweep = json.loads((tiny_run / 'runs' / 'sweep_sgd' / 'results.json').read_text())
  assert [(m['seed'], m['rate']) for m in sweep['members']] == [
      (0, 0.01), (1, 0.01), (0, 0.1), (1, 0.1)]
  assert set(sweep['members'][0]) == {'seed', 'rate', 'train', 'val', 'test'}
  records = [json.loads(line) for line in
             (tiny_run / 'runs' / 'sweep_sgd' / 'metrics.jsonl').read_text().splitlines()]
  assert sum(r['split'] == 'val' for r in records) == 2  # evaluated after every epoch


def test_a_rerun_reuses_every_section_and_rewrites_the_same_results(tiny_run, capsys):
  before = json.loads((tiny_run / 'results.json').read_text())
  assert cli.main(['run', 'optimisation', '--quick', '--workdir', str(tiny_run), *TINY]) == 0
  out = capsys.readouterr().out
  assert out.count('measured before, reusing') == len(SECTIONS)
  after = json.loads((tiny_run / 'results.json').read_text())
  assert after['headline'] == before['headline']


@pytest.mark.parametrize('override, message', [
    ('sweep.optimizers=(lbfgs,)', "sweep.optimizers=('lbfgs',) is not allowed"),
    ('data=diabetes', 'has real-valued targets'),
    ('val_fraction=0', 'val_fraction=0.0 is out of range'),
    ('activations.activations=(swoosh,)', 'is not allowed'),
    ('model_size.folds=1', 'model_size.folds=1 is out of range'),
    ('gd_variants.batch_sizes=(-1,)', 'gd_variants.batch_sizes=(-1,) is not allowed'),
    ('sections=(convex,nope)', 'is not allowed'),
])
def test_bad_config_is_one_line_and_exit_2(override, message, capsys, tmp_path):
  assert cli.main(['run', 'optimisation', '--workdir', str(tmp_path / 'w'), override]) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ') and message in err and err.count('\n') == 1
  assert not (tmp_path / 'w').exists()


def test_the_rate_of_a_geometric_sequence_is_its_ratio():
  assert convex.rate(0.9 ** np.arange(200)) == pytest.approx(0.9, rel=1e-9)
  # Rounding at the end is left out of the fit.
  tail = np.concatenate([0.5 ** np.arange(60), np.full(40, 1e-300)])
  assert convex.rate(tail) == pytest.approx(0.5, rel=1e-6)


def test_optax_heavy_ball_is_polyaks_recursion():
  """optax.sgd with momentum is x+ = x - lr g + beta (x - x-), the method theory speaks of."""
  eig = np.array([1.0, 10.0])
  loss = lambda x: 0.5 * (eig * x ** 2).sum()
  lr, beta = 0.1, 0.5
  found = convex.distances(loss, np.ones(2), np.zeros(2), optax.sgd(lr, momentum=beta), 5)
  prev, x, by_hand = np.ones(2), np.ones(2), [np.sqrt(2.0)]
  for _ in range(5):
    x, prev = x - lr * eig * x + beta * (x - prev), x
    by_hand.append(np.linalg.norm(x))
  np.testing.assert_allclose(found, by_hand, rtol=1e-5)


def _convex_results(threshold_factor=1.0, rate_factor=1.0):
  problem = {'threshold': {'theory': 0.02, 'measured': 0.02 * threshold_factor},
             'theory_rate': {'gd': 0.98, 'heavy_ball': 0.818},
             'rate': {'gd': {'measured': 0.98 * rate_factor},
                      'heavy_ball': {'measured': 0.818}}}
  return {'quadratic': problem, 'measured_s': 1.0}


def test_convex_verdict_follows_the_measured_numbers():
  assert convex.analyze(_convex_results())['verdict'].startswith('every measured')
  assert 'not matched for quadratic: GD divergence' in convex.analyze(
      _convex_results(threshold_factor=1.08))['verdict']
  assert 'GD rate' in convex.analyze(_convex_results(rate_factor=0.8))['verdict']


def _seeds(*values):
  return stats.over_seeds(values)


def test_learning_rate_claim_needs_both_halves():
  rows = lambda losses: [{'rate': r, 'loss': _seeds(*(l + d for d in (-0.01, 0, 0.01))),
                          'diverged': False} for r, l in zip((1e-3, 1e-2, 1e-1), losses)]
  u_shaped = learning_rate.claim_for(rows([2.0, 0.1, 1.0]))
  assert u_shaped['too_low_slow'] and u_shaped['too_high_worse'] and u_shaped['best_rate'] == 1e-2
  rising = learning_rate.claim_for(rows([2.0, 1.0, 0.1]))  # the highest rate is best
  assert rising['too_low_slow'] and not rising['too_high_worse']
  assert learning_rate.claim_for(rows([0.1, 0.1, 0.1]))['too_low_slow'] is False


def test_kingma_verdict_is_inconclusive_inside_the_spread():
  fast, slow = _seeds(10, 12, 14), _seeds(40, 42, 44)
  near = _seeds(11, 13, 15)
  assert optimizers.kingma_verdict(['adam', 'sgd'], {'adam': fast, 'sgd': slow},
                                   True).startswith('reproduced')
  assert optimizers.kingma_verdict(['adam', 'sgd'], {'adam': fast, 'sgd': near},
                                   True).startswith('inconclusive')
  assert optimizers.kingma_verdict(['sgd', 'adam'], {'adam': slow, 'sgd': fast},
                                   True).startswith('not reproduced: sgd')
  # Another optimizer first, but Adam inside its spread: no verdict either way.
  assert optimizers.kingma_verdict(['sgd', 'adam'], {'adam': near, 'sgd': fast},
                                   True).startswith('inconclusive: sgd')


def _chosen(adam_accuracy, sgd_accuracy):
  member = lambda acc: {'rate': 0.1, 'steps_per_epoch': 10, 'val_curves': [[0.5, 0.2]] * 3,
                        'val_loss': _seeds(0.2, 0.21, 0.19), 'test_accuracy': _seeds(*acc)}
  return {'chosen': {'adam': member(adam_accuracy), 'sgd': member(sgd_accuracy)},
          'target_val_loss': 0.0}


def test_wilson_verdict_follows_test_accuracy():
  worse = optimizers.analyze(_chosen((0.90, 0.91, 0.92), (0.95, 0.96, 0.97)))
  assert worse['wilson'].startswith('reproduced: sgd')
  better = optimizers.analyze(_chosen((0.95, 0.96, 0.97), (0.90, 0.91, 0.92)))
  assert better['wilson'].startswith('not reproduced: adam')
  same = optimizers.analyze(_chosen((0.90, 0.95, 0.97), (0.91, 0.94, 0.96)))
  assert same['wilson'].startswith('inconclusive')


def _gd_results(slope):
  row = lambda b, loss, kind: {'batch_size': b, 'kind': kind, 'seconds_per_epoch': 0.1,
                               'val_loss': _seeds(loss, loss + 0.01, loss - 0.01),
                               'val_loss_curve': [2 * loss, loss],
                               'test_accuracy': _seeds(0.9, 0.91, 0.92)}
  return {'rows': [row(100, 1.0, 'batch'), row(1, 0.2, 'stochastic')], 'epochs': 2,
          'variance': {'slope': slope}}


def test_gd_verdicts_follow_the_losses_and_the_variance_slope():
  found = gd_variants.analyze(_gd_results(-1.0))
  assert found['best_per_epoch'] == 1 and 'about 1/B' in found['variance']
  assert 'not the 1/B' in gd_variants.analyze(_gd_results(-0.5))['variance']


def test_linear_collapse_reproduces_a_linear_mlp():
  rng = np.random.default_rng(0)
  params = {f'hidden_{i}': {'kernel': rng.normal(size=(4, 4)), 'bias': rng.normal(size=4)}
            for i in range(3)}
  params['output'] = {'kernel': rng.normal(size=(4, 2)), 'bias': rng.normal(size=2)}
  x = rng.normal(size=(5, 4))
  h = x
  for i in range(3):
    h = h @ params[f'hidden_{i}']['kernel'] + params[f'hidden_{i}']['bias']
  h = h @ params['output']['kernel'] + params['output']['bias']
  a, c = activations.collapse(params)
  np.testing.assert_allclose(x @ a + c, h, rtol=1e-10)


def _activation_results(gap, relu_epochs, tanh_epochs):
  row = lambda name, epochs: {'activation': name, 'epochs_to_target': _seeds(*epochs),
                              'test_accuracy': _seeds(0.9, 0.91, 0.92)}
  return {'linear': {'max_relative_gap': gap, 'prediction_agreement': 1.0,
                     'deep_accuracy': _seeds(0.9, 0.91, 0.92),
                     'logistic_accuracy': _seeds(0.9, 0.905, 0.915)},
          'rows': [row('relu', relu_epochs), row('tanh', tanh_epochs)]}


def test_activation_verdicts_follow_their_numbers():
  found = activations.analyze(_activation_results(1e-7, (2, 2, 3), (12, 12, 13)))
  assert found['collapse'].startswith('the deep linear network computes')
  assert found['speed'].startswith('relu reaches it first, outside')
  assert found['krizhevsky'].startswith('tanh needs 5.29x the epochs')
  slower = activations.analyze(_activation_results(0.5, (12, 12, 13), (2, 2, 3)))
  assert slower['collapse'].startswith('the collapsed map does not')
  assert slower['speed'].startswith('tanh') and 'ReLU is not faster' in slower['krizhevsky']
  close = activations.analyze(_activation_results(1e-7, (2, 3, 4), (3, 3, 4)))
  assert 'inconclusive' in close['krizhevsky']


def _size_rows(cv, val, half_a, half_b):
  return [{'depth': 1, 'width': w, 'cv_accuracy': c, 'val_accuracy': _seeds(v, v, v + 0.001),
           'test_accuracy': _seeds(0.9, 0.91, 0.92), 'early_stopped_test': _seeds(0.9, 0.91, 0.92),
           'test_halves': [[a] * 3, [b] * 3]}
          for w, c, v, a, b in zip((8, 16, 32), cv, val, half_a, half_b)]


def test_model_size_choices_and_optimism_follow_their_numbers():
  reg = {'with': _seeds(0.9, 0.91, 0.92), 'without': _seeds(0.9, 0.91, 0.92), 'depth': 1,
         'width': 32, 'weight_decay': 1e-4}
  lucky = model_size.analyze({'rows': _size_rows((0.8, 0.9, 0.85), (0.8, 0.85, 0.9),
                                                 (0.80, 0.85, 0.95), (0.80, 0.85, 0.85)),
                              'regularised': reg})
  assert lucky['chosen'] == {'cv': 'd1_w16', 'val': 'd1_w32', 'test': 'd1_w32'}
  assert lucky['optimism'] == pytest.approx(0.1 - 0.1 / 3)
  assert 'overstates its accuracy' in lucky['optimism_text']
  assert lucky['agree'].startswith('cross-validation chooses d1_w16')
  fair = model_size.analyze({'rows': _size_rows((0.8, 0.9, 0.85), (0.8, 0.9, 0.85),
                                                (0.8, 0.9, 0.85), (0.8, 0.9, 0.85)),
                             'regularised': reg})
  assert fair['optimism'] == pytest.approx(0.0) and 'does not overstate' in fair['optimism_text']
  assert fair['l2'].startswith('inconclusive')


def test_intervals_overlap_only_inside_the_spread():
  assert stats.intervals_overlap(_seeds(1, 2, 3), _seeds(2, 3, 4))
  assert not stats.intervals_overlap(_seeds(1, 1.1, 1.2), _seeds(5, 5.1, 5.2))
  assert groups.first_epoch_at([0.9, 0.5, 0.2], 0.5) == 2
  assert groups.first_epoch_at([0.9, None, math.nan], 0.5) is None


def test_the_config_and_its_quick_preset_are_valid():
  from experiments import optimisation
  config = optimisation.get_config()
  optimisation.validate(config)
  optimisation.quick(config)
  optimisation.validate(config)
  assert tuple(config.sections) == config_lib.SECTION_NAMES
