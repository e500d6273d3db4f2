"""Subsets and the validation split (research/data/splits.py): fixed, stratified, nested, and
through a run: the validation metrics beside the test metrics."""
import json

import numpy as np
import pytest

from research.data import load_dataset, splits
from research.train import loop
from research.train import config as config_lib
from tests.conftest import run_cli


@pytest.fixture(scope='module')
def digits():
  return load_dataset('digits')


def _counts(labels, num_classes=10):
  return np.bincount(labels, minlength=num_classes)


def _rows(images):
  return {row.tobytes() for row in images}


def test_the_validation_split_is_stratified_disjoint_and_fixed(digits):
  held = splits.apply(digits, splits.SplitConfig(val_fraction=0.2))
  per_class = _counts(digits.train_labels)
  np.testing.assert_array_equal(_counts(held.val_labels), np.round(0.2 * per_class))
  assert len(held.train_labels) + len(held.val_labels) == len(digits.train_labels)
  assert not _rows(held.train_images) & _rows(held.val_images)
  again = splits.apply(digits, splits.SplitConfig(val_fraction=0.2))
  np.testing.assert_array_equal(again.val_images, held.val_images)
  assert held.eval_splits == ('val', 'test') and digits.eval_splits == ('test',)
  np.testing.assert_array_equal(held.test_labels, digits.test_labels)  # never subsampled


def test_k_folds_partition_the_training_split(digits):
  parts = [splits.apply(digits, splits.SplitConfig(folds=4, fold=k)) for k in range(4)]
  assert sum(len(p.val_labels) for p in parts) == len(digits.train_labels)
  seen = [_rows(p.val_images) for p in parts]
  assert all(not a & b for i, a in enumerate(seen) for b in seen[i + 1:])
  for p in parts:
    assert len(p.train_labels) + len(p.val_labels) == len(digits.train_labels)
    assert np.all(np.abs(_counts(p.val_labels) - _counts(digits.train_labels) / 4) <= 1)


def test_classes_are_kept_in_the_order_given_and_relabelled(digits):
  picked = splits.apply(digits, splits.SplitConfig(classes=(7, 3)))
  assert picked.num_classes == 2
  np.testing.assert_array_equal(_counts(picked.train_labels, 2),
                                _counts(digits.train_labels)[[7, 3]])
  np.testing.assert_array_equal(_counts(picked.test_labels, 2),
                                _counts(digits.test_labels)[[7, 3]])
  sevens = digits.train_images[digits.train_labels == 7]
  np.testing.assert_array_equal(picked.train_images[picked.train_labels == 0], sevens)


def test_subsets_have_the_sizes_asked_for_and_smaller_ones_nest(digits):
  tail = splits.apply(digits, splits.SplitConfig(imbalance=10.0))
  loaded = _counts(digits.train_labels)
  expected = [min(n, round(loaded[0] * 10.0 ** (-c / 9))) for c, n in enumerate(loaded)]
  assert list(_counts(tail.train_labels)) == expected
  assert expected[0] / expected[-1] == pytest.approx(10.0, rel=0.05)
  five = splits.apply(digits, splits.SplitConfig(examples_per_class=5))
  ten = splits.apply(digits, splits.SplitConfig(examples_per_class=10))
  assert list(_counts(five.train_labels)) == [5] * 10
  assert _rows(five.train_images) <= _rows(ten.train_images)
  some = splits.apply(digits, splits.SplitConfig(train_examples=100))
  assert len(some.train_labels) == 100
  share = _counts(digits.train_labels) / len(digits.train_labels) * 100
  assert np.all(np.abs(_counts(some.train_labels) - share) < 1)  # in proportion


def test_a_run_with_a_validation_split_reports_both(tmp_path, digits):
  config = config_lib.replace(config_lib.TrainConfig(), steps=40, eval_every=20,
                              checkpoint_every=40, log_every=20, num_devices=1,
                              **{'split.val_fraction': 0.1})
  results = loop.train_and_evaluate(config, tmp_path, digits, {})
  assert results['val']['count'] == sum(round(0.1 * n) for n in _counts(digits.train_labels))
  assert results['test']['count'] == 360
  splits_logged = [json.loads(line)['split'] for line in
                   (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert splits_logged.count('val') == splits_logged.count('test') == 2


def test_two_picked_classes_train_as_a_binary_task(tmp_path):
  result = run_cli('run', 'train', '--workdir', str(tmp_path), 'task=binary', 'steps=100',
                   'split.classes=(3,8)', 'mlp.depth=0', 'eval_every=100',
                   'optim.learning_rate=0.01')
  assert result.returncode == 0, result.stderr
  test = json.loads((tmp_path / 'results.json').read_text())['test']
  in_test = np.isin(load_dataset('digits').test_labels, (3, 8)).sum()
  assert test['count'] == in_test and test['accuracy'] > 0.9


@pytest.mark.parametrize('overrides, message', [
    (['split.classes=(3,10)'], 'split.classes=(3, 10) is not allowed'),
    (['split.classes=(3,3)'], 'two or more distinct classes'),
    (['split.val_fraction=1.0'], 'split.val_fraction=1.0 is out of range'),
    (['split.val_fraction=0.999'], 'leaves class 0 of digits no training examples'),
    (['split.imbalance=0.5'], 'split.imbalance=0.5 is out of range'),
    (['split.folds=5', 'split.fold=5'], 'split.fold=5 is out of range'),
    (['split.folds=5', 'split.val_fraction=0.1'], 'instead of split.val_fraction'),
    (['task=regression', 'data=diabetes', 'split.examples_per_class=5'],
     'need classes'),
    (['task=binary', 'split.classes=(1,2,3)'], 'task=binary needs two classes'),
])
def test_bad_splits_are_one_line_and_write_nothing(tmp_path, overrides, message):
  result = run_cli('run', 'train', '--workdir', str(tmp_path / 'run'), *overrides)
  assert result.returncode == 2
  assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
  assert not (tmp_path / 'run').exists()
