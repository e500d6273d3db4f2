"""The autodiff experiment: its analysis helpers, its report, resume by section, bad input."""
import json

import jax
import numpy as np
import pytest

from experiments import cli
from experiments.autodiff import SECTIONS, accuracy, jacobian_cost, memory, swell

TINY = ['repeats=2', 'min_repeat_s=0.001',
        'jacobian.sizes=(2, 8)', 'jacobian.corner=(2, 8)', 'jacobian.hidden=16',
        'cheap_gradient.widths=(8, 16)', 'cheap_gradient.inputs=32', 'cheap_gradient.batch=8',
        'memory.depths=(2, 4)', 'memory.width=8', 'memory.batch=8',
        'hvp.widths=(2, 4)', 'hvp.inputs=3', 'hvp.batch=8', 'hvp.max_hessian_params=30',
        'accuracy.max_exponent=20', 'accuracy.spsa_samples=(1, 10)', 'accuracy.spsa_trials=2',
        'swell.max_nesting=3', 'manual_backprop.hidden_layers=((8,),)',
        'manual_backprop.batch=16']


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
                'swell', 'manual_backprop'):
    assert (tiny_run / f'{image}.png').stat().st_size > 1000
  results = json.loads((tiny_run / 'results.json').read_text())
  assert set(results['headline']) == set(SECTIONS)
  assert results['headline']['accuracy']['complex_step_float64_h1e-20'] < 1e-13
  assert results['headline']['manual_backprop']['max_rel_diff_float32'] < 1e-6


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
