"""Every report conclusion is computed from its numbers: fed numbers that contradict the claim,
the sentence changes. Each test gives an analysis one set of numbers that bears the claim out
and one that does not."""
import math

import pytest

from experiments.autodiff import accuracy, hvp, jacobian_cost, manual_backprop, swell
from experiments.dropout import cnn_variants
from experiments.vanishing_gradients import depth_training, init_profiles


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
