"""The cnn experiment: every section's report from a tiny run, matched parameter counts, resume,
bad input, and conclusions that follow their numbers."""
import json

import numpy as np
import pytest

from experiments import cli
from experiments.cnn import (SECTIONS, architectures, augmentation, cnn_vs_dense, features,
                             pooling_and_head)

# Each group is a compile: the fewest that still exercise every section (pool=none with strides
# and the other new layers are in tests/test_parallel_layers.py).
TINY = ['seeds=2', 'epochs=3', 'train_examples=300', 'pooling_and_head.pools=(max,)',
        'pooling_and_head.dense_layers=(1,)', 'architectures.models=(cnn,vgg)',
        'architectures.epochs=0', 'features.probe_max_iter=50',
        'augmentation.train_examples=(100,)', 'augmentation.kinds=(cutout,)',
        'augmentation.cutout=(2.0,)', 'augmentation.epochs=3']


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('cnn')
  assert cli.main(['run', 'cnn', '--quick', '--workdir', str(workdir), *TINY]) == 0
  return workdir


def _section(workdir, name: str) -> dict:
  return json.loads((workdir / 'sections' / f'{name}.json').read_text())


def test_report_has_every_section_with_a_conclusion_and_its_figures(tiny_run):
  report = (tiny_run / 'report.md').read_text()
  for number, module in enumerate(SECTIONS.values(), 1):
    assert f'## {number}. {module.TITLE}' in report
  assert report.count('**Conclusion.**') == len(SECTIONS)
  for plot in ('cnn_vs_dense', 'pooling_and_head', 'architectures', 'features',
               'first_filters', 'augmentation'):
    assert (tiny_run / f'{plot}.png').stat().st_size > 1000
  # The reference CNN trains once: sections 2-4 read section 1's group back.
  assert sorted(p.name for p in (tiny_run / 'runs').iterdir()) == [
      *(['aug100_combined'] if (tiny_run / 'runs' / 'aug100_combined').exists() else []),
      'aug100_cutout', 'aug100_none', 'cnn', 'global_average_pooling', 'local', 'mlp', 'vgg']


def test_the_three_networks_have_about_one_parameter_count(tiny_run):
  networks = {n['name']: n for n in _section(tiny_run, 'cnn_vs_dense')['networks']}
  target = networks['cnn']['parameters']
  assert networks['local']['options']['local'] is True
  for name in ('local', 'mlp'):
    assert abs(networks[name]['parameters'] - target) / target < 0.1, name
  # Moved images: shift 0 is the plain test set, and moving destroys some accuracy.
  for net in networks.values():
    assert np.mean(net['shifted'][0]) > np.mean(net['shifted'][-1])


def test_the_savings_match_their_closed_forms(tiny_run):
  found = _section(tiny_run, 'architectures')['savings']
  inc, sep = found['inception'], found['separable']
  assert inc['reduced_weights'] == inc['reduced_closed_form']
  assert inc['naive_weights'] == inc['naive_closed_form']
  assert sep['separable_weights'] == sep['separable_closed_form']
  assert sep['full_weights'] == sep['full_closed_form']
  assert sep['separable_flops'] < sep['full_flops']


def test_an_augmentations_strength_reaches_its_members(tiny_run):
  """Same seeds, same initialisations and data order: members that trained on augmented
  images end elsewhere than the members without (an ignored strength would leave them equal)."""
  subset = _section(tiny_run, 'augmentation')['subsets'][0]
  for kind in subset['kinds']:
    row, none = kind['rows'][0], subset['none']
    assert (row['train'], row['test']) != (none['train'], none['test']), kind['kind']


def test_a_rerun_reuses_every_section(tiny_run, capsys):
  before = json.loads((tiny_run / 'results.json').read_text())
  assert cli.main(['run', 'cnn', '--quick', '--workdir', str(tiny_run), *TINY]) == 0
  assert capsys.readouterr().out.count('measured before, reusing') == len(SECTIONS)
  assert json.loads((tiny_run / 'results.json').read_text())['headline'] == before['headline']


@pytest.mark.parametrize('override, message', [
    ('sections=(vgg,)', 'sections='),
    ('rates=()', 'rates='),
    ('cnn_vs_dense.shifts=(-1,)', 'cnn_vs_dense.shifts='),
    ('pooling_and_head.pools=(median,)', 'pooling_and_head.pools='),
    ('architectures.models=(alexnet,)', 'architectures.models='),
    ('architectures.inception_modules=((4,4,4),)', 'not six widths'),
    ('architectures.resnet_depth=9', 'architectures.resnet_depth='),
    ('augmentation.kinds=(mixup,)', 'augmentation.kinds='),
    ('augmentation.kinds=(flip,translate,flip)', 'name each at most once'),
    ('architectures.vgg_stages=()', 'one or more stages'),
    ('architectures.vgg_stages=((8,),())', 'architectures.vgg_stages[1]=()'),
    ('augmentation.rotate=(-5.0,)', 'augmentation.rotate[0]='),
    ('augmentation.contrast=(0.5,1.5)', 'augmentation.contrast[1]=1.5 is out of range'),
    ('augmentation.noise=()', 'augmentation.noise=() is not allowed'),
    ('data=diabetes', 'not images'),
])
def test_bad_values_are_one_line_and_exit_2(tmp_path, capsys, override, message):
  assert cli.main(['run', 'cnn', '--quick', '--workdir', str(tmp_path / 'w'), override]) == 2
  err = capsys.readouterr().err.strip()
  assert message in err and len(err.splitlines()) == 1


def test_shifted_moves_whole_pixels_and_fills_with_zeros():
  image = np.arange(1, 17, dtype=np.float32).reshape(1, 4, 4, 1)
  down = cnn_vs_dense.shifted(image, 1, 0)[0, ..., 0]
  np.testing.assert_array_equal(down[1:], image[0, :3, :, 0])
  assert not down[0].any()
  left = cnn_vs_dense.shifted(image, 2, 3)[0, ..., 0]
  np.testing.assert_array_equal(left[:, :2], image[0, :, 2:, 0])
  assert not left[:, 2:].any()
  assert cnn_vs_dense.shifted(image, 0, 2) is image


def _network(name, test, shifted):
  return {'name': name, 'parameters': 1000, 'rate': 1e-3, 'test': test, 'shifted': shifted}


def test_the_translation_verdict_follows_the_numbers():
  robust = [[0.95, 0.96, 0.94], [0.60, 0.62, 0.61]]
  fragile = [[0.95, 0.96, 0.94], [0.20, 0.22, 0.21]]
  results = {'shifts': [0, 2], 'networks': [_network('cnn', [0.95, 0.96, 0.94], robust),
                                            _network('mlp', [0.95, 0.96, 0.94], fragile)]}
  assert 'more tolerant of translation is supported' in cnn_vs_dense.analyze(results)['verdict']
  results['networks'] = [_network('cnn', [0.95, 0.96, 0.94], fragile),
                         _network('mlp', [0.95, 0.96, 0.94], robust)]
  assert 'is contradicted' in cnn_vs_dense.analyze(results)['verdict']


def _aug_row(strength, train, val, test):
  return {'strength': strength, 'train': train, 'val': val, 'test': test}


def test_the_augmentation_verdicts_follow_the_numbers():
  none = _aug_row(0.0, [1.0, 1.0, 1.0], [0.80, 0.81, 0.79], [0.80, 0.81, 0.79])
  mild = _aug_row(1.0, [0.95, 0.96, 0.94], [0.90, 0.91, 0.89], [0.90, 0.91, 0.89])
  harsh = _aug_row(4.0, [0.60, 0.61, 0.59], [0.50, 0.51, 0.49], [0.50, 0.51, 0.49])
  subset = {'train_examples': 100, 'none': none,
            'kinds': [{'kind': 'translate', 'rows': [mild, harsh]}],
            'combined': {'strengths': {'translate': 1.0}, **mild}}
  found = augmentation.analyze({'subsets': [subset]})
  assert found['overfitting_claim'] == 'supported' and found['too_strong'] == ['translate']
  # The combination overfits more than no augmentation, and the strongest is the best.
  worse = _aug_row(0.0, [1.0, 1.0, 1.0], [0.60, 0.61, 0.59], [0.60, 0.61, 0.59])
  subset.update(kinds=[{'kind': 'translate', 'rows': [harsh, mild | {'strength': 8.0}]}],
                combined={'strengths': {'translate': 8.0}, **worse},
                none=_aug_row(0.0, [0.8, 0.81, 0.79], [0.8, 0.81, 0.79], [0.8, 0.81, 0.79]))
  found = augmentation.analyze({'subsets': [subset]})
  assert found['overfitting_claim'] == 'contradicted' and found['too_strong'] == []


def test_the_combination_takes_each_kind_that_beat_none_at_its_best_strength():
  none = _aug_row(0.0, [1.0], [0.80], [0.8])
  kinds = [{'kind': 'rotate', 'rows': [_aug_row(10.0, [1], [0.85], [0]),
                                       _aug_row(30.0, [1], [0.82], [0])]},
           {'kind': 'flip', 'rows': [_aug_row(1.0, [1], [0.70], [0])]},
           {'kind': 'translate', 'rows': [_aug_row(2.0, [1], [0.81], [0])]}]
  chosen = augmentation.combination(kinds, none)
  assert chosen == {'rotate': 10.0, 'translate': 2.0}
  assert augmentation.as_config(chosen).translate == 2
  assert augmentation.as_config({'flip': 1.0}).flip is True


def test_the_probe_verdict_follows_the_numbers():
  layers = ['conv_0', 'dense_0', 'output']
  rising = {'layers': layers, 'pixels': 0.8,
            'trained': [{'conv_0': 0.85, 'dense_0': 0.9, 'output': 0.95}] * 2,
            'random': [{'conv_0': 0.84, 'dense_0': 0.7, 'output': 0.4},
                       {'conv_0': 0.86, 'dense_0': 0.72, 'output': 0.42}],
            'dc_trained': [0.1, 0.11], 'dc_random': [0.33, 0.34]}
  found = features.analyze(rising)
  assert 'rising at 3 of 3 steps (every one' in found['verdict']
  assert 'the advantage grows' in found['verdict'] and 'more like edge' in found['verdict']
  falling = dict(rising, pixels=0.99,
                 trained=[{'conv_0': 0.95, 'dense_0': 0.6, 'output': 0.3}] * 2,
                 dc_trained=[0.33, 0.35])
  found = features.analyze(falling)
  assert 'rising at 0 of 3 steps' in found['verdict'] and 'does not grow' in found['verdict']
  assert 'inside the seed spread' in found['verdict']


def test_the_architecture_and_pooling_verdicts_follow_the_numbers():
  row = lambda model, test: {'model': model, 'rate': 1e-3, 'test': test, 'parameters': 10,
                             'flops': 100.0, 'examples_per_s': 1.0}
  savings = {'inception': {'naive_weights': 2, 'reduced_weights': 1, 'naive_closed_form': 2,
                           'reduced_closed_form': 1, 'naive_flops': 2.0, 'reduced_flops': 1.0},
             'separable': {'channels': 16, 'kernel': 3, 'separable_weights': 1,
                           'full_weights': 4, 'separable_flops': 1.0, 'full_flops': 4.0}}
  apart = [row('resnet', [0.99, 0.98, 0.99]), row('vgg', [0.90, 0.91, 0.90])]
  assert 'beyond the seed spread of every other' in architectures.analyze(
      {'networks': apart, 'savings': savings})['verdict']
  close = [row('resnet', [0.99, 0.90, 0.95]), row('vgg', [0.94, 0.95, 0.93])]
  assert 'VGG-style is inside its seed spread' in architectures.analyze(
      {'networks': close, 'savings': savings})['verdict']
  pool = lambda label, test, params: {'label': label, 'rate': 1e-3, 'test': test,
                                      'parameters': params, 'flops': 1.0, 'examples_per_s': 1.0}
  rows = [pool('flatten + 1 dense', [0.95, 0.96, 0.95], 1000),
          pool('global average pooling', [0.80, 0.81, 0.80], 100)]
  verdict = pooling_and_head.analyze({'rows': rows})['verdict']
  assert '10.0% of the parameters' in verdict and '-15.00 points' in verdict
  assert 'beyond the seed spread' in verdict
