"""The autodiff experiment: its analysis helpers, its report, resume by section, bad input."""
import json
import shutil

import jax
import numpy as np
import pytest

from experiments import cli
from experiments.autodiff import (SECTIONS, accuracy, hybrid, implicit, jacobian_cost, memory,
                                  swell)
from research import autodiff
from research import implicit as implicit_lib

TINY = ['repeats=2', 'min_repeat_s=0.001',
        'jacobian.sizes=(2, 8)', 'jacobian.corner=(2, 8)', 'jacobian.hidden=16',
        'cheap_gradient.widths=(8, 16)', 'cheap_gradient.inputs=32', 'cheap_gradient.batch=8',
        'memory.depths=(2, 4)', 'memory.width=8', 'memory.batch=8',
        'hvp.widths=(2, 4)', 'hvp.inputs=3', 'hvp.batch=8', 'hvp.max_hessian_params=30',
        'accuracy.max_exponent=20', 'accuracy.spsa_samples=(1, 10)', 'accuracy.spsa_trials=2',
        'swell.max_nesting=3', 'manual_backprop.hidden_layers=((8,),)',
        'manual_backprop.batch=16', 'implicit.width=8', 'implicit.batch=4',
        'implicit.iterations=(5, 50)', 'implicit.tolerances=(1e-2, 1e-5)', 'hybrid.inputs=3',
        'hybrid.width=4', 'hybrid.batch=4', 'hybrid.steps=(1e-2,)', 'hybrid.spsa_samples=(1, 10)']


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('autodiff')
  assert cli.main(['run', 'autodiff', '--quick', '--workdir', str(workdir), *TINY]) == 0
  return workdir


def test_report_has_every_section_with_table_plot_and_conclusion(tiny_run):
  report = (tiny_run / 'report.md').read_text()
  for number, module in enumerate(SECTIONS.values(), 1):
    assert f'## {number}. {module.TITLE}' in report
  assert report.count('**Conclusion.**') == len(SECTIONS)
  assert report.count('![') == len(SECTIONS)
  for image in ('jacobian_heatmap', 'cheap_gradient', 'memory_depth', 'hvp', 'accuracy',
                'swell', 'manual_backprop', 'implicit', 'hybrid'):
    assert (tiny_run / f'{image}.png').stat().st_size > 1000
  results = json.loads((tiny_run / 'results.json').read_text())
  assert set(results['headline']) == set(SECTIONS)
  assert results['headline']['accuracy']['complex_step_float64_h1e-20'] < 1e-13
  assert results['headline']['manual_backprop']['max_rel_diff_float32'] < 1e-6


def test_a_rerun_may_report_other_sections_of_the_workdir(tiny_run, tmp_path, capsys):
  """`sections` picks what is measured and reported, not how: a later invocation in the same
  workdir may name other sections, reuses the finished ones, and config.json follows it."""
  workdir = tmp_path / 'copy'
  shutil.copytree(tiny_run, workdir)
  assert cli.main(['run', 'autodiff', '--quick', '--workdir', str(workdir), *TINY,
                   'sections=swell,jacobian']) == 0
  assert capsys.readouterr().out.count('measured before, reusing') == 2
  report = (workdir / 'report.md').read_text()
  assert report.count('**Conclusion.**') == 2 and f'## 1. {swell.TITLE}' in report
  assert json.loads((workdir / 'config.json').read_text())['sections'] == ['swell', 'jacobian']
  assert cli.main(['run', 'autodiff', '--quick', '--workdir', str(workdir), *TINY,
                   'swell.max_nesting=2']) == 2  # a setting of a measurement is still refused
  assert 'differs in: swell.max_nesting' in capsys.readouterr().err


def test_rerun_reuses_finished_sections(tiny_run, capsys):
  before = json.loads((tiny_run / 'results.json').read_text())
  (tiny_run / 'sections' / 'swell.json').unlink()  # as if killed before the swell finished
  assert cli.main(['run', 'autodiff', '--quick', '--workdir', str(tiny_run), *TINY]) == 0
  out = capsys.readouterr().out
  assert out.count('measured before, reusing') == len(SECTIONS) - 1
  assert 'swell: measured in' in out
  after = json.loads((tiny_run / 'results.json').read_text())
  assert after['sections']['jacobian'] == before['sections']['jacobian']  # not re-timed
  def sizes(results):  # the measured sizes; sympy's time is a timing and varies
    return [{k: v for k, v in row.items() if not k.endswith('_s')}
            for row in results['sections']['swell']['rows']]

  assert sizes(after) == sizes(before)


@pytest.mark.parametrize('override,message', [
    ('sections=jacobian,spline', 'sections='),
    ('jacobian.corner=(4, 5)', 'jacobian.corner'),
    ('accuracy.max_exponent=400', 'accuracy.min_exponent'),
    ('memory.depths=(8,)', 'at least two depths'),
    ('hvp.widths=(0, 4)', 'hvp.widths'),
    ('manual_backprop.batch=5000', 'manual_backprop.batch'),
    ('min_repeat_s=0', 'min_repeat_s'),
    ('implicit.spectral_norm=1.5', 'contraction'),
    ('hybrid.steps=(0.1, 2.0)', 'hybrid.steps'),
])
def test_bad_config_is_one_line_and_exit_2(override, message, capsys, tmp_path):
  assert cli.main(['run', 'autodiff', '--workdir', str(tmp_path / 'w'), override]) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ') and message in err and err.count('\n') == 1
  assert not (tmp_path / 'w').exists()  # refused before anything was written


def test_sections_take_comma_separated_words():
  _, config = cli.build_config('autodiff', True, ['sections=jacobian,swell'])
  assert config.sections == ('jacobian', 'swell')
  _, config = cli.build_config('autodiff', True, ['sections=(jacobian, "swell")'])
  assert config.sections == ('jacobian', 'swell')
  _, config = cli.build_config('autodiff', True, ['sections=hvp'])
  assert config.sections == ('hvp',)


def test_crossover_interpolates_in_log_n():
  # log-ratio -1 at n=4 and +1 at n=16: the crossing is halfway in log n, at n=8.
  assert jacobian_cost._crossing([4, 16], np.array([-1.0, 1.0])) == pytest.approx(8.0)
  assert jacobian_cost._crossing([4, 16], np.array([-1.0, -0.5])) is None
  assert jacobian_cost._crossing([4, 16], np.array([-1.0, 0.0])) == pytest.approx(16.0)


def test_segment_size_is_the_smallest_divisor_at_least_sqrt_depth():
  assert [memory._segment_size(d) for d in (1, 4, 8, 12, 16, 64, 7)] == [1, 2, 4, 4, 4, 8, 7]


def test_rematerialised_losses_are_the_same_function():
  ws = np.random.default_rng(0).standard_normal((8, 4, 4)).astype(np.float32) / 2
  x = np.ones((3, 4), np.float32)
  values = [memory.loss_fn(s)(ws, x) for s in memory.STRATEGIES]
  grads = [jax.grad(memory.loss_fn(s))(ws, x) for s in memory.STRATEGIES]
  np.testing.assert_allclose(values, values[0], rtol=1e-6)
  for g in grads[1:]:
    np.testing.assert_allclose(g, grads[0], rtol=1e-5, atol=1e-7)


def test_hand_derivatives_of_the_test_functions():
  with jax.enable_x64(True):
    np.testing.assert_allclose(jax.grad(accuracy.squire_trapp)(1.5),
                               accuracy.squire_trapp_derivative(1.5), rtol=1e-14)
    x = np.linspace(-1.2, 1.2, 7)
    np.testing.assert_allclose(jax.grad(accuracy.rosenbrock)(x), accuracy.rosenbrock_gradient(x),
                               rtol=1e-13)


def test_symbolic_swell_is_exponential_and_ad_linear():
  rows = swell.measure(type('C', (), {'max_nesting': 6})(), None, None)['rows']
  symbolic = [r['symbolic_tree'] for r in rows]
  ad = [r['jaxpr_grad'] for r in rows]
  assert all(b / a > 2 for a, b in zip(symbolic[2:], symbolic[3:]))
  assert len({b - a for a, b in zip(ad, ad[1:])}) == 1  # the same equations per level


def _contraction(width=6, batch=3, seed=0):
  rng = np.random.default_rng(seed)
  w = rng.standard_normal((width, width))
  w *= 0.9 / np.linalg.norm(w, 2)
  return (w, 0.3 * rng.standard_normal((batch, width))), rng.standard_normal((batch, width))


def test_the_implicit_gradient_is_the_unrolled_solvers_to_the_tolerance():
  """In float64, a fixed point solved to 1e-10 (relative step) and differentiated through the
  implicit function theorem equals the gradient of 400 unrolled iterations (0.9^400 ~ 5e-19)."""
  with jax.enable_x64(True):
    params, c = _contraction()
    start = np.zeros_like(c)
    loss = lambda p, z: jax.numpy.sum(z * c)
    by_implicit = jax.grad(lambda p: loss(p, implicit_lib.fixed_point(
        implicit.layer, p, start, 1e-10, 1000)))(params)
    by_unrolling = jax.grad(lambda p: loss(p, implicit_lib.unrolled(
        implicit.layer, p, start, 400)))(params)
    for a, b in zip(by_implicit, by_unrolling):
      np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)


def test_the_implicit_solver_stops_at_its_tolerance_and_its_cap():
  params, _ = _contraction()
  params = jax.tree.map(lambda a: a.astype(np.float32), params)
  start = np.zeros_like(params[1])
  loose = implicit_lib.iterate(implicit.layer, params, start, 1e-2, 1000)[1]
  tight = implicit_lib.iterate(implicit.layer, params, start, 1e-6, 1000)[1]
  assert 0 < loose < tight < 1000
  assert implicit_lib.iterate(implicit.layer, params, start, 1e-6, 3)[1] == 3


def test_an_estimated_vjp_through_a_host_callback_matches_ad():
  """Central differences through a NumPy callback give jax.grad's gradient of the same map in
  float64 to O(h^2); SPSA's estimate is unbiased, so its mean over many keys approaches it."""
  with jax.enable_x64(True):
    sim = hybrid.Simulator(np.random.default_rng(0).standard_normal((4, 4)) / 2, steps=3)
    x = np.random.default_rng(1).standard_normal(4)
    weights = np.arange(1.0, 5.0)
    exact = jax.grad(lambda h: sim.jax(h) @ weights)(x)
    fd = autodiff.with_estimated_vjp(sim.callback, 'central_difference', h=1e-5)
    np.testing.assert_allclose(jax.grad(lambda h: fd(h, jax.random.key(0)) @ weights)(x),
                               exact, rtol=1e-7)
    spsa = autodiff.with_estimated_vjp(sim.callback, 'spsa', h=1e-5, samples=2000)
    estimate = jax.grad(lambda h: spsa(h, jax.random.key(3)) @ weights)(x)
    assert np.linalg.norm(estimate - exact) < 0.1 * np.linalg.norm(exact)
    with pytest.raises(ValueError, match='unknown method'):
      jax.grad(lambda h: autodiff.with_estimated_vjp(sim.callback, 'magic')(
          h, jax.random.key(0)) @ weights)(x)


def _implicit_results(implicit_errors, implicit_bytes):
  rows = [{'method': 'unrolled', 'iterations': n, 'tol': None, 'error': e, 'temp_bytes': b,
           'time_s': 1e-3} for n, e, b in ((10, 1e-2, 1000), (100, 1e-7, 10000))]
  rows += [{'method': 'implicit', 'iterations': n, 'tol': t, 'error': e, 'temp_bytes': b,
            'time_s': 1e-3, 'hit_max_iter': False}
           for n, t, e, b in zip((8, 20), (1e-2, 1e-6), implicit_errors, implicit_bytes)]
  return {'rows': rows}


def test_the_implicit_verdict_follows_error_and_memory():
  good = implicit.analyze(_implicit_results((3e-3, 3e-7), (100, 100)))
  assert 'at 2 of 2 tolerances' in good['verdict'] and 'stays at' in good['verdict']
  assert 'needs 100 iterations' in good['verdict']
  bad = implicit.analyze(_implicit_results((3e-1, 3e-5), (100, 500)))
  assert 'at 0 of 2 tolerances' in bad['verdict'] and 'grows 5.0x' in bad['verdict']


def _hybrid_results(spsa_errors):
  rows = [{'method': 'AD (simulator in JAX)', 'setting': None, 'evaluations': 0,
           'error': 1e-7, 'time_s': 1e-4},
          {'method': 'central difference', 'setting': 1e-2, 'evaluations': 33, 'error': 1e-5,
           'time_s': 1e-3}]
  rows += [{'method': 'SPSA', 'setting': k, 'evaluations': 2 * k + 1, 'error': e,
            'time_s': 1e-3} for k, e in zip((1, 100), spsa_errors)]
  return {'rows': rows}


def test_the_hybrid_verdict_follows_the_numbers():
  slow = hybrid.analyze(_hybrid_results((1.0, 0.1)))
  assert 'samples^-0.50' in slow['verdict'] and 'no SPSA sample count' in slow['verdict']
  fast = hybrid.analyze(_hybrid_results((1.0, 1e-6)))
  assert 'matches the finite differences\' error with 100 samples' in fast['verdict']


def test_sections_compute_at_full_float32_precision_and_float64_off_a_tpu(monkeypatch):
  import jax
  import experiments.autodiff as autodiff
  with autodiff.placement('jacobian'):
    assert jax.config.jax_default_matmul_precision == 'highest'
    assert jax.config.jax_default_device is None
  monkeypatch.setattr(autodiff.jax, 'default_backend', lambda: 'tpu')
  with autodiff.placement('accuracy'):
    assert jax.config.jax_default_device == jax.devices('cpu')[0]
  with autodiff.placement('jacobian'):
    assert jax.config.jax_default_device is None
  assert jax.config.jax_default_matmul_precision is None
