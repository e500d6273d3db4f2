"""The autoencoders experiment: a linear autoencoder finds PCA's subspace, every section's
report, resume, bad input, and conclusions that follow their numbers."""
import json

import numpy as np
import pytest
import scipy.stats

from experiments import cli
from experiments.autoencoders import (SECTIONS, denoising, depth_and_bottleneck, linear_vs_pca,
                                      reconstruction_loss)
from experiments.autoencoders import config as config_lib

# Section 1 at its quick settings (the claim under test needs a converged run); the others tiny.
TINY = ['seeds=2', 'linear_vs_pca.codes=(4,)', 'linear_vs_pca.rates=(0.03,)',
        'depth_and_bottleneck.codes=(2,4)', 'depth_and_bottleneck.encoders=((16,),)',
        'depth_and_bottleneck.epochs=3', 'depth_and_bottleneck.rates=(0.001,)',
        'denoising.gaussian=(0.5,)', 'denoising.mask=()', 'denoising.encoder=(16,)',
        'denoising.code=4', 'denoising.epochs=3', 'denoising.probe_max_iter=50',
        'reconstruction_loss.encoder=(16,)', 'reconstruction_loss.code=4',
        'reconstruction_loss.epochs=3', 'reconstruction_loss.rates=(0.01,)']


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('autoencoders')
  assert cli.main(['run', 'autoencoders', '--quick', '--workdir', str(workdir), *TINY]) == 0
  return workdir


def test_a_linear_autoencoder_learns_pcas_subspace_and_error(tiny_run):
  """Baldi and Hornik 1989 on digits, k = 4 (eigenvalue ratio 1.43 at the cut, so the
  subspace is well determined): within 1% of PCA's test error, every angle near 0."""
  results = json.loads((tiny_run / 'results.json').read_text())
  found = results['headline']['linear_vs_pca']
  assert abs(found['excess_k4']) < 0.01
  assert found['largest_angle_k4'] < 5.0


def test_report_has_every_section_with_a_conclusion_and_its_figures(tiny_run):
  report = (tiny_run / 'report.md').read_text()
  for number, module in enumerate(SECTIONS.values(), 1):
    assert f'## {number}. {module.TITLE}' in report
  assert report.count('**Conclusion.**') == len(SECTIONS)
  for plot in ('linear_vs_pca', 'depth_and_bottleneck', 'reconstructions', 'denoising',
               'reconstruction_loss', 'loss_reconstructions'):
    assert (tiny_run / f'{plot}.png').stat().st_size > 1000
  groups_run = sorted(p.name for p in (tiny_run / 'runs').iterdir())
  assert groups_run == ['gaussian_0.5', 'hidden_16_code_2', 'hidden_16_code_4', 'linear_4',
                        'loss_binary_cross_entropy', 'loss_mae', 'loss_mse', 'none_0']


def test_binary_cross_entropy_reconstructs_with_the_sigmoid_of_its_logits(tiny_run):
  """Pixels in [0, 1] (normalize=unit) for every loss: the shown reconstructions of the
  binary cross-entropy model are sigmoids, inside (0, 1); its errors are on the pixel scale."""
  results = json.loads((tiny_run / 'sections' / 'reconstruction_loss.json').read_text())
  originals = np.asarray(results['originals'])
  assert originals.min() >= 0.0 and originals.max() <= 1.0 and originals.max() > 0.9
  bce = next(m for m in results['losses'] if m['name'] == 'binary_cross_entropy')
  shown = np.asarray(bce['shown'])
  assert shown.min() >= 0.0 and shown.max() <= 1.0
  assert all(0 < mse < 0.25 for m in results['losses'] for mse in m['test_mse'])


def test_a_rerun_reuses_every_section(tiny_run, capsys):
  before = json.loads((tiny_run / 'results.json').read_text())
  assert cli.main(['run', 'autoencoders', '--quick', '--workdir', str(tiny_run), *TINY]) == 0
  assert capsys.readouterr().out.count('measured before, reusing') == len(SECTIONS)
  assert json.loads((tiny_run / 'results.json').read_text())['headline'] == before['headline']


@pytest.mark.parametrize('override, message', [
    ('sections=(pca,)', 'sections='),
    ('linear_vs_pca.codes=(0,)', 'linear_vs_pca.codes='),
    ('depth_and_bottleneck.rates=()', 'depth_and_bottleneck.rates='),
    ('denoising.mask=(1.5,)', 'denoising.mask='),
    ('denoising.encoder=(-3,)', 'encoder='),
    ('reconstruction_loss.losses=(cross_entropy,)', 'reconstruction_loss.losses='),
    ('data=diabetes', 'not images'),
])
def test_bad_config_is_one_line_and_exit_2(override, message, capsys, tmp_path):
  code = cli.main(['run', 'autoencoders', '--quick', '--workdir', str(tmp_path / 'w'),
                   override])
  err = capsys.readouterr().err
  assert code == 2 and message in err and len(err.strip().splitlines()) == 1
  assert not (tmp_path / 'w').exists()


def test_principal_angles_see_the_subspace_not_the_basis():
  orthonormal = np.linalg.qr(np.random.default_rng(0).standard_normal((10, 6)))[0].T  # 6 x 10
  basis, other = orthonormal[:3], orthonormal[3:]
  mixed = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, -1.0], [1.0, 0.0, 3.0]]) @ basis
  assert max(linear_vs_pca.principal_angles_deg(mixed, basis)) < 1e-5
  np.testing.assert_allclose(linear_vs_pca.principal_angles_deg(other, basis), [90.0] * 3,
                             atol=1e-5)


def _linear_results(ae_mse, angles, pca=0.2):
  return {'rows': [{'code': 4, 'rate': 0.01, 'ae_test_mse': ae_mse, 'pca_test_mse': pca,
                    'pca_train_mse': pca, 'eigenvalue_ratio': 1.2,
                    'angles_deg': [[0.1, 0.2, 0.3, a] for a in angles]}]}


def test_the_pca_verdict_follows_error_and_angles():
  match = linear_vs_pca.analyze(_linear_results([0.2004, 0.2006], [1.0, 2.0]))
  assert 'reproduced' in match['verdict']
  rotated = linear_vs_pca.analyze(_linear_results([0.2004, 0.2006], [40.0, 50.0]))
  assert 'not its subspace' in rotated['verdict'] and 'reproduced' not in rotated['verdict']
  short = linear_vs_pca.analyze(_linear_results([0.25, 0.26], [1.0, 2.0]))
  assert 'did not reach' in short['verdict']


def _depth_results(deep_mse):
  return {'codes': [2, 16], 'pca_test_mse': [0.4, 0.1],
          'networks': [{'name': 'hidden 16', 'encoder': [16],
                        'by_code': [{'code': 2, 'test_mse': deep_mse[0]},
                                    {'code': 16, 'test_mse': deep_mse[1]}]}]}


def test_the_depth_verdict_needs_the_whole_interval_past_pca():
  better = depth_and_bottleneck.analyze(_depth_results([[0.30, 0.31, 0.29], [0.09, 0.095, 0.092]]))
  assert 'at k = 2, 16' in better['verdict'] and 'largest at the smallest code' in better['verdict']
  assert [r['networks']['hidden 16']['vs_pca'] for r in better['rows']] == ['better', 'better']
  spread = depth_and_bottleneck.analyze(_depth_results([[0.2, 0.6, 0.35], [0.05, 0.06, 0.055]]))
  assert spread['rows'][0]['networks']['hidden 16']['vs_pca'] == 'inconclusive'
  assert 'does not shrink' in spread['verdict']
  worse = depth_and_bottleneck.analyze(_depth_results([[0.5, 0.51, 0.52], [0.2, 0.21, 0.22]]))
  assert 'at no code size' in worse['verdict']


def _denoising_results(plain_probe, denoiser_probe):
  model = lambda kind, level, probe, noisy: {
      'kind': kind, 'level': level, 'clean_mse': [0.1, 0.11, 0.1], 'gaussian_mse': noisy,
      'mask_mse': [0.4, 0.41, 0.4], 'probe': probe}
  return {'code': 4, 'eval_gaussian': 0.5, 'eval_mask': 0.5, 'probe_pixels': 0.9,
          'probe_pca': 0.85, 'models': [model('none', 0.0, plain_probe, [0.3, 0.31, 0.3]),
                                        model('gaussian', 0.5, denoiser_probe, [0.2, 0.2, 0.21])]}


def test_the_denoising_verdicts_follow_the_spread():
  found = denoising.analyze(_denoising_results([0.80, 0.81, 0.80], [0.90, 0.91, 0.90]))
  assert 'clean originals with 0.203' in found['verdict'] and ': better;' in found['verdict']
  assert 'more useful codes are reproduced' in found['verdict']
  overlap = denoising.analyze(_denoising_results([0.80, 0.9, 0.85], [0.86, 0.84, 0.88]))
  assert 'inside the seed spread' in overlap['verdict']
  opposite = denoising.analyze(_denoising_results([0.90, 0.91, 0.90], [0.80, 0.81, 0.80]))
  assert 'opposite of Vincent' in opposite['verdict']


def _loss_results(mse_trained, bce_trained):
  model = lambda name, mse: {'name': name, 'rate': 0.01, 'test_mse': mse,
                             'test_mae': [10 * v for v in mse]}
  return {'rates': [0.003, 0.01, 0.03],
          'losses': [model('mse', mse_trained), model('binary_cross_entropy', bce_trained)]}


def test_the_loss_verdicts_follow_the_numbers_and_the_spread():
  bce_wins = reconstruction_loss.analyze(_loss_results([0.010, 0.011, 0.010],
                                                       [0.007, 0.0071, 0.0069]))
  assert 'binary CE gives the lowest test MSE' in bce_wins['verdict']
  assert 'beyond the seed spread' in bce_wins['verdict']
  assert "test MSE is lower than training on MSE itself" in bce_wins['verdict']
  assert 'MSE does not have the lowest mean' in bce_wins['verdict']
  mse_wins = reconstruction_loss.analyze(_loss_results([0.007, 0.0071, 0.0069],
                                                       [0.010, 0.011, 0.010]))
  assert 'MSE gives the lowest test MSE' in mse_wins['verdict']
  assert 'is higher than training on MSE' in mse_wins['verdict']
  tie = reconstruction_loss.analyze(_loss_results([0.007, 0.011, 0.009], [0.009, 0.0072, 0.01]))
  assert 'inconclusive' in tie['verdict'] and 'beyond' not in tie['verdict']
  edge = _loss_results([0.010, 0.011, 0.010], [0.007, 0.0071, 0.0069])
  edge['losses'][0]['rate'] = 0.03
  assert 'the rate chosen for MSE lies at the edge' in reconstruction_loss.analyze(edge)['verdict']


def test_test_corruption_is_fixed_and_at_its_level():
  x = np.random.default_rng(1).standard_normal((400, 64)).astype(np.float32)
  masked = denoising.corrupt(x, 'mask', 0.25)
  np.testing.assert_array_equal(masked, denoising.corrupt(x, 'mask', 0.25))
  assert abs((masked == 0).mean() - 0.25) < 0.01
  noise = denoising.corrupt(x, 'gaussian', 0.5) - x
  assert abs(noise.std() - 0.5) < 0.01 and scipy.stats.normaltest(noise.ravel()).pvalue > 1e-3


def test_the_config_and_its_quick_preset_are_valid():
  from experiments import autoencoders
  config = autoencoders.get_config()
  autoencoders.validate(config)
  autoencoders.quick(config)
  autoencoders.validate(config)
  assert tuple(config.sections) == config_lib.SECTION_NAMES
