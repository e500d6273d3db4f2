"""The vanishing_gradients experiment: the claims it must show, its report, resume, bad input."""
import json

import pytest

from experiments import cli
from experiments.vanishing_gradients import SECTIONS
from tests.conftest import run_cli, subprocess_xla_flags

TINY = ['num_devices=2',
        'init_profiles.depths=(3,)', 'init_profiles.activations=(sigmoid,)',
        'init_profiles.inits=(glorot,)', 'init_profiles.skips=none,residual',
        'init_profiles.batch=32',
        'depth_training.depths=(3,)', 'depth_training.skips=(none,)', 'depth_training.steps=4',
        'depth_training.diagnostics_every=2', 'depth_training.width=16',
        'normalisation.depths=(3,)', 'normalisation.skips=(none,)', 'normalisation.norms=(batch,)',
        'resnet_cifar.depths=(8,)', 'resnet_cifar.blocks=(plain,)', 'resnet_cifar.steps=2',
        'resnet_cifar.batch_size=16', 'resnet_cifar.log_every=1']


@pytest.fixture(scope='module')
def quick_depth32(tmp_path_factory):
  """The quick preset's depth-32 sigmoid networks, at initialisation and trained (400 steps
  on digits), plain and residual: the issue's figures. In a subprocess at XLA's own settings,
  under which deep sigmoid networks compile faster than under the test process's older loop
  emitters (docs/performance.md)."""
  workdir = tmp_path_factory.mktemp('depth32')
  done = run_cli('run', 'vanishing_gradients', '--quick', '--workdir', str(workdir),
                 'sections=(init_profiles,depth_training)', 'num_devices=1',
                 'init_profiles.activations=(sigmoid,)', 'init_profiles.inits=(glorot,)',
                 'depth_training.depths=(32,)', timeout=600,
                 env_extra={'XLA_FLAGS': subprocess_xla_flags(as_users=True)})
  assert done.returncode == 0, done.stderr[-1500:]
  return json.loads((workdir / 'results.json').read_text())['sections']


def test_depth32_sigmoid_glorot_gradient_vanishes_without_skip_and_not_with_it(quick_depth32):
  """The issue's figure at initialisation, on the quick preset's probe batch."""
  rows = quick_depth32['init_profiles']['rows']
  ratio = {r['skip']: r['first_over_last'] for r in rows if r['depth'] == 32}
  assert ratio['none'] < 1e-3
  assert ratio['residual'] > 1e-1


def test_quick_training_residual_learns_where_plain_does_not(quick_depth32):
  """The issue's figure for --quick: depth-32 sigmoid MLPs on digits, 400 steps."""
  rows = {r['skip']: r for r in quick_depth32['depth_training']['rows']}
  assert rows['residual']['test_accuracy'] >= 0.90
  assert rows['none']['test_accuracy'] < 0.30


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('vanishing')
  assert cli.main(['run', 'vanishing_gradients', '--quick', '--workdir', str(workdir),
                   *TINY]) == 0
  return workdir


def test_report_has_every_section_and_every_run(tiny_run):
  report = (tiny_run / 'report.md').read_text()
  for number, module in enumerate(SECTIONS.values(), 1):
    assert f'## {number}. {module.TITLE}' in report
  assert report.count('**Conclusion.**') == len(SECTIONS)
  for image in ('init_profiles', 'depth_training', 'saturation', 'normalisation',
                'resnet_cifar'):
    assert (tiny_run / f'{image}.png').stat().st_size > 1000
  runs = sorted(p.name for p in (tiny_run / 'runs').iterdir())
  assert runs == ['mlp_depth3_none', 'mlp_depth3_none_batch', 'resnet8_plain']
  for run in runs:  # every sub-run is a complete `train` run directory
    assert {'config.json', 'metrics.jsonl', 'results.json', 'checkpoints'} <= {
        p.name for p in (tiny_run / 'runs' / run).iterdir()}
  results = json.loads((tiny_run / 'results.json').read_text())
  assert set(results['headline']) == set(SECTIONS)
  saturation = results['sections']['depth_training']['rows'][0]['saturation']
  assert saturation['step'] == [0, 2, 4]  # the diagnostics logged during training


def test_rerun_reuses_sections_and_runs(tiny_run, capsys):
  (tiny_run / 'sections' / 'normalisation.json').unlink()  # as if killed in that section
  assert cli.main(['run', 'vanishing_gradients', '--quick', '--workdir', str(tiny_run),
                   *TINY]) == 0
  out = capsys.readouterr().out
  assert out.count('measured before, reusing') == len(SECTIONS) - 1
  assert 'mlp_depth3_none_batch: finished before, reusing' in out


@pytest.mark.parametrize('override,message', [
    ('resnet_cifar.depths=(8,21)', 'resnet_cifar.depths[1]=21 is not 6n+2'),
    ('sections=init_profiles,everything', 'sections='),
    ('depth_training.skips=(wide,)', 'depth_training.skips'),
    ('init_profiles.activations=(softsign,)', 'init_profiles.activations'),
    ('normalisation.norms=(group,)', 'normalisation.norms'),
    ('resnet_cifar.learning_rate=0', 'resnet_cifar.learning_rate'),
])
def test_bad_config_is_one_line_and_exit_2(override, message, capsys, tmp_path):
  assert cli.main(['run', 'vanishing_gradients', '--workdir', str(tmp_path / 'w'),
                   override]) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ') and message in err and err.count('\n') == 1
  assert not (tmp_path / 'w').exists()
