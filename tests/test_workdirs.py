"""Default run directories tell runs apart by their overrides, so that the README's examples
run one after another without meeting in one workdir."""
import json
import pathlib

import pytest

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


def test_options_that_only_pick_what_is_reported_do_not_name_the_workdir():
  """A run with other `sections` is the same run (prepare accepts it), so the same command
  with a section added finds the sections measured before."""
  assert rundir.default_workdir('losses', False, ['sections=imbalance']) == pathlib.Path(
      'runs/losses/default')
  assert rundir.default_workdir('losses', True, ['seeds=2', 'sections=regression']) == (
      pathlib.Path('runs/losses-quick/seeds=2'))
  assert rundir.default_workdir('train', False, ['profile_steps=(5,10)', 'steps=9']) == (
      pathlib.Path('runs/train/steps=9'))


def test_two_runs_with_other_settings_do_not_collide(tmp_path):
  for steps in ('steps=20', 'steps=30'):
    result = run_cli('run', 'train', steps, 'eval_every=10', 'checkpoint_every=10',
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
  assert sorted(p.name for p in (tmp_path / 'runs' / 'train').iterdir()) == [
      'steps=20,eval_every=10,checkpoint_every=10', 'steps=30,eval_every=10,checkpoint_every=10']


def test_the_start_message_says_what_the_workdir_holds(tmp_path):
  workdir = tmp_path / 'run'
  assert rundir.start_message('train', workdir, 40) == f'starting train in {workdir}'
  (workdir / 'checkpoints' / '20').mkdir(parents=True)
  (workdir / 'checkpoints' / '40.orbax-checkpoint-tmp-1').mkdir()  # not complete: not counted
  assert rundir.start_message('train', workdir, 40) == (
      f'resuming train in {workdir} from its newest checkpoint, step 20 of 40')
  (workdir / 'checkpoints' / '40').mkdir()
  (workdir / 'results.json').write_text('{}')
  assert rundir.start_message('train', workdir, 40) == (
      f'train in {workdir} finished before at step 40: reporting again')
  sectioned = tmp_path / 'sections_run'
  (sectioned / 'sections').mkdir(parents=True)
  (sectioned / 'sections' / 'convex.json').write_text('{}')
  assert rundir.start_message('optimisation', sectioned) == (
      f'resuming optimisation in {sectioned}: 1 section(s) measured before (convex)')


def test_restart_discards_the_run_in_the_workdir_and_only_a_run(tmp_path):
  workdir = tmp_path / 'run'
  args = ('run', 'train', '--workdir', str(workdir), 'steps=20', 'eval_every=10',
          'checkpoint_every=10')
  first = run_cli(*args)
  assert first.returncode == 0, first.stderr
  assert first.stdout.startswith('starting train in')
  again = run_cli(*args)
  assert again.returncode == 0
  assert again.stdout.startswith(f'train in {workdir} finished before at step 20')
  other = ('run', 'train', '--workdir', str(workdir), 'steps=30', 'eval_every=10',
           'checkpoint_every=10')
  refused = run_cli(*other)
  assert refused.returncode == 2 and 'add --restart to discard that run' in refused.stderr
  restarted = run_cli(*other, '--restart')
  assert restarted.returncode == 0, restarted.stderr
  assert restarted.stdout.startswith('starting train in')
  assert json.loads((workdir / 'results.json').read_text())['final_step'] == 30
  (tmp_path / 'notes').mkdir()
  (tmp_path / 'notes' / 'keep.txt').write_text('mine')
  kept = run_cli('run', 'train', '--workdir', str(tmp_path / 'notes'), '--restart')
  assert kept.returncode == 2 and 'holds no config.json' in kept.stderr
  assert (tmp_path / 'notes' / 'keep.txt').read_text() == 'mine'


def test_runs_lists_each_run_with_its_overrides_status_and_headline(tmp_path):
  common = ('eval_every=10', 'checkpoint_every=10')
  assert run_cli('run', 'train', '--quick', 'steps=20', *common, cwd=tmp_path).returncode == 0
  failed = run_cli('run', 'train', 'steps=30', 'log_every=1', 'optim.name=sgd',
                   'optim.learning_rate=1e30', cwd=tmp_path)
  assert failed.returncode == 3
  table = run_cli('runs', cwd=tmp_path)
  assert table.returncode == 0, table.stderr
  rows = {line.split(' | ')[0].strip('| '): line for line in table.stdout.splitlines()[2:]}
  finished = rows['train-quick/steps=20,eval_every=10,checkpoint_every=10']
  # Only what differs from the quick preset's defaults, sorted by key.
  assert '| checkpoint_every=10 eval_every=10 steps=20 | finished | 20 | test accuracy ' in finished
  bad = next(line for name, line in rows.items() if name.startswith('train/'))
  assert '| failed |' in bad and 'optim.name=sgd' in bad
  assert run_cli('runs', str(tmp_path / 'nowhere')).returncode == 2


def test_progress_off_a_terminal_is_a_plain_line_per_log_step(tmp_path):
  done = run_cli('run', 'train', '--workdir', str(tmp_path / 'run'), 'steps=20', 'log_every=10',
                 'eval_every=10', 'checkpoint_every=10')
  assert done.returncode == 0, done.stderr
  lines = [line for line in done.stderr.splitlines() if ': step ' in line]
  assert [line.split(',')[0] for line in lines] == ['mlp: step 10/20', 'mlp: step 20/20']
  assert all(' steps/s' in line and ', loss ' in line for line in lines)


def test_steps_per_call_with_convolutions_on_a_cpu_warns(tmp_path):
  done = run_cli('run', 'train', '--workdir', str(tmp_path / 'run'), 'model=cnn',
                 'cnn.channels=(4,)', 'cnn.dense=(8,)', 'steps=20', 'steps_per_call=10',
                 'log_every=10', 'eval_every=10', 'checkpoint_every=10')
  assert done.returncode == 0, done.stderr
  assert "WARNING: steps_per_call=10 puts model=cnn's convolutions inside one lax.scan" in \
      done.stderr


def test_steps_per_call_0_is_one_step_on_a_cpu_and_many_on_an_accelerator(monkeypatch):
  from research.train import config as config_lib, loop
  config = config_lib.TrainConfig()  # steps_per_call=0; log every 50, evaluate every 500
  assert config.steps_per_call == 0 and loop.steps_per_call(config) == 1
  monkeypatch.setattr(loop.jax, 'default_backend', lambda: 'gpu')
  assert loop.steps_per_call(config) == 50  # 100, cut to divide log_every
  assert loop.steps_per_call(config_lib.replace(config, steps_per_call=1)) == 1


def test_a_run_from_before_an_option_existed_resumes_with_a_warning(tmp_path, capsys):
  """Code that added an option must not strand the runs made before it: the option is not a
  change of config (the old run could not set it), and the warning names its value now."""
  from research.errors import UserError
  workdir = tmp_path / 'run'
  assert rundir.prepare(workdir, {'a': 1, 'group': {'b': 2}}) is False
  assert rundir.prepare(workdir, {'a': 1, 'group': {'b': 2, 'new': 'x'}, 'added': 0}) is True
  err = capsys.readouterr().err
  assert "predates options it resumes with as group.new='x', added=0" in err
  assert json.loads((workdir / 'config.json').read_text()) == {'a': 1, 'group': {'b': 2}}
  with pytest.raises(UserError, match='differs in: group.b'):
    rundir.prepare(workdir, {'a': 1, 'group': {'b': 3}})


def test_options_that_only_pick_what_is_reported_may_change_and_are_recorded(tmp_path):
  from research.errors import UserError
  workdir = tmp_path / 'run'
  rundir.prepare(workdir, {'sections': ['a'], 'a': {'n': 1}, 'profile_steps': []})
  assert rundir.prepare(workdir, {'sections': ['b', 'a'], 'a': {'n': 1},
                                  'profile_steps': [2]}) is True
  assert json.loads((workdir / 'config.json').read_text()) == {
      'sections': ['b', 'a'], 'a': {'n': 1}, 'profile_steps': [2]}
  with pytest.raises(UserError, match=r'differs in: a\.n\)'):
    rundir.prepare(workdir, {'sections': ['a'], 'a': {'n': 2}, 'profile_steps': []})
