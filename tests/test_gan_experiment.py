"""The gan experiment: the Fréchet distance, every section's report, snapshots over training,
resume, bad input, and conclusions that follow their numbers."""
import json

import numpy as np
import pytest

from experiments import cli
from experiments.gan import SECTIONS, as_augmentation, losses, quality
from experiments.gan import config as config_lib
from research import metrics

# MLP players: they compile in a fraction of the convolutional ones' time (test_tasks trains
# and checks the DCGAN-style players).
TINY = ['seeds=2', 'kind=mlp', 'epochs=4', 'snapshots=2', 'latent=4', 'generator=(16,)',
        'discriminator=(16,)', 'classifier.epochs=2', 'classifier.width=16',
        'losses.d_steps=(0,5)', 'quality.samples=200', 'quality.grid=4',
        'as_augmentation.examples_per_class=5', 'as_augmentation.generated_per_class=5',
        'as_augmentation.gan_epochs=2', 'as_augmentation.classifier_epochs=2']


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('gan')
  assert cli.main(['run', 'gan', '--quick', '--workdir', str(workdir), *TINY]) == 0
  return workdir


def test_report_has_every_section_and_snapshots_at_the_start_and_after_every_call(tiny_run):
  report = (tiny_run / 'report.md').read_text()
  for number, module in enumerate(SECTIONS.values(), 1):
    assert f'## {number}. {module.TITLE}' in report
  assert report.count('**Conclusion.**') == len(SECTIONS)
  assert 'not the Inception-based FID' in report
  for plot in ('gan_losses', 'gan_quality', 'gan_samples'):
    assert (tiny_run / f'{plot}.png').stat().st_size > 1000
  assert sorted(p.name for p in (tiny_run / 'runs').iterdir()) == [
      'augmented_seed_0', 'augmented_seed_1', 'classifier', 'conditional_gan', 'gan_minimax',
      'gan_non_saturating', 'real_only']
  snapshots = sorted((tiny_run / 'runs' / 'gan_minimax' / 'samples').glob('*.npy'))
  assert len(snapshots) == 3  # step 0 and after each of the 2 calls
  assert np.load(snapshots[-1]).shape == (2, 4, 8, 8, 1)  # members x grid x image
  results = json.loads((tiny_run / 'results.json').read_text())
  run = results['sections']['losses']['runs']['minimax']
  assert len(run['fd']) == 2 and len(run['fd_curve']['steps']) == 3
  assert len(run['g_grad_norm_curve']['mean']) == 4  # one per epoch
  augmentation = results['sections']['as_augmentation']
  assert augmentation['train_examples'] == 50 and len(augmentation['augmented']) == 2
  augmented = json.loads((tiny_run / 'runs' / 'augmented_seed_1' / 'results.json').read_text())
  assert augmented['train_examples'] == 50 + 5 * 10


def test_a_rerun_reuses_every_section(tiny_run, capsys):
  before = json.loads((tiny_run / 'results.json').read_text())
  assert cli.main(['run', 'gan', '--quick', '--workdir', str(tiny_run), *TINY]) == 0
  assert capsys.readouterr().out.count('measured before, reusing') == len(SECTIONS)
  assert json.loads((tiny_run / 'results.json').read_text())['headline'] == before['headline']


@pytest.mark.parametrize('overrides, message', [
    (['snapshots=7'], 'multiple of snapshots'),
    (['losses.d_steps=(-1,)'], 'losses.d_steps='),
    (['quality.grid=5000'], 'quality.grid'),
    (['generator=(0,)'], 'generator='),
    (['kind=dcgan', 'generator=(8,8,8,8)'], 'multiples of 16'),
    (['kind=gru'], 'kind='),
    (['data=diabetes'], 'not images'),
])
def test_bad_config_is_one_line_and_exit_2(overrides, message, capsys, tmp_path):
  code = cli.main(['run', 'gan', '--quick', '--workdir', str(tmp_path / 'w'), *overrides])
  err = capsys.readouterr().err
  assert code == 2 and message in err and len(err.strip().splitlines()) == 1
  assert not (tmp_path / 'w').exists()


def test_the_frechet_distance_is_the_gaussians_closed_form():
  rng = np.random.default_rng(0)
  a = rng.standard_normal((4000, 3))
  assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
  shift = np.array([1.0, -2.0, 0.5])
  assert metrics.frechet_distance(a, a + shift) == pytest.approx(shift @ shift, rel=1e-9)
  # One dimension: (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2.
  x, y = rng.standard_normal((5000, 1)), 3.0 * rng.standard_normal((5000, 1)) + 1.0
  expected = (x.mean() - y.mean()) ** 2 + (x.std(ddof=1) - y.std(ddof=1)) ** 2
  assert metrics.frechet_distance(x, y) == pytest.approx(expected, rel=1e-9)
  dead = np.concatenate([a, np.zeros((4000, 1))], axis=1)  # a constant (dead) unit
  assert metrics.frechet_distance(dead, dead + np.r_[shift, 0.0]) == pytest.approx(
      shift @ shift, rel=1e-6)


def _saturation(minimax_end):
  return [{'d_steps': 0, 'd_fake': 0.45, 'minimax': 0.5, 'non_saturating': 0.6},
          {'d_steps': 300, 'd_fake': 0.01, 'minimax': minimax_end, 'non_saturating': 10.0}]


def _run(fd):
  curve = {'steps': [0, 10], 'mean': [500.0, float(np.mean(fd))]}
  return {'fd': fd, 'entropy': [0.99] * len(fd), 'top_share': [0.12] * len(fd),
          'd_accuracy': [0.7] * len(fd), 'fd_curve': curve,
          'g_grad_norm_curve': {'steps': [1, 2], 'mean': [1.0, 2.0]},
          'd_fake_curve': {'steps': [1, 2], 'mean': [0.3, 0.4]}, 'seconds': 1.0}


def test_the_saturation_and_loss_verdicts_follow_the_numbers():
  results = {'epochs': 10, 'classifier_accuracy': 0.9, 'saturation': _saturation(0.05),
             'runs': {'non_saturating': _run([50.0, 51.0, 52.0]),
                      'minimax': _run([80.0, 81.0, 82.0])}}
  found = losses.analyze(results)
  assert 'saturation reproduced' in found['verdict']
  assert 'non-saturating loss ends' in found['verdict'] and 'beyond the seed spread' in \
      found['verdict']
  results['saturation'] = _saturation(5.0)
  results['runs']['minimax'] = _run([30.0, 60.0, 90.0])
  found = losses.analyze(results)
  assert 'no saturation here' in found['verdict'] and 'inconclusive' in found['verdict']


def test_the_collapse_verdict_follows_the_class_histogram():
  run = _run([50.0, 52.0])
  results = {'run': run, 'floor_fd': 10.0, 'histograms': [[0.1] * 10, [0.1] * 10],
             'classifier_accuracy': 0.9}
  assert 'no collapse' in quality.analyze(results)['verdict']
  run['entropy'] = [0.4, 0.5]
  results['histograms'] = [[0.7] + [0.3 / 9] * 9] * 2
  found = quality.analyze(results)
  assert 'collapse' in found['verdict'] and 'largest class 70%' in found['verdict']


def test_the_augmentation_verdict_needs_the_spread():
  results = {'examples_per_class': 30, 'generated_per_class': 100, 'classes': 10,
             'train_examples': 300, 'gan_d_accuracy': [0.7], 'real_only': [0.90, 0.91, 0.90]}
  better = as_augmentation.analyze({**results, 'augmented': [0.95, 0.96, 0.95]})
  assert "claim holds here" in better['verdict']
  worse = as_augmentation.analyze({**results, 'augmented': [0.80, 0.81, 0.80]})
  assert 'against the notes' in worse['verdict']
  spread = as_augmentation.analyze({**results, 'augmented': [0.85, 0.95, 0.90]})
  assert 'inconclusive' in spread['verdict']


def test_the_config_and_its_quick_preset_are_valid():
  from experiments import gan
  config = gan.get_config()
  gan.validate(config)
  gan.quick(config)
  gan.validate(config)
  assert tuple(config.sections) == config_lib.SECTION_NAMES


def test_a_diverging_gan_stops_at_its_first_bad_step(tmp_path, capsys):
  """A `train` run of a GAN keeps the NaN guard: a step with non-finite gradients stops it,
  naming the step (the experiment's ensembles keep a diverged seed as NaN instead)."""
  code = cli.main(['run', 'train', '--workdir', str(tmp_path / 'w'), 'task=adversarial',
                   'model=gan', 'data=digits', 'gan.latent=4', 'gan.generator=(8,)',
                   'gan.discriminator=(8,)', 'optim.name=sgd', 'optim.learning_rate=1e8',
                   'steps=20', 'log_every=10', 'checkpoint_every=10', 'eval_every=10'])
  err = capsys.readouterr().err
  assert code == 3 and 'non-finite gradients at step' in err
