"""Default run directories tell runs apart by their overrides, so that the README's examples
run one after another without meeting in one workdir."""
import pathlib

from experiments import rundir
from tests.conftest import run_cli


def test_default_workdirs_are_named_by_the_overrides():
  assert rundir.default_workdir('train', False, []) == pathlib.Path('runs/train/default')
  assert rundir.default_workdir('train', True, ['model=cnn', 'steps=300']) == pathlib.Path(
      'runs/train-quick/model=cnn,steps=300')
  assert rundir.name_for(['init_from=runs/source']) == 'init_from=runs_source'
  long = rundir.name_for([f'x{i}=1' for i in range(40)])
  assert len(long) == rundir.NAME_LIMIT and long != rundir.name_for(
      [f'x{i}=1' for i in range(41)])


def test_two_runs_with_other_settings_do_not_collide(tmp_path):
  for steps in ('steps=20', 'steps=30'):
    result = run_cli('run', 'train', steps, 'eval_every=10', 'checkpoint_every=10',
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
  assert sorted(p.name for p in (tmp_path / 'runs' / 'train').iterdir()) == [
      'steps=20,eval_every=10,checkpoint_every=10', 'steps=30,eval_every=10,checkpoint_every=10']
