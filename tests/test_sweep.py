"""Sweeps: a 2 x 2 x 2 grid of `train --quick` runs here, then aggregates over seeds (the
README test runs the README's own 2 x 3 x 2 sweep too)."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as scipy_stats

from launch import sweep
from research import stats
from tests.conftest import REPO

# 2 widths x 2 learning rates x 2 seeds of the quick preset, cut to 30 steps to stay cheap.
GRID = dict(
    experiment='train', quick=True,
    fixed=['steps=30', 'log_every=10', 'eval_every=30', 'checkpoint_every=30', 'mlp.depth=1',
           'split.val_fraction=0.2'],
    grid={'mlp.width': [16, 32], 'optim.learning_rate': [1e-3, 1e-2]},
    seeds=[0, 1])


def _sweep(*args: str):
  return subprocess.run([sys.executable, '-m', 'launch.sweep', *args], cwd=REPO,
                        capture_output=True, text=True, timeout=600)


def _file(tmp_path, **changes):
  """A sweep file: GRID with `changes` (None removes a field), in tmp_path/sweep."""
  fields = {**GRID, 'workdir': str(tmp_path / 'sweep'), **changes}
  fields = {k: v for k, v in fields.items() if v is not None}
  path = tmp_path / 'grid.py'
  path.write_text(f'SWEEP = {fields!r}\n')
  return path


def test_a_2x2x2_sweep_runs_here_and_aggregates_over_seeds(tmp_path):
  path = _file(tmp_path)
  done = _sweep('run', str(path))
  assert done.returncode == 0, done.stderr[-3000:]
  assert done.stdout.count('train: test accuracy') == 8
  results = sorted((tmp_path / 'sweep').glob('*/seed=*/results.json'))
  assert len(results) == 8

  again = _sweep('run', str(path))  # finished runs are skipped, not repeated
  assert again.returncode == 0 and again.stdout.count('done already') == 8

  done = _sweep('aggregate', str(path))
  assert done.returncode == 0, done.stderr
  summary = json.loads((tmp_path / 'sweep' / 'summary.json').read_text())
  assert [r['point'] for r in summary['rows']][:2] == [
      ['mlp.width=16', 'optim.learning_rate=0.001'], ['mlp.width=16', 'optim.learning_rate=0.01']]
  assert len(summary['rows']) == 4 and summary['runs_found'] == 8
  first = summary['rows'][0]
  results = [json.loads((tmp_path / 'sweep' / 'mlp.width=16,optim.learning_rate=0.001' /
                         f'seed={s}' / 'results.json').read_text()) for s in (0, 1)]
  chosen_on = [r['val']['accuracy'] for r in results]  # selected on validation ...
  assert first['values'] == chosen_on and first['mean'] == pytest.approx(np.mean(chosen_on))
  assert first['reported']['values'] == [r['test']['accuracy'] for r in results]  # ... reported
  best = max(summary['rows'], key=lambda r: r['mean'])
  assert summary['selection']['best'] == best['point']
  table = (tmp_path / 'sweep' / 'summary.md').read_text()
  assert table.count('| mlp.width=') == 4 and '95% interval' in table
  assert (tmp_path / 'sweep' / 'summary.png').stat().st_size > 10_000


def test_the_interval_over_seeds_is_students_t():
  values = [0.91, 0.93, 0.95, 0.90]
  s = stats.over_seeds(values + [math.nan])
  low, high = scipy_stats.t.interval(0.95, 3, loc=np.mean(values),
                                     scale=scipy_stats.sem(values))
  assert (s['n'], s['n_nonfinite']) == (4, 1)
  assert s['ci95_low'] == pytest.approx(low) and s['ci95_high'] == pytest.approx(high)
  assert math.isnan(stats.over_seeds([0.5])['ci95_low'])


def test_plan_lists_every_run_with_its_command(tmp_path, capsys):
  assert sweep.main(['plan', str(_file(tmp_path))]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert len(lines) == 8
  assert lines[7].endswith('mlp.width=32 optim.learning_rate=0.01 seed=1')


def test_a_slurm_sweep_is_one_job_array(tmp_path):
  path = _file(tmp_path)
  done = _sweep('slurm', str(path), '--dry-run', '--gpus-per-node', '2')
  assert done.returncode == 0, done.stderr
  assert '--array=0-7' in done.stdout and done.stdout.strip().endswith(f'--sweep {path}')


@pytest.mark.parametrize('changes, message', [
    ({'bogus': 1}, 'unknown field(s) bogus'),
    ({'points': [['model=mlp']]}, 'exactly one of grid'),
    ({'grid': None}, 'exactly one of grid'),
    ({'seeds': []}, 'seeds must be a non-empty list'),
    ({'experiment': None}, 'needs experiment=NAME'),
    ({'experiment': 'nope'}, 'unknown experiment'),
    ({'fixed': ['mlp.widht=3']}, 'run 0 (mlp.width=16 optim.learning_rate=0.001)'),
    ({'fixed': ['steps=0']}, 'steps'),
    ({'fixed': []}, 'metric=val.accuracy selects on the validation split: add split.val_fraction'),
    ({'goal': 'up'}, "goal='up': choose max or min"),
    ({'folds': 1}, 'folds=1: 2 or more'),
])
def test_bad_sweeps_fail_before_any_run_with_one_line(tmp_path, capsys, changes, message):
  assert sweep.main(['run', str(_file(tmp_path, **changes))]) == 2
  err = capsys.readouterr().err
  assert message in err and err.count('\n') == 1 and not (tmp_path / 'sweep').exists()


@pytest.mark.parametrize('args, message', [
    (['run', 'none.py'], 'does not exist'),
    (['plan', 'broken.py'], 'could not be read: SyntaxError'),
    (['aggregate', 'grid.py'], 'no run of the sweep has finished yet'),
    (['run', 'grid.py', '--index', '8'], 'outside the sweep\'s 8 runs'),
    (['plan', 'grid.py', '--bogus'], 'unknown option(s) --bogus'),
])
def test_missing_or_broken_sweep_files_are_named(tmp_path, capsys, args, message):
  _file(tmp_path)
  (tmp_path / 'broken.py').write_text('SWEEP = dict(\n')
  assert sweep.main([args[0], str(tmp_path / args[1]), *args[2:]]) == 2
  err = capsys.readouterr().err
  assert message in err and err.count('\n') == 1


def _row(point, mean, half):
  return {'point': [point], 'mean': mean, 'ci95_low': mean - half, 'ci95_high': mean + half}


def test_a_choice_inside_the_seed_spread_is_called_inconclusive():
  from launch import sweep_report
  clear = sweep_report.selection([_row('a', 0.90, 0.01), _row('b', 0.95, 0.01)], 'max')
  assert clear['best'] == ['b'] and clear['separated']
  assert 'beyond the seed spread' in clear['sentence']
  close = sweep_report.selection([_row('a', 0.94, 0.02), _row('b', 0.95, 0.02)], 'max')
  assert close['best'] == ['b'] and not close['separated']
  assert 'inconclusive' in close['sentence']
  lower = sweep_report.selection([_row('a', 0.10, 0.01), _row('b', 0.30, 0.01)], 'min')
  assert lower['best'] == ['a'] and lower['separated']


def test_selecting_on_the_test_set_is_warned_about(tmp_path, capsys):
  assert sweep.main(['plan', str(_file(tmp_path, metric='test.accuracy'))]) == 0
  assert 'WARNING' not in capsys.readouterr().err  # a plan selects nothing
  sweep.main(['aggregate', str(_file(tmp_path, metric='test.accuracy'))])
  assert 'WARNING: this sweep selects on the test set' in capsys.readouterr().err


def test_a_cross_validated_sweep_runs_every_fold_and_pools_them(tmp_path):
  path = _file(tmp_path, grid={'optim.learning_rate': [1e-3, 1e-2]}, seeds=[0], folds=3,
               fixed=GRID['fixed'][:-1])  # the folds are the validation split
  plan = [run.argv(sweep.load(path)) for run in sweep.expand(sweep.load(path))]
  assert len(plan) == 6 and plan[2][-2:] == ['split.folds=3', 'split.fold=2']
  done = _sweep('run', str(path))
  assert done.returncode == 0, done.stderr[-3000:]
  assert _sweep('aggregate', str(path)).returncode == 0
  summary = json.loads((tmp_path / 'sweep' / 'summary.json').read_text())
  assert [r['n'] for r in summary['rows']] == [3, 3]  # one value per fold
  sizes = [json.loads((tmp_path / 'sweep' / 'optim.learning_rate=0.001' / 'seed=0' /
                       f'fold={k}' / 'results.json').read_text())['val']['count']
           for k in range(3)]
  assert sum(sizes) == 1437  # the folds partition digits' training split
