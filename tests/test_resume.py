"""Exact resume: a run killed with SIGKILL after its first checkpoint, or stopped by SIGTERM (a
scheduler's preemption), and started again with the same command ends with the same state
fingerprint as a run that was never interrupted.

Also the headline figure of the quick preset: >= 95% test accuracy on digits.
"""
import json
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, run_cli, subprocess_xla_flags

QUICK = ['run', 'train', 'model=mlp', 'data=digits', '--quick']


def _start(workdir):
  return subprocess.Popen([sys.executable, '-m', 'experiments', *QUICK, '--workdir', str(workdir)],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={'PATH': '/usr/bin:/bin', 'XLA_FLAGS': subprocess_xla_flags()})


def _results(workdir):
  return json.loads((workdir / 'results.json').read_text())


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
  straight = tmp_path_factory.mktemp('straight')
  uninterrupted = _start(straight)
  out, err = uninterrupted.communicate(timeout=300)
  assert uninterrupted.returncode == 0, err
  return _results(straight)


def _start_and_wait_for_first_checkpoint(workdir):
  victim = _start(workdir)
  deadline = time.monotonic() + 300
  while not (workdir / 'checkpoints' / '200').is_dir():  # Orbax renames it there when complete
    assert victim.poll() is None, 'the run ended before its first checkpoint'
    assert time.monotonic() < deadline
    time.sleep(0.01)
  assert victim.poll() is None, 'the run finished before it could be stopped; make it longer'
  return victim


def test_quick_run_reaches_95_percent(reference):
  assert reference['test']['accuracy'] >= 0.95, reference['test']['accuracy']


def test_sigterm_saves_a_checkpoint_exits_0_and_the_rerun_is_bit_identical(tmp_path, reference):
  stopped = tmp_path / 'stopped'
  victim = _start_and_wait_for_first_checkpoint(stopped)
  victim.send_signal(signal.SIGTERM)
  out, err = victim.communicate(timeout=120)
  assert victim.returncode == 0, err
  assert 'stopped by SIGTERM after step' in err
  step = int(err.split('after step ')[1].split(',')[0])
  assert 200 <= step < 600 and (stopped / 'checkpoints' / str(step)).is_dir()
  assert not (stopped / 'results.json').exists()
  again = _start(stopped)
  out, err = again.communicate(timeout=300)
  assert again.returncode == 0, err
  assert _results(stopped)['resumed_from_step'] == step
  assert _results(stopped)['state_fingerprint'] == reference['state_fingerprint']


def test_sigkill_after_first_checkpoint_then_resume_is_bit_identical(tmp_path, reference):
  killed = tmp_path / 'killed'
  victim = _start_and_wait_for_first_checkpoint(killed)
  victim.send_signal(signal.SIGKILL)
  victim.wait()
  assert not (killed / 'results.json').exists()

  again = _start(killed)
  out, err = again.communicate(timeout=300)
  assert again.returncode == 0, err
  assert out.startswith('resuming train in')
  resumed = _results(killed)
  assert resumed['resumed_from_step'] >= 200 and resumed['steps_run'] < 600
  assert resumed['state_fingerprint'] == reference['state_fingerprint']
  steps = [(r['step'], r['split']) for r in map(json.loads,
                                                (killed / 'metrics.jsonl').read_text().splitlines())]
  assert len(steps) == len(set(steps)), 'metrics.jsonl repeats steps after the resume'


def test_steps_per_call_changes_nothing_but_the_dispatches(tmp_path):
  """Steps scanned 12 at a time (crossing epochs: 11 steps per epoch at batch 128; the last
  7 of 31 steps one by one) train exactly like single steps: same batches, masks, metrics and
  final state. (For convolutions XLA may compile the loop body a little differently, which
  changes float rounding only.) It holds for the code XLA generates by default, so the runs
  compile as a user's do, not with the tests' faster settings."""
  runs = {}
  for k in (1, 12):
    run = ('steps=31', 'log_every=12', 'eval_every=12', 'checkpoint_every=12', 'num_devices=2',
           f'steps_per_call={k}', 'mlp.dropout=0.3', 'mlp.norm=batch', 'backend=pmap')
    done = run_cli('run', 'train', '--workdir', str(tmp_path / str(k)), *run,
                   env_extra={'XLA_FLAGS': subprocess_xla_flags(2, as_users=True)})
    assert done.returncode == 0, done.stderr[-2000:]
    runs[k] = json.loads((tmp_path / str(k) / 'results.json').read_text())
  assert runs[1]['state_fingerprint'] == runs[12]['state_fingerprint']
  records = (tmp_path / '12' / 'metrics.jsonl').read_text()
  assert records == (tmp_path / '1' / 'metrics.jsonl').read_text()
  assert records.count('"train"') == 31
