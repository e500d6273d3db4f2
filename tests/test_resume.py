"""Exact resume: a run killed with SIGKILL after its first checkpoint and started again with the
same command ends with the same state fingerprint as a run that was never interrupted.

Also the headline figure of the quick preset: >= 95% test accuracy on digits.
"""
import json
import signal
import subprocess
import sys
import time

from tests.conftest import REPO

QUICK = ['run', 'train', 'model=mlp', 'data=digits', '--quick']


def _start(workdir):
  return subprocess.Popen([sys.executable, '-m', 'experiments', *QUICK, '--workdir', str(workdir)],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={'PATH': '/usr/bin:/bin', 'XLA_FLAGS': ''})


def _results(workdir):
  return json.loads((workdir / 'results.json').read_text())


def test_sigkill_after_first_checkpoint_then_resume_is_bit_identical(tmp_path):
  straight, killed = tmp_path / 'straight', tmp_path / 'killed'
  uninterrupted = _start(straight)
  out, err = uninterrupted.communicate(timeout=300)
  assert uninterrupted.returncode == 0, err
  reference = _results(straight)
  assert reference['test']['accuracy'] >= 0.95, reference['test']['accuracy']

  victim = _start(killed)
  deadline = time.monotonic() + 300
  while not (killed / 'checkpoints' / '200').is_dir():  # Orbax renames it there when complete
    assert victim.poll() is None, 'the run ended before its first checkpoint'
    assert time.monotonic() < deadline
    time.sleep(0.01)
  assert victim.poll() is None, 'the run finished before it could be killed; make it longer'
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
