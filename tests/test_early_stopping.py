"""Early stopping (research/train/early_stopping.py): the tracker's rule, and a run that stops,
resumes and re-reports exactly where an uninterrupted one stops."""
import pytest

from research.data import load_dataset
from research.train import loop
from research.train import config as config_lib
from research.train.early_stopping import EarlyStoppingConfig, Tracker
from tests.conftest import run_cli, run_killed_after_checkpoint


def _feed(tracker, values, split='val', name='loss'):
  """The step at which the tracker says stop (evaluations every 10 steps), or None."""
  for i, value in enumerate(values):
    if tracker.update(10 * (i + 1), {split: {name: value}}):
      return 10 * (i + 1)
  return None


def test_the_tracker_stops_after_patience_evaluations_without_improvement():
  cfg = EarlyStoppingConfig(patience=2)
  assert _feed(Tracker(cfg), [1.0, 0.8, 0.9, 0.85, 0.7]) == 40
  assert _feed(Tracker(cfg), [1.0, 0.8, 0.7, 0.6, 0.5]) is None  # it keeps improving
  assert _feed(Tracker(EarlyStoppingConfig(patience=2, goal='max', metric='val.accuracy')),
               [0.5, 0.6, 0.55, 0.58], name='accuracy') == 40
  assert _feed(Tracker(EarlyStoppingConfig(patience=1, min_delta=0.1)), [1.0, 0.95]) == 20
  assert _feed(Tracker(EarlyStoppingConfig()), [1.0, 2.0, 3.0]) is None  # patience 0: never
  tracker = Tracker(cfg)
  assert tracker.replay([{'step': 10, 'split': 'val', 'loss': 1.0},
                         {'step': 10, 'split': 'test', 'loss': 9.0},
                         {'step': 20, 'split': 'val', 'loss': 1.5},
                         {'step': 30, 'split': 'val', 'loss': 1.2}])
  assert tracker.summary(30) == {'metric': 'val.loss', 'stopped_at_step': 30, 'best_step': 10,
                                 'best_value': 1.0}


CONFIG = dict(steps=2000, eval_every=50, checkpoint_every=50, log_every=50, num_devices=1,
              **{'split.val_fraction': 0.2, 'early_stopping.patience': 3})


def test_a_run_stops_early_and_resumes_to_the_same_stop(tmp_path, monkeypatch):
  config = config_lib.replace(config_lib.TrainConfig(), **CONFIG)
  digits = load_dataset('digits')
  whole = loop.train_and_evaluate(config, tmp_path / 'whole', digits, {})
  stop = whole['early_stopping']['stopped_at_step']
  assert stop is not None and stop < 2000 and whole['final_step'] == stop
  assert stop - whole['early_stopping']['best_step'] == 3 * 50
  run_killed_after_checkpoint(  # killed after the checkpoint before the stop
      monkeypatch, stop - 50, lambda: loop.train_and_evaluate(config, tmp_path / 'cut', digits, {}))
  resumed = loop.train_and_evaluate(config, tmp_path / 'cut', digits, {})
  assert resumed['resumed_from_step'] == stop - 50
  for key in ('state_fingerprint', 'final_step', 'early_stopping', 'test', 'val'):
    assert resumed[key] == whole[key], key
  again = loop.train_and_evaluate(config, tmp_path / 'cut', digits, {})  # stopped: re-reports
  assert again['steps_run'] == 0 and again['state_fingerprint'] == whole['state_fingerprint']


@pytest.mark.parametrize('overrides, message', [
    (['early_stopping.patience=2'], 'set split.val_fraction'),
    (['early_stopping.patience=2', 'split.val_fraction=0.1', 'early_stopping.metric=test.loss'],
     "early_stopping.metric='test.loss' is not allowed"),
    (['early_stopping.goal=up'], "early_stopping.goal='up' is not allowed"),
])
def test_bad_early_stopping_is_one_line_and_writes_nothing(tmp_path, overrides, message):
  result = run_cli('run', 'train', '--workdir', str(tmp_path / 'run'), *overrides)
  assert result.returncode == 2 and message in result.stderr
  assert not (tmp_path / 'run').exists()
