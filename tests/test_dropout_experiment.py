"""The dropout experiment: every section's report, results, resume and bad input."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import cli
from experiments.dropout import SECTIONS, cnn_variants, get_config, groups, mlp_variants, quick
from experiments.dropout import config as config_lib
from experiments.dropout import validate
from research.models import build_model

# Two of the MLP's four dropout kinds and two of the CNN's three: each group is a compile.
# test_every_variant_builds_a_network_that_drops_and_learns covers the rest.
TINY = ['seeds=2', 'mlp_variants.variants=(none,standard,alpha)',
        'cnn_variants.variants=(none,standard,dropblock)',
        'mlp_variants.rates=(0.5,)', 'mlp_variants.train_examples=100', 'mlp_variants.width=16',
        'mlp_variants.epochs=2',
        'cnn_variants.train_examples=100', 'cnn_variants.epochs=1', 'cnn_variants.channels=4,8',
        'cnn_variants.dense=(8,)', 'cnn_variants.rates=(0.3,)', 'lstm_variants.rates=(0.5,)',
        'lstm_variants.train_examples=100', 'lstm_variants.hidden=8', 'lstm_variants.epochs=1',
        'stochastic_depth.train_examples=100', 'stochastic_depth.epochs=2',
        'stochastic_depth.epochs_per_call=1',
        'mc_dropout.rate=0.5', 'mc_dropout.samples=1,3']
GROUPS = ['cnn_dropblock', 'cnn_standard', 'lstm_naive', 'lstm_variational', 'mlp_alpha',
          'mlp_standard', 'resnet8']


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('dropout')
  assert cli.main(['run', 'dropout', '--quick', '--workdir', str(workdir), *TINY]) == 0
  return workdir


def test_report_has_every_section_with_mean_and_std_tables(tiny_run):
  report = (tiny_run / 'report.md').read_text()
  for number, module in enumerate(SECTIONS.values(), 1):
    assert f'## {number}. {module.TITLE}' in report
    assert (tiny_run / f'{next(k for k, v in SECTIONS.items() if v is module)}.png').stat(
        ).st_size > 1000
  assert report.count('**Conclusion.**') == len(SECTIONS)
  assert report.count(' ± ') > 40
  assert '| none | 0 |' in report  # the baseline rides in the standard group at rate 0
  assert 'vmapped batch ran in' in report
  # Srivastava et al.'s Table 2: each quoted error with the architecture it belongs to.
  assert ('standard net, logistic, 2 x 800 units (Simard et al. 2003) 1.60%, dropout, ReLU, '
          '3 x 1024 units 1.25%, dropout + max-norm, ReLU, 3 x 1024 units 1.06%') in report
  assert sorted(p.name for p in (tiny_run / 'runs').iterdir()) == GROUPS


def test_results_hold_every_member_and_figure(tiny_run):
  results = json.loads((tiny_run / 'results.json').read_text())
  assert set(results['headline']) == set(SECTIONS)
  mlp = results['sections']['mlp_variants']
  variants = [r['variant'] for r in mlp['rows']]
  assert variants[0] == 'none' and set(variants) == {'none', 'standard', 'alpha'}
  assert all(r['seeds'] == 2 for r in mlp['rows'])
  assert {'vmapped', 'one_at_a_time'} <= set(mlp['vmap'])
  group = json.loads((tiny_run / 'runs' / 'mlp_standard' / 'results.json').read_text())
  assert [(m['seed'], m['rate']) for m in group['members']] == [(0, 0.0), (1, 0.0), (0, 0.5),
                                                                 (1, 0.5)]
  depth = results['sections']['stochastic_depth']
  assert len(depth['curve_steps']) == 2 and set(depth['test_error_curves']) == {'0.0', '0.5'}
  mc = results['sections']['mc_dropout']['members']
  assert len(mc) == 2 and set(mc[0]['mc']) == {'1', '3'}


def test_rerun_reuses_sections_and_groups(tiny_run, capsys):
  (tiny_run / 'sections' / 'lstm_variants.json').unlink()  # as if killed in that section
  assert cli.main(['run', 'dropout', '--quick', '--workdir', str(tiny_run), *TINY]) == 0
  out = capsys.readouterr().out
  assert out.count('measured before, reusing') == len(SECTIONS) - 1
  assert 'lstm_naive: finished before, reusing' in out


def test_groups_plan_puts_none_in_the_carrier_group():
  plan = groups.plan(('none', 'standard', 'alpha'), (0.1, 0.5), 'standard',
                     own_baseline=('alpha',))
  assert plan == {'standard': (0.0, 0.1, 0.5), 'alpha': (0.0, 0.1, 0.5)}
  assert groups.plan(('none',), (0.3,), 'naive') == {'naive': (0.0,)}


def test_quick_and_full_presets_are_valid():
  config = get_config()
  validate(config)
  quick(config)
  validate(config)


@pytest.mark.parametrize('override,message', [
    ('mlp_variants.rates=(0.1,1.0)', 'mlp_variants.rates'),
    ('mlp_variants.variants=(none,maxout)', 'mlp_variants.variants'),
    ('cnn_variants.variants=(pixel,)', 'cnn_variants.variants'),
    ('lstm_variants.rates=(-0.1,)', 'lstm_variants.rates'),
    ('mc_dropout.rate=0.2', 'mc_dropout.rate'),
    ('mc_dropout.variant=none', 'mc_dropout.variant'),
    ('stochastic_depth.depth=21', '6n+2'),
    ('seeds=0', 'seeds'),
    ('sections=mlp_variants,everything', 'sections='),
    ('cnn_variants.learning_rate=0', 'cnn_variants.learning_rate'),
])
def test_bad_config_is_one_line_and_exit_2(override, message, capsys, tmp_path):
  assert cli.main(['run', 'dropout', '--workdir', str(tmp_path / 'w'), override]) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ') and message in err and err.count('\n') == 1
  assert not (tmp_path / 'w').exists()


@pytest.mark.parametrize('section,variant', [
    *(('mlp', v) for v in mlp_variants.VARIANTS), *(('cnn', v) for v in cnn_variants.VARIANTS)])
def test_every_variant_builds_a_network_that_drops_and_learns(section, variant):
  """The network each variant's group trains, at rate 0.5: finite, non-zero gradients, finite
  test-mode outputs, and training outputs that change with the dropout key unless the variant
  is none (rate 0)."""
  if section == 'mlp':
    cfg = mlp_variants.ensemble_config(config_lib.MlpVariants(width=16), variant, True)
  else:
    cfg = cnn_variants.ensemble_config(
        config_lib.CnnVariants(channels=(4, 8), dense=(8,), dropblock_size=2), variant, True)
  x = jax.random.normal(jax.random.key(1), (8, 8, 8, 1))  # eight 8 x 8 images, as digits
  rate = 0.0 if variant == 'none' else 0.5
  model = build_model(cfg.model, {**cfg.options, cfg.rate_field: rate}, 10)
  params = model.init({'params': jax.random.key(0), 'dropout': jax.random.key(0)}, x,
                      train=False)['params']

  @jax.jit
  def outputs_and_grads(params, key):
    loss = lambda p: optax.softmax_cross_entropy_with_integer_labels(
        model.apply({'params': p}, x, train=True, rngs={'dropout': key}), jnp.arange(8)).mean()
    grads = jax.grad(loss)(params)
    train = [model.apply({'params': params}, x, train=True, rngs={'dropout': jax.random.key(k)})
             for k in (1, 2)]
    return train, model.apply({'params': params}, x, train=False), grads

  (first, second), test, grads = outputs_and_grads(params, jax.random.key(3))
  assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
  assert any(np.abs(g).max() > 0 for g in jax.tree.leaves(grads))
  assert np.isfinite(test).all()
  assert (np.abs(first - second).max() > 1e-6) == (variant != 'none')
