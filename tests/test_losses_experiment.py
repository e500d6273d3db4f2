"""The losses experiment: exact checks, metrics against scikit-learn, every section's report,
resume, bad input, and conclusions that follow their numbers."""
import json

import numpy as np
import pytest
from sklearn import metrics as sk_metrics

from experiments import cli
from experiments.losses import (SECTIONS, binary_decisions, classification_losses, imbalance,
                                metrics_that_mislead, regression)
from experiments.losses import config as config_lib
from research import stats

TINY = ['seeds=2', 'regression.outlier_fractions=(0.2,)', 'regression.diabetes=false',
        'regression.examples=200', 'regression.epochs=3', 'regression.constant_examples=101',
        'classification_losses.epochs=2', 'classification_losses.rates=(0.01,)',
        'classification_losses.losses=(cross_entropy,mse)',
        'classification_losses.width=16', 'classification_losses.depth=1',
        'imbalance.epochs=2', 'imbalance.gammas=(2,)', 'imbalance.ratios=(10,)',
        'binary_decisions.epochs=2']
GROUPS = ['binary_breast_cancer', *(f'imbalance_digits_10_{m}' for m in imbalance.METHODS),
          'loss_cross_entropy', 'loss_mse',
          *(f'regression_{loss}_linear_outliers_0.2' for loss in ('huber', 'mae', 'mse'))]


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('losses')
  assert cli.main(['run', 'losses', '--quick', '--workdir', str(workdir), *TINY]) == 0
  return workdir


def test_report_has_every_section_with_a_conclusion_and_a_plot(tiny_run):
  report = (tiny_run / 'report.md').read_text()
  for number, module in enumerate(SECTIONS.values(), 1):
    assert f'## {number}. {module.TITLE}' in report
  assert report.count('**Conclusion.**') == len(SECTIONS)
  for plot in ('regression', 'classification_losses', 'imbalance_digits_10',
               'binary_breast_cancer'):
    assert (tiny_run / f'{plot}.png').stat().st_size > 1000
  assert sorted(p.name for p in (tiny_run / 'runs').iterdir()) == sorted(GROUPS)
  results = json.loads((tiny_run / 'results.json').read_text())
  assert set(results['headline']) == set(SECTIONS)
  # The exact checks hold on any run: float32 bisection to the mean and the median (relative
  # to the mean; the log-normal sample's float32 rounding is of order 1e-6 of it).
  assert results['headline']['regression']['exact_mse_vs_mean'] < 1e-4
  assert results['headline']['regression']['exact_mae_vs_median'] < 1e-4


def test_a_rerun_reuses_every_section(tiny_run, capsys):
  before = json.loads((tiny_run / 'results.json').read_text())
  assert cli.main(['run', 'losses', '--quick', '--workdir', str(tiny_run), *TINY]) == 0
  assert capsys.readouterr().out.count('measured before, reusing') == len(SECTIONS)
  assert json.loads((tiny_run / 'results.json').read_text())['headline'] == before['headline']


def test_the_streamed_auc_and_the_chosen_threshold_follow_the_binary_runs(tiny_run):
  found = json.loads((tiny_run / 'sections' / 'binary_decisions.json').read_text())
  for m in found['datasets'][0]['members']:
    # Histogram AUC against scikit-learn's exact one: bins 1/64 wide in log-odds.
    assert abs(m['roc_auc'] - m['streamed_roc_auc']) < 5e-3
    assert m['val']['recall'] >= 0.95  # the rule was chosen to give this on validation


@pytest.mark.parametrize('override, message', [
    ('imbalance.datasets=(breast_cancer,)', 'not a dataset of three or more classes'),
    ('binary_decisions.datasets=(cifar100,)', 'is not allowed'),
    ('classification_losses.losses=(focal,)', 'is not allowed'),
    ('imbalance.ratios=(0.5,)', 'imbalance.ratios=(0.5,) is not allowed'),
    ('regression.outlier_fractions=(1.5,)', 'out of range'),
    ('val_fraction=0', 'val_fraction=0.0 is out of range'),
])
def test_bad_config_is_one_line_and_exit_2(override, message, capsys, tmp_path):
  assert cli.main(['run', 'losses', '--workdir', str(tmp_path / 'w'), override]) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ') and message in err and err.count('\n') == 1
  assert not (tmp_path / 'w').exists()


def test_constant_minimisers_are_the_mean_and_the_median():
  y = np.random.default_rng(3).standard_t(2, 301).astype(np.float32) * 5 + 2
  # MSE's slope is a float32 mean of values up to |y| = 335: its rounding, which the summation
  # order (and so the CPU) decides, moves the zero by up to about 335 * 1.2e-7 = 4e-5.
  # MAE's slope counts signs, exactly: its zero is the median to the last float.
  assert regression.constant_minimiser('mse', y) == pytest.approx(y.astype(np.float64).mean(),
                                                                   abs=2e-4)
  assert regression.constant_minimiser('mae', y) == pytest.approx(np.median(y), abs=1e-5)
  # Huber with a corner beyond every error is MSE; with a tiny one, MAE.
  assert regression.constant_minimiser('huber', y, delta=1e4) == pytest.approx(
      y.astype(np.float64).mean(), abs=2e-4)
  assert regression.constant_minimiser('huber', y, delta=1e-6) == pytest.approx(np.median(y),
                                                                                abs=1e-4)


@pytest.mark.parametrize('classes', [2, 10])
def test_the_closed_form_gradients_are_jax_grad_of_the_library_losses(classes):
  p = np.linspace(0.02, 0.98, 25)
  for name in classification_losses.CLOSED_FORMS:
    np.testing.assert_allclose(classification_losses.autodiff_gradient(name, p, classes),
                               classification_losses.analytic_gradient(name, p, classes),
                               atol=2e-6)


def test_confusion_figures_are_scikit_learns_also_reweighted():
  rng = np.random.default_rng(0)
  truth, predicted = rng.integers(0, 4, 400), rng.integers(0, 4, 400)
  predicted[:200] = truth[:200]
  cm = sk_metrics.confusion_matrix(truth, predicted)
  found = imbalance.confusion_figures(cm)
  assert found['accuracy'] == pytest.approx(sk_metrics.accuracy_score(truth, predicted))
  assert found['balanced_accuracy'] == pytest.approx(
      sk_metrics.balanced_accuracy_score(truth, predicted))
  assert found['f1_macro'] == pytest.approx(sk_metrics.f1_score(truth, predicted,
                                                                average='macro'))
  # A test set with class shares `share`: each example weighted share / its class's count.
  share = np.array([8.0, 4.0, 2.0, 1.0])
  weights = (share / share.sum() / np.bincount(truth))[truth]
  lt = imbalance.confusion_figures(cm, share)
  assert lt['accuracy'] == pytest.approx(
      sk_metrics.accuracy_score(truth, predicted, sample_weight=weights))
  assert lt['f1_macro'] == pytest.approx(
      sk_metrics.f1_score(truth, predicted, average='macro', sample_weight=weights))


def test_the_threshold_is_the_highest_with_the_recall_asked_for():
  logits = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.0])
  labels = np.array([1, 0, 1, 1, 0, 1, 0])
  assert binary_decisions.threshold_for_recall(logits, labels, 0.75) == 2.0
  assert binary_decisions.threshold_for_recall(logits, labels, 0.76) == 0.5
  decided = binary_decisions.decide(logits, labels, 2.0)
  assert decided['recall'] == 0.75 and decided['precision'] == 0.75
  assert decided['confusion_matrix'] == [[2, 1], [1, 3]]


def test_the_threshold_verdict_follows_the_test_recall():
  def results(recalls):
    members = [{'test': {'recall': r, 'precision': 0.9}, 'roc_auc': 0.99,
                'average_precision': 0.98, 'streamed_roc_auc': 0.99} for r in recalls]
    return {'target_recall': 0.95, 'datasets': [{'data': 'd', 'positives_val': 20,
                                                 'members': members}]}
  met = binary_decisions.analyze(results([0.96, 1.0, 0.95]))['per_data']['d']
  assert met['met'] == 3 and 'for every seed' in met['verdict']
  missed = binary_decisions.analyze(results([0.96, 0.90, 0.85]))['per_data']['d']
  assert missed['met'] == 1 and 'below 95% for 2 of 3 seeds' in missed['verdict']


def _regression_results(mse, mae):
  zero = {'mse': {'rmse': [1.0, 1.01, 0.99]}, 'mae': {'rmse': [1.0, 1.02, 0.98]},
          'huber': {'rmse': [1.0, 1.01, 0.99]}}
  worst = {'mse': {'rmse': mse}, 'mae': {'rmse': mae}, 'huber': {'rmse': [2.0, 2.1, 2.2]}}
  return {'exact': {'mean': 1.5, 'median': 1.0, 'minimiser': {'mse': 1.5, 'mae': 1.0}},
          'fits': {'0% outliers': zero, '20% outliers': worst}}


def test_the_outlier_verdict_follows_the_numbers():
  holds = regression.analyze(_regression_results([5.0, 5.1, 5.2], [0.5, 0.51, 0.52]))
  assert holds['verdict'].startswith("the notes' claim holds")
  against = regression.analyze(_regression_results([0.5, 0.51, 0.52], [5.0, 5.1, 5.2]))
  assert against['verdict'].startswith("the notes' claim does not hold")
  inside = regression.analyze(_regression_results([0.5, 0.6, 0.7], [0.55, 0.65, 0.75]))
  assert 'inconclusive' in inside['verdict']


def _member(recall_per_class, auc=0.9, log_loss=0.5, count=10):
  """A member whose confusion matrix has these per-class recalls (the misses on class 0)."""
  cm = np.zeros((len(recall_per_class),) * 2, int)
  for c, r in enumerate(recall_per_class):
    cm[c, c] = round(r * count)
    cm[c, 0 if c else 1] += count - cm[c, c]
  split = {'confusion_matrix': cm.tolist(), 'roc_auc_macro': auc, 'log_loss': log_loss}
  return {'seed': 0, 'val': split, 'test': split}


def _setting(models):
  return {'data': 'd', 'ratio': 10, 'model': 'mlp', 'train_counts': [100, 30, 10],
          'test_counts': [10, 10, 10], 'models': models}


def test_the_imbalance_choice_is_made_on_validation_and_judged_by_the_spread():
  ce = [_member([1.0, 0.5, 0.2]), _member([1.0, 0.6, 0.2]), _member([1.0, 0.5, 0.3])]
  weighted = [_member([0.9, 0.8, 0.8]), _member([0.9, 0.8, 0.7]), _member([0.9, 0.9, 0.8])]
  found = imbalance.analyze_setting(_setting({'cross_entropy': ce,
                                              'weighted_cross_entropy': weighted}))
  assert found['chosen'] == 'weighted_cross_entropy'
  assert 'above' in found['verdict'] and 'outside the seed spread' in found['verdict']
  close = imbalance.analyze_setting(_setting({'cross_entropy': ce, 'weighted_cross_entropy': [
      _member([1.0, 0.6, 0.2]), _member([1.0, 0.5, 0.3]), _member([1.0, 0.6, 0.3])]}))
  assert 'inconclusive' in close['verdict']
  # The majority model: high accuracy on the long-tailed test, a third of balanced accuracy.
  assert close['majority']['lt_test']['accuracy'] == pytest.approx(100 / 140)
  assert close['majority']['test']['balanced_accuracy'] == pytest.approx(1 / 3)


def test_the_best_focal_gamma_is_judged_against_lin_et_al_by_the_spread():
  low = [_member([1.0, 0.5, 0.2]), _member([1.0, 0.6, 0.2]), _member([1.0, 0.5, 0.3])]
  high = [_member([0.9, 0.8, 0.8]), _member([0.9, 0.8, 0.7]), _member([0.9, 0.9, 0.8])]
  near = [_member([1.0, 0.6, 0.2]), _member([1.0, 0.5, 0.3]), _member([1.0, 0.6, 0.3])]
  lower = [_member([1.0, 0.3, 0.0]), _member([1.0, 0.4, 0.0]), _member([1.0, 0.3, 0.1])]
  def verdict(models):
    return imbalance.analyze_setting(_setting({'cross_entropy': low, **models}))['focal_verdict']

  assert verdict({'focal gamma=0.5': high, 'focal gamma=2': low}) == (
      'Best focal loss on validation: focal gamma=0.5; its test balanced accuracy (83.3%) is '
      "above gamma = 2's (58.9%), Lin et al. 2017's value, outside the seed spread.")
  # Validation prefers gamma = 0.5, the test split gamma = 2.
  chosen_on_val = [dict(m, test=t['test']) for m, t in zip(high, lower)]
  assert verdict({'focal gamma=0.5': chosen_on_val, 'focal gamma=2': low}) == (
      'Best focal loss on validation: focal gamma=0.5; its test balanced accuracy (45.6%) is '
      "below gamma = 2's (58.9%), Lin et al. 2017's value, outside the seed spread.")
  assert verdict({'focal gamma=0.5': near, 'focal gamma=2': low}).endswith(
      "inside the seed spread of gamma = 2, Lin et al. 2017's value: inconclusive.")
  assert verdict({'focal gamma=1': low, 'focal gamma=2': high}).endswith(
      "focal gamma=2, Lin et al. 2017's gamma.")
  assert verdict({'weighted_cross_entropy': high}) == ''


def test_the_rankings_disagree_where_the_metrics_do():
  # cross-entropy: best on the head class (long-tailed accuracy) and by AUC; resampled: best
  # balanced.
  head = [_member([1.0, 0.6, 0.0], auc=0.95), _member([1.0, 0.6, 0.1], auc=0.95)]
  even = [_member([0.7, 0.7, 0.7], auc=0.80), _member([0.7, 0.7, 0.8], auc=0.80)]
  found = metrics_that_mislead.analyze_setting(_setting({'cross_entropy': head,
                                                         'resampled': even}))
  assert found['tops']['balanced accuracy'] == 'resampled'
  assert found['tops']['accuracy (long-tailed test)'] == 'cross_entropy'
  assert {'accuracy (long-tailed test)', 'ROC-AUC (macro)'} <= set(found['disagree'])
  assert found['tau']['balanced accuracy'] == 1.0
  assert found['tau']['accuracy (long-tailed test)'] == -1.0
  agree = metrics_that_mislead.analyze_setting(_setting({'cross_entropy': head,
                                                         'resampled': head}))
  assert not agree['disagree'] and agree['verdict'].startswith('every metric picks the same')


def test_a_diverged_model_ranks_last_and_is_marked():
  """Every seed of 'focal' diverged: its log loss is NaN (None once read back from
  results.json), and its NaN logits predict class 0 everywhere."""
  fine = [_member([0.9, 0.8, 0.7], log_loss=0.9), _member([0.9, 0.7, 0.7], log_loss=0.8)]
  better = [_member([0.9, 0.9, 0.8], log_loss=0.4), _member([0.9, 0.8, 0.8], log_loss=0.5)]
  for lost in (float('nan'), None):
    diverged = [_member([1.0, 0.0, 0.0], auc=0.5, log_loss=lost) for _ in range(2)]
    setting = _setting({'cross_entropy': fine, 'focal': diverged, 'resampled': better})
    found = metrics_that_mislead.analyze_setting(setting)
    assert found['rankings']['log loss'] == ['resampled', 'cross_entropy', 'focal']
    table = imbalance.render_setting(setting, imbalance.analyze_setting(setting))
    assert '| focal (2 of 2 diverged) |' in table and '| resampled |' in table


def test_the_classification_verdict_needs_the_spread():
  def trained(accuracies):
    return {'members': [{'rate': 0.01, 'seed': i, 'val_accuracy': a, 'test_accuracy': a,
                         'test_ece': 0.1, 'test_log_loss': 0.3}
                        for i, a in enumerate(accuracies)],
            'val_accuracy_curves': [[a / 2, a] for a in accuracies]}
  gradients = classification_losses.gradient_curves(('cross_entropy', 'mse'), 10, 5)
  clear = classification_losses.analyze({'gradients': gradients, 'trained': {
      'cross_entropy': trained([0.95, 0.96, 0.97]), 'mse': trained([0.80, 0.81, 0.82])}})
  assert clear['best'] == 'cross_entropy' and 'outside the seed spread' in clear['verdict']
  flipped = classification_losses.analyze({'gradients': gradients, 'trained': {
      'cross_entropy': trained([0.80, 0.81, 0.82]), 'mse': trained([0.95, 0.96, 0.97])}})
  assert flipped['best'] == 'mse'
  close = classification_losses.analyze({'gradients': gradients, 'trained': {
      'cross_entropy': trained([0.90, 0.95, 0.97]), 'mse': trained([0.89, 0.94, 0.96])}})
  assert 'inconclusive' in close['verdict']
  assert stats.intervals_overlap(close['per_loss']['mse']['test_accuracy'],
                                 close['per_loss']['cross_entropy']['test_accuracy'])


def test_the_config_and_its_quick_preset_are_valid():
  from experiments import losses
  config = losses.get_config()
  losses.validate(config)
  losses.quick(config)
  losses.validate(config)
  assert tuple(config.sections) == config_lib.SECTION_NAMES
