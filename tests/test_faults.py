"""Faults a real user meets: the same command started twice on one workdir, and a damaged
newest checkpoint. Real processes and real files."""
import json
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO, run_cli

RUN = ['run', 'train', 'steps=6', 'batch_size=16', 'eval_batch_size=16', 'checkpoint_every=2',
       'log_every=2', 'eval_every=6', 'num_devices=1']


def _fingerprint(workdir):
  return json.loads((workdir / 'results.json').read_text())['state_fingerprint']


def _hold_lock(workdir):
  """Another process holding the workdir's lock, as a running run does."""
  holder = subprocess.Popen(
      [sys.executable, '-c', 'import pathlib, sys, time; from experiments import rundir; '
       'h = rundir.lock(pathlib.Path(sys.argv[1])); print("locked", flush=True); time.sleep(60)',
       str(workdir)], cwd=REPO, stdout=subprocess.PIPE, text=True)
  assert holder.stdout.readline().strip() == 'locked'
  return holder


def test_a_second_run_on_a_busy_workdir_is_refused_and_a_dead_holders_lock_taken_over(tmp_path):
  workdir = tmp_path / 'busy'
  workdir.mkdir()
  holder = _hold_lock(workdir)
  try:
    refused = run_cli(*RUN, '--workdir', str(workdir))
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f'error: --workdir {workdir} is in use by pid {holder.pid} on host '
        f'{socket.gethostname()}; wait for that run to end, or use another '
        '--workdir']
    assert not (workdir / 'checkpoints').exists()
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
  taken_over = run_cli(*RUN, '--workdir', str(workdir))  # the killed holder's lock is free
  assert taken_over.returncode == 0, taken_over.stderr


def _damage(checkpoint_dir):
  path = checkpoint_dir / 'config' / 'metadata'
  content = bytearray(path.read_bytes())
  content[:100] = np.random.default_rng(0).integers(0, 256, 100, dtype=np.uint8).tobytes()
  path.write_bytes(bytes(content))


@pytest.fixture(scope='module')
def straight(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('straight')
  result = run_cli(*RUN, '--workdir', str(workdir))
  assert result.returncode == 0, result.stderr
  return workdir


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path, straight):
  workdir = tmp_path / 'damaged'
  subprocess.run(['cp', '-r', str(straight), str(workdir)], check=True)
  (workdir / 'results.json').unlink()
  _damage(workdir / 'checkpoints' / '6')
  rerun = run_cli(*RUN, '--workdir', str(workdir))
  assert rerun.returncode == 0, rerun.stderr
  assert 'WARNING: the checkpoint at step 6 is damaged' in rerun.stderr
  assert 'resuming' in rerun.stdout
  assert (workdir / 'damaged_checkpoints' / '6').is_dir()  # kept for a person to look at
  assert _fingerprint(workdir) == _fingerprint(straight)  # resumed at 4, bit-identical


def test_no_intact_checkpoint_is_one_line_and_exit_2(tmp_path, straight):
  workdir = tmp_path / 'all_damaged'
  subprocess.run(['cp', '-r', str(straight), str(workdir)], check=True)
  for step in ('2', '4', '6'):
    if (workdir / 'checkpoints' / step).is_dir():
      _damage(workdir / 'checkpoints' / step)
  rerun = run_cli(*RUN, '--workdir', str(workdir))
  assert rerun.returncode == 2
  error = [line for line in rerun.stderr.splitlines() if not line.startswith('WARNING')]
  assert len(error) == 1 and error[0].startswith('error: no intact checkpoint in '), rerun.stderr
