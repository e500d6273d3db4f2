"""Every report conclusion is computed from its numbers: fed numbers that contradict the claim,
the sentence changes. Each test gives an analysis one set of numbers that bears the claim out
and one that does not."""
import math

import pytest

from experiments import autodiff, dropout, optimisation, throughput, vanishing_gradients
from experiments.autodiff import accuracy, cheap_gradient, hvp, jacobian_cost, manual_backprop
from experiments.autodiff import memory, swell
from experiments.dropout import cnn_variants, lstm_variants, mc_dropout, mlp_variants
from experiments.dropout import stochastic_depth
from experiments.throughput import compile_time, overheads, steps
from experiments.vanishing_gradients import depth_training, init_profiles, normalisation
from experiments.vanishing_gradients import resnet_cifar


def _profile_rows(ratio_at):
  return [{'depth': d, 'first_over_last': ratio_at(d), 'activation': 'sigmoid', 'skip': 'none'}
          for d in (2, 8, 32)]


def test_init_profiles_fits_the_depth_trend():
  vanishing = _profile_rows(lambda d: 0.5 ** (d - 1))
  level = _profile_rows(lambda d: 1.0 + 0.01 * d)
  exploding = _profile_rows(lambda d: 2.0 ** (d - 1))
  assert init_profiles.depth_trend(vanishing)["factor"] == pytest.approx(0.5)
  assert 'vanishes exponentially' in init_profiles.describe(vanishing)
  assert 'stays level' in init_profiles.describe(level)
  assert 'grows exponentially' in init_profiles.describe(exploding)
  # One deep row alone used to decide; the fit uses every depth.
  assert init_profiles.depth_trend(_profile_rows(lambda d: 0.0))['verdict'] == 'vanishes'


def _accuracy_rows(errors_by_h):
  return [{'method': m, 'dtype': d, 'h': h, 'error': e}
          for m in ('forward_difference', 'central_difference') for d in ('float32', 'float64')
          for h, e in errors_by_h.items()]


def test_accuracy_v_and_spsa_slope_come_from_the_numbers():
  v = _accuracy_rows({1e-1: 1e-2, 1e-4: 1e-9, 1e-8: 1e-3})
  falling = _accuracy_rows({1e-1: 1e-2, 1e-4: 1e-5, 1e-8: 1e-9})
  assert accuracy.v_finding(v).startswith('Finite differences draw the V')
  assert accuracy.v_finding(falling).startswith('No finite difference drew a V')
  sqrt_law = [{'samples': k, 'error_median': 3 / math.sqrt(k)} for k in (1, 10, 100, 1000)]
  flat = [{'samples': k, 'error_median': 0.3} for k in (1, 10, 100, 1000)]
  assert '1/sqrt(samples) (fitted exponent -0.50)' in accuracy.spsa_finding(sqrt_law)
  assert 'exponent 0.00 in the samples, not the -1/2' in accuracy.spsa_finding(flat)


def _cells(exponent):
  return [{'n': n, 'm': m, 'forward_flops': 1e6 * (n / m) ** exponent, 'reverse_flops': 1e6}
          for n in (4, 64, 1024) for m in (4, 64, 1024)]


def test_jacobian_flop_ratio_is_tested_against_n_over_m():
  assert jacobian_cost.flop_finding(_cells(1.0)).startswith('The FLOP ratio follows n/m')
  assert jacobian_cost.flop_finding(_cells(0.3)).startswith('The FLOP ratio does not follow')


def _hvp_rows(per_gradient_flops):
  return [{'method': method, 'params': p, 'per_gradient_flops': per_gradient_flops(p)}
          for method in ('forward_over_reverse', 'reverse_over_reverse', 'reverse_over_forward')
          for p in (100, 10_000, 1_000_000)]


def test_hvp_constancy_is_checked_over_p():
  assert 'a small constant number of gradients' in hvp.constancy_finding(_hvp_rows(lambda p: 3))
  growing = hvp.constancy_finding(_hvp_rows(lambda p: 3 * math.log10(p)))
  assert 'not a constant number of gradients' in growing


def test_manual_backprop_agreement_is_judged_against_rounding():
  assert 'rounded in a different order' in manual_backprop.agreement_finding(1e-7, 1e-16)
  wrong = manual_backprop.agreement_finding(3e-2, 3e-2)
  assert 'beyond rounding' in wrong and 'rounded in a different order' not in wrong


def _swell_rows(symbolic):
  return [{'nesting': k, 'symbolic_tree': symbolic(k), 'jaxpr_grad': 10 + 7 * k}
          for k in range(1, 7)]


def test_swell_growth_is_fitted_not_read_from_two_points():
  exponential = swell.growth_finding(_swell_rows(lambda k: 5 * 3 ** k))
  assert 'grows exponentially (a factor of 3.00' in exponential
  assert 'gradient program linearly (7.0 equations per level)' in exponential
  linear = swell.growth_finding(_swell_rows(lambda k: 20 * k))
  assert 'symbolic derivative grows linearly' in linear


def _deep_plain(learns, top_saturation, ratio):
  return {'learns': learns, 'saturation': {'top': [0.0, top_saturation]},
          'grad_profile_start': [ratio, 0.5, 1.0]}


def test_depth_training_names_the_cause_it_measured():
  vanished = depth_training.saturation_finding(_deep_plain(False, 0.01, 1e-6))
  assert 'the gradient has vanished' in vanished and 'does not saturate' in vanished
  saturated = depth_training.saturation_finding(_deep_plain(False, 0.6, 0.5))
  assert 'the top layer saturates' in saturated and 'vanished' not in saturated
  neither = depth_training.saturation_finding(_deep_plain(False, 0.01, 0.5))
  assert 'neither saturation nor a vanished gradient' in neither


def _variant(accuracy, std):
  return {'test_accuracy': accuracy, 'test_accuracy_std': std}


def test_tompson_verdict_uses_the_seed_spread():
  baseline = _variant(0.80, 0.01)
  clear = {'spatial': _variant(0.86, 0.005), 'standard': _variant(0.81, 0.005)}
  noisy = {'spatial': _variant(0.82, 0.02), 'standard': _variant(0.81, 0.02)}
  reversed_ = {'spatial': _variant(0.80, 0.002), 'standard': _variant(0.85, 0.002)}
  assert 'is supported here' in cnn_variants.tompson_verdict(clear, baseline)
  assert 'is inconclusive here' in cnn_variants.tompson_verdict(noisy, baseline)
  assert 'is contradicted here' in cnn_variants.tompson_verdict(reversed_, baseline)


@pytest.mark.parametrize('experiment', [autodiff, dropout, optimisation, throughput,
                                        vanishing_gradients],
                         ids=lambda e: e.__name__.split('.')[-1])
def test_every_section_analyzes_then_renders(experiment):
  for name, module in experiment.SECTIONS.items():
    assert callable(module.analyze) and callable(module.render), name
    assert not hasattr(module, 'write'), f'{name}: analysis, plot and prose are separate steps'


def test_normalisation_verdict_follows_the_plain_rows():
  row = lambda learns, skip='none': {'norm': 'batch', 'skip': skip, 'depth': 32,
                                     'test_accuracy': 0.9 if learns else 0.1, 'learns': learns}
  assert normalisation.analyze({'rows': [row(True), row(False, 'residual')]})['verdict'] == \
      'every plain network learns once normalised'
  assert 'does not rescue' in normalisation.analyze({'rows': [row(True), row(False)]})['verdict']


def test_throughput_goals_are_judged_from_the_times():
  assert compile_time.analyze({'quick_train_first_step_warm_s': 1.5,
                               'quick_train_first_step_cold_s': 9.0})['meets_goal']
  assert not compile_time.analyze({'quick_train_first_step_warm_s': 2.5,
                                   'quick_train_first_step_cold_s': 9.0})['meets_goal']
  cheap = overheads.analyze({'bare_step_s': 1.0, 'loop_step_s': 1.02, 'checkpointed_step_s': 1.2})
  assert cheap['meets_goal'] == {'loop': True, 'checkpoint': False}
  assert cheap['headline']['checkpoint_overhead'] == pytest.approx(1.2 / 1.02 - 1)


def _throughput(torch_step_s):
  timing = lambda s: {'step_s': s, 'spread': 0.01}
  return {'matmul_gflops': {'256': 100.0}, 'batch_size': 100, 'rows': [
      {'workload': 'mlp', 'flops': 1e9,
       'timings': {'ours_step': timing(0.01), 'torch': timing(torch_step_s)}}]}


def test_throughput_says_where_ours_is_faster():
  assert steps.analyze(_throughput(0.02))['faster_than_torch'] == ['mlp']
  assert steps.analyze(_throughput(0.005))['faster_than_torch'] == []
  assert steps.analyze(_throughput(0.02))['headline']['mlp']['ours_over_torch'] == \
      pytest.approx(2.0)


def test_cheap_gradient_bound_is_checked_at_every_size():
  row = lambda flop: {'flop_ratio': flop, 'time_ratio': 2.0}
  assert cheap_gradient.analyze({'rows': [row(2.5), row(3.0)]})['within_bound']
  assert not cheap_gradient.analyze({'rows': [row(2.5), row(7.0)]})['within_bound']


def _memory_rows(remat_growth):
  rows = []
  for strategy in memory.STRATEGIES:
    growth = remat_growth if strategy == 'reverse_remat_sqrt' else 8.0
    for depth, scale in ((4, 1.0), (32, growth)):
      rows.append({'strategy': strategy, 'depth': depth, 'temp_bytes': 1000 * scale,
                   'matmul_flops': 1e6, 'time_s': 1e-3})
  return rows


def test_memory_says_whether_rematerialisation_saved_memory():
  assert memory.analyze({'rows': _memory_rows(3.0)})['remat_saves_memory']
  assert not memory.analyze({'rows': _memory_rows(9.0)})['remat_saves_memory']


def _dropout_row(variant, rate, accuracy, std=0.005):
  return {'variant': variant, 'rate': rate, 'test_accuracy': accuracy, 'test_accuracy_std': std,
          'gap': 0.1, 'gap_std': 0.01}


def test_lstm_variants_pairs_variational_with_naive():
  rows = [_dropout_row('none', 0.0, 0.80), _dropout_row('naive', 0.25, 0.81),
          _dropout_row('variational', 0.25, 0.86)]
  found = lstm_variants.analyze({'rows': rows})
  assert found['paired'] == ['rate 0.25: variational +5.00 points (beyond two standard '
                             'deviations of the seed spread) against naive']
  rows[2] = _dropout_row('variational', 0.25, 0.812)
  assert 'within two standard deviations' in lstm_variants.analyze({'rows': rows})['paired'][0]


def test_mlp_variants_names_the_best_setting_from_the_numbers():
  rows = [_dropout_row('none', 0.0, 0.80), _dropout_row('standard', 0.5, 0.85),
          _dropout_row('gaussian', 0.5, 0.83)]
  assert mlp_variants.analyze({'rows': rows})['headline']['best'] == 'standard 0.5'
  rows[2] = _dropout_row('gaussian', 0.5, 0.90)
  assert mlp_variants.analyze({'rows': rows})['headline']['best'] == 'gaussian 0.5'


def _mc_results(mc_ece):
  member = {'weight_scaling': {'accuracy': 0.9, 'confidence': 0.95, 'log_loss': 0.3, 'ece': 0.05},
            'mc': {'10': {'accuracy': 0.9, 'confidence': 0.88, 'log_loss': 0.28, 'ece': mc_ece}}}
  return {'members': [member, member], 'samples': [10]}


def test_mc_dropout_verdict_compares_with_weight_scaling():
  better = mc_dropout.analyze(_mc_results(0.02))
  assert better['mc_better_on'] == ['log_loss', 'ece']
  assert better['lean'] == {'weight_scaling': 'overconfident', 'mc': 'underconfident'}
  assert mc_dropout.analyze(_mc_results(0.08))['mc_better_on'] == ['log_loss']


def _sd_row(rate, accuracy):
  return {'rate': rate, 'test_accuracy': accuracy, 'test_accuracy_std': 0.002}


def test_stochastic_depth_compares_with_constant_depth_within_the_spread():
  clear = stochastic_depth.analyze({'rows': [_sd_row(0, 0.90), _sd_row(0.5, 0.92)]})
  assert 'beyond two standard deviations' in clear['against_constant_depth'][0]
  close = stochastic_depth.analyze({'rows': [_sd_row(0, 0.90), _sd_row(0.5, 0.901)]})
  assert 'within two standard deviations' in close['against_constant_depth'][0]


def _resnet_rows(plain_deep_error):
  row = lambda block, depth, error: {'block': block, 'depth': depth, 'train_error': error,
                                     'test_error': error + 0.05}
  return [row('plain', 20, 0.10), row('plain', 56, plain_deep_error),
          row('residual', 20, 0.09), row('residual', 56, 0.05)]


def test_resnet_ordering_is_the_papers_only_when_the_numbers_say_so():
  paper = resnet_cifar.analyze({'rows': _resnet_rows(0.15)})
  assert paper['headline']['plain_deeper_has_higher_train_error']
  assert "in the paper's order" in paper['orderings'][-1]
  other = resnet_cifar.analyze({'rows': _resnet_rows(0.04)})
  assert not other['headline']['shortcuts_lower_deep_train_error']
  assert "NOT the paper's ordering" in other['orderings'][-1]


def test_resnet_errors_that_read_equal_are_not_called_lower():
  rows = _resnet_rows(0.15)
  rows[2]['train_error'], rows[3]['train_error'] = 0.016099, 0.016101  # both read 1.61%
  found = resnet_cifar.analyze({'rows': rows})
  assert 'residual-56 ends with the same training error as residual-20 (1.61% vs 1.61%)' in \
      found['orderings']
