"""`profile_steps=a,b`: a jax.profiler trace of those steps in the run directory, which changes
nothing the run computes."""
import json

import pytest

from experiments import cli
from research.train import checkpoint

RUN = ['run', 'train', 'steps=6', 'batch_size=32', 'eval_every=6', 'checkpoint_every=3',
       'log_every=1', 'mlp.width=16']


def test_a_profiled_run_writes_its_trace_and_computes_the_same(tmp_path):
  assert cli.main([*RUN, '--workdir', str(tmp_path / 'plain')]) == 0
  assert cli.main([*RUN, '--workdir', str(tmp_path / 'profiled'), 'profile_steps=2,4']) == 0
  traces = list((tmp_path / 'profiled' / 'profile').glob('plugins/profile/*/*.xplane.pb'))
  assert len(traces) == 1 and traces[0].stat().st_size > 1000
  assert list(traces[0].parent.glob('*.trace.json.gz'))  # what Perfetto opens
  assert not (tmp_path / 'plain' / 'profile').exists()
  fingerprint = lambda name: json.loads(
      (tmp_path / name / 'results.json').read_text())['state_fingerprint']
  assert fingerprint('plain') == fingerprint('profiled')


def test_the_profile_window_may_change_between_sessions():
  saved = {'steps': 6, 'profile_steps': [2, 4], 'optim': {'name': 'adam'}}
  assert checkpoint.changed_keys(saved, {**saved, 'profile_steps': []}) == []
  assert checkpoint.changed_keys(saved, {**saved, 'steps': 7}) == ['steps']


@pytest.mark.parametrize('value', ['4,2', '(3,)', '0,7', '1,2,3'])
def test_a_bad_window_is_one_line_and_exit_2(value, tmp_path, capsys):
  assert cli.main([*RUN, '--workdir', str(tmp_path / 'w'), f'profile_steps={value}']) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: profile_steps=') and err.count('\n') == 1
  assert not (tmp_path / 'w').exists()
