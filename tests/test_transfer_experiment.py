"""The transfer experiment: ensembles that start from another run's weights, every section's
report, resume, bad input, and conclusions that follow their numbers."""
import json

import flax.traverse_util
import jax
import numpy as np
import pytest

from experiments import cli
from experiments.transfer import SECTIONS, domain_shift, features, freeze_depth, strategies
from experiments.transfer import config as config_lib
from research import optim
from research.data import load_dataset, splits
from research.train import ensemble, transfer

TINY = ['seeds=2', 'depth=1', 'width=16', 'records=2', 'source.steps=40',
        'strategies.examples=(5,)', 'strategies.steps=20', 'freeze_depth.steps=20',
        'domain_shift.fractions=(1,)', 'domain_shift.steps=20', 'features.random_seeds=2',
        'features.max_iter=50']


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('transfer')
  assert cli.main(['run', 'transfer', '--quick', '--workdir', str(workdir), *TINY]) == 0
  return workdir


def test_report_has_every_section_and_the_sources_are_train_runs(tiny_run):
  report = (tiny_run / 'report.md').read_text()
  for number, module in enumerate(SECTIONS.values(), 1):
    assert f'## {number}. {module.TITLE}' in report
  assert report.count('**Conclusion.**') == len(SECTIONS)
  for plot in ('strategies', 'freeze_depth', 'domain_shift', 'features'):
    assert (tiny_run / f'{plot}.png').stat().st_size > 1000
  groups_run = sorted(p.name for p in (tiny_run / 'runs').iterdir())
  # The strategies; the base and the variants at n = 1; scratch and the one shift.
  assert len(groups_run) == 4 + 1 + 4 + 1 + 1
  shifted = json.loads((tiny_run / 'source_A_shift_1' / 'results.json').read_text())
  assert shifted['moved_positions'] > 50  # of digits' 64 pixels (a few land where they were)
  source_b = json.loads((tiny_run / 'source_B_20' / 'config.json').read_text())
  assert source_b['split']['classes'] == [5, 6, 7, 8, 9]
  assert source_b['split']['examples_per_class'] == 20
  assert (tiny_run / 'source_A' / 'checkpoints').is_dir()


def test_a_rerun_reuses_every_section(tiny_run, capsys):
  before = json.loads((tiny_run / 'results.json').read_text())
  assert cli.main(['run', 'transfer', '--quick', '--workdir', str(tiny_run), *TINY]) == 0
  assert capsys.readouterr().out.count('measured before, reusing') == len(SECTIONS)
  assert json.loads((tiny_run / 'results.json').read_text())['headline'] == before['headline']


def _flat(tree):
  return flax.traverse_util.flatten_dict(jax.device_get(tree), sep='/')


def test_an_ensemble_from_a_source_keeps_frozen_layers_and_a_new_head(tiny_run):
  source = str(tiny_run / 'source_A')
  data = splits.apply(load_dataset('digits'), splits.SplitConfig(classes=(5, 6, 7, 8, 9)))
  cfg = ensemble.EnsembleConfig(
      model='mlp', options=dict(depth=1, width=16), rate_field='optim.learning_rate',
      epochs=1, batch_size=32, optim=optim.OptimConfig(freeze=('hidden_0/.*',)),
      init_from=source, init_exclude='output/.*')
  group = ensemble.Ensemble(cfg, data, [0, 1], [1e-3, 1e-3], devices=jax.devices()[:1])
  initial, _, _ = group.init()
  trained = group.train(tiny_run / 'frozen_check', {}, {})
  weights, _ = transfer.source_weights(source)
  heads = []
  for k in range(2):
    before = _flat(ensemble.member(initial, k).params)
    after = _flat(ensemble.member(trained, k).params)
    for path in ('hidden_0/kernel', 'hidden_0/bias'):
      np.testing.assert_array_equal(after[path], weights['params'][path])  # copied, frozen
    assert not np.array_equal(before['output/kernel'], weights['params']['output/kernel'])
    assert not np.array_equal(after['output/kernel'], before['output/kernel'])  # trained
    heads.append(before['output/kernel'])
  assert not np.array_equal(*heads)  # each member's new head is its own seed's


@pytest.mark.parametrize('override, message', [
    ('classes_b=(4,5,6,7,8)', 'disjoint halves'),
    ('classes_a=(0,1,2,3,12)', 'classes_a=(0, 1, 2, 3, 12) is not allowed'),
    ('model=vgg', "model='vgg' is not allowed"),
    ('strategies.examples=(-1,)', 'strategies.examples=(-1,) is not allowed'),
    ('data=diabetes', 'real-valued targets'),
])
def test_bad_config_is_one_line_and_exit_2(override, message, capsys, tmp_path):
  assert cli.main(['run', 'transfer', '--workdir', str(tmp_path / 'w'), override]) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ') and message in err and err.count('\n') == 1
  assert not (tmp_path / 'w').exists()


def _run(accuracies, curve=(0.5, 0.9)):
  return {'test_accuracy': list(accuracies), 'val_accuracy': list(accuracies),
          'steps': 100, 'seconds': 10.0, 'curve_steps': [50, 100], 'val_curve': list(curve)}


def test_the_strategy_verdicts_follow_the_numbers():
  found = {'train_examples': 50, 'scratch': _run([0.80, 0.81, 0.82]),
           'linear_probe': _run([0.60, 0.61, 0.62]), 'fine_tune': _run([0.90, 0.91, 0.92]),
           'two_stage': _run([0.79, 0.83, 0.82], curve=(0.95, 0.96))}
  rows = strategies.analyze_examples(found)['rows']
  assert rows['fine_tune']['verdict'] == 'better'
  assert rows['linear_probe']['verdict'].startswith('worse')
  assert rows['two_stage']['verdict'] == 'inconclusive'
  assert rows['two_stage']['to_target'] == {'step': 50, 'seconds': 5.0}
  assert 'beats training from scratch' in strategies.analyze(
      {'per_examples': {'5': found}})['verdict']
  flat = dict(found, fine_tune=_run([0.80, 0.81, 0.82]))
  assert strategies.analyze({'per_examples': {'5': flat}})['verdict'].startswith('no transfer')


def test_yosinskis_shape_is_computed_not_assumed():
  def results(anb, anb_plus):
    runs = {'base': _run([0.80, 0.81, 0.82])}
    for n, (frozen, tuned) in enumerate(zip(anb, anb_plus), 1):
      runs.update({f'AnB n={n}': _run(frozen), f'AnB+ n={n}': _run(tuned),
                   f'BnB n={n}': _run([0.8, 0.81, 0.82]), f'BnB+ n={n}': _run([0.8, 0.81, 0.82])})
    return {'runs': runs, 'layers': ['hidden_0', 'hidden_1', 'output'], 'train_examples': 9,
            'steps': 100}
  shape = freeze_depth.analyze(results([[0.8, 0.81, 0.82], [0.6, 0.61, 0.62]],
                                       [[0.8, 0.81, 0.82], [0.82, 0.83, 0.84]]))
  assert shape['fine_never_below'] and shape['frozen_falls']
  assert shape['verdict'].endswith("Yosinski's shape appears")
  flat = freeze_depth.analyze(results([[0.8, 0.81, 0.82], [0.8, 0.81, 0.82]],
                                      [[0.6, 0.61, 0.62], [0.82, 0.83, 0.84]]))
  assert not flat['fine_never_below'] and not flat['frozen_falls']
  assert 'does not appear' in flat['verdict']


def test_a_shift_moves_only_its_fraction_of_positions_and_keeps_every_pixel():
  assert np.array_equal(domain_shift.shuffled_positions((8, 8, 1), 0.0, 0), np.arange(64))
  order = domain_shift.shuffled_positions((8, 8, 1), 0.25, 0)
  assert sorted(order) == list(range(64)) and np.sum(order != np.arange(64)) <= 16
  data = load_dataset('digits')
  moved = domain_shift.shifted(data, order)
  np.testing.assert_array_equal(np.sort(moved.train_images.reshape(len(data.train_images), -1)),
                                np.sort(data.train_images.reshape(len(data.train_images), -1)))


def test_the_shift_verdict_names_where_transfer_helps_and_hurts():
  runs = {'scratch': _run([0.80, 0.81, 0.82]),
          '0': {**_run([0.90, 0.91, 0.92]), 'source_test_accuracy': 0.99},
          '0.5': {**_run([0.80, 0.82, 0.81]), 'source_test_accuracy': 0.98},
          '1': {**_run([0.60, 0.61, 0.62]), 'source_test_accuracy': 0.97}}
  found = domain_shift.analyze({'runs': runs, 'fractions': [0, 0.5, 1]})
  assert [r['verdict'] for r in found['rows']] == ['helps', 'inconclusive',
                                                   'hurts (negative transfer)']
  assert found['verdict'] == ('transfer helps up to a shift of 0; negative transfer (worse '
                              'than scratch, outside the spread) at 1')


def test_the_feature_verdict_compares_with_the_random_spread():
  random = [{'h0': 0.80, 'h1': 0.70}, {'h0': 0.82, 'h1': 0.72}, {'h0': 0.81, 'h1': 0.71}]
  found = features.analyze({'layers': ['h0', 'h1'], 'trained': {'h0': 0.95, 'h1': 0.71},
                            'random': random})
  assert [r['beats_random'] for r in found['rows']] == [True, False]
  assert 'falls from the first hidden layer to the last' in found['verdict']
  rising = features.analyze({'layers': ['h0', 'h1'], 'trained': {'h0': 0.81, 'h1': 0.95},
                             'random': random})
  assert 'does not fall' in rising['verdict']


def test_the_config_and_its_quick_preset_are_valid():
  from experiments import transfer as experiment
  config = experiment.get_config()
  experiment.validate(config)
  experiment.quick(config)
  experiment.validate(config)
  assert tuple(config.sections) == config_lib.SECTION_NAMES
