"""Several processes, one run: jax.distributed on loopback with CPU (gloo) collectives.

Two real processes with two CPU devices each train the same run as one process with four
devices; the batches, masks and updates must be the same, so the losses agree to 1e-5, and the
checkpoint the two processes wrote together restores in a single process.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from research.train import distributed
from research.errors import UserError
from tests.conftest import REPO, run_cli, subprocess_xla_flags

# Dropout and augmentation on (their draws depend on each example's global position); 17 steps
# per epoch, so the run crosses an epoch.
RUN = ('model=mlp', 'data=digits', 'steps=20', 'batch_size=80', 'eval_batch_size=40',
       'log_every=1', 'eval_every=10', 'checkpoint_every=10', 'mlp.dropout=0.3',
       'augment.translate=1')


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _train_losses(workdir) -> np.ndarray:
  lines = (workdir / 'metrics.jsonl').read_text().splitlines()
  records = [json.loads(line) for line in lines]
  return np.array([r['loss'] for r in records if r['split'] == 'train'])


def _two_processes(workdir, run=RUN):
  """The run as launch/local.sh --processes 2 starts it: two processes on loopback."""
  env = {**os.environ, 'XLA_FLAGS': subprocess_xla_flags(2),
         'PORT': str(_free_port()), 'PYTHON': sys.executable}
  # Its own process group, so that a timeout ends the launcher's training processes too.
  launcher = subprocess.Popen(['launch/local.sh', '--processes', '2', 'train', '--workdir',
                               str(workdir), *run], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
  try:
    out, err = launcher.communicate(timeout=300)
  except subprocess.TimeoutExpired:
    os.killpg(launcher.pid, signal.SIGKILL)
    out, err = launcher.communicate()
    raise AssertionError(f'the two processes did not finish in 300 s: {err[-3000:]}') from None
  assert launcher.returncode == 0, err[-3000:]
  return out


def test_two_processes_train_like_one_process_with_four_devices(tmp_path):
  out = _two_processes(tmp_path / 'two')
  assert out.count('train: test accuracy') == 1  # process 0 alone reports
  single = run_cli('run', 'train', '--workdir', str(tmp_path / 'one'), *RUN,
                   env_extra={'XLA_FLAGS': subprocess_xla_flags(4)})
  assert single.returncode == 0, single.stderr[-3000:]
  two, one = _train_losses(tmp_path / 'two'), _train_losses(tmp_path / 'one')
  assert len(two) == len(one) == 20
  np.testing.assert_allclose(two, one, rtol=1e-5)
  manifest = json.loads((tmp_path / 'two' / 'manifest.json').read_text())
  assert manifest['process_count'] == 2 and len(manifest['devices']) == 4

  # The checkpoint of step 20, written by both processes, restores in one process with one
  # device: the finished run re-reports the same final state.
  results = json.loads((tmp_path / 'two' / 'results.json').read_text())
  again = run_cli('run', 'train', '--workdir', str(tmp_path / 'two'), *RUN,
                  env_extra={'XLA_FLAGS': subprocess_xla_flags(1)})
  assert again.returncode == 0, again.stderr[-3000:]
  restored = json.loads((tmp_path / 'two' / 'results.json').read_text())
  assert restored['resumed_from_step'] == 20 and restored['devices'] == 1
  assert restored['state_fingerprint'] == results['state_fingerprint']
  # Same state; the test-set sums differ only in their order over 1 against 4 devices.
  assert restored['test']['accuracy'] == results['test']['accuracy']
  assert restored['test']['loss'] == pytest.approx(results['test']['loss'], rel=1e-6)


def test_experiments_without_multi_process_support_refuse_several_processes(tmp_path):
  """A one-process experiment started under jax.distributed exits 2 with one line, rather
  than having every process write the same files."""
  port = _free_port()
  procs = [subprocess.Popen(
      [sys.executable, '-m', 'experiments', 'run', 'autodiff', '--quick', '--workdir',
       str(tmp_path / 'w')], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True, env={**os.environ, 'XLA_FLAGS': subprocess_xla_flags(),
                      'JAX_PROCESS_ID': str(i), 'JAX_COORDINATOR_ADDRESS': f'127.0.0.1:{port}',
                      'JAX_NUM_PROCESSES': '2'})
      for i in range(2)]
  for p in procs:
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2
    assert err.strip().splitlines()[-1].startswith('error: autodiff runs in one process')


@pytest.mark.parametrize('env, expected', [
    ({}, None),
    ({'JAX_COORDINATOR_ADDRESS': 'h:1', 'JAX_NUM_PROCESSES': '4', 'JAX_PROCESS_ID': '3'},
     {'coordinator_address': 'h:1', 'num_processes': 4, 'process_id': 3}),
    ({'JAX_COORDINATOR_ADDRESS': 'h:1', 'JAX_NUM_PROCESSES': '1', 'JAX_PROCESS_ID': '0'}, None),
    ({'RESEARCH_DISTRIBUTED': 'auto'}, {}),
    ({'SLURM_STEP_NODELIST': 'n[1-2]', 'SLURM_NTASKS': '2'},
     {'cluster_detection_method': 'slurm'}),
    ({'SLURM_STEP_NODELIST': 'n[1-2]', 'SLURM_NTASKS': '2', 'SLURM_NTASKS_PER_NODE': '1',
      'SLURM_GPUS_ON_NODE': '4'},
     {'cluster_detection_method': 'slurm', 'local_device_ids': [0, 1, 2, 3]}),
    ({'SLURM_STEP_NODELIST': 'n1', 'SLURM_NTASKS': '1'}, None),
    ({'SLURM_JOB_ID': '7', 'SLURM_NTASKS': '8'}, None),  # the batch script, outside srun
])
def test_the_environment_decides_how_processes_join(env, expected):
  assert distributed.plan(env) == expected


@pytest.mark.parametrize('env, message', [
    ({'JAX_NUM_PROCESSES': '2'}, 'set all three or none'),
    ({'JAX_COORDINATOR_ADDRESS': 'h:1', 'JAX_NUM_PROCESSES': 'two', 'JAX_PROCESS_ID': '0'},
     'not an integer'),
    ({'JAX_COORDINATOR_ADDRESS': 'h:1', 'JAX_NUM_PROCESSES': '2', 'JAX_PROCESS_ID': '2'},
     'must lie in'),
    ({'RESEARCH_DISTRIBUTED': 'yes'}, 'the only value is "auto"'),
])
def test_bad_distributed_environments_are_named(env, message):
  with pytest.raises(UserError, match=message):
    distributed.plan(env)


def test_sigterm_to_one_process_stops_both_at_the_same_checkpoint(tmp_path):
  """SLURM may signal the processes of a job at slightly different moments: they agree at the
  next log step, checkpoint together and exit 0, and the relaunched job resumes there."""
  run = ('model=mlp', 'data=digits', 'steps=160', 'batch_size=80', 'log_every=20',
         'checkpoint_every=40', 'mlp.width=256', 'mlp.depth=3')
  port, workdir = _free_port(), tmp_path / 'run'
  procs = [subprocess.Popen(
      [sys.executable, '-m', 'experiments', 'run', 'train', '--workdir', str(workdir), *run],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env={**os.environ, 'XLA_FLAGS': subprocess_xla_flags(2),
           'JAX_COORDINATOR_ADDRESS': f'127.0.0.1:{port}', 'JAX_NUM_PROCESSES': '2',
           'JAX_PROCESS_ID': str(i)}) for i in range(2)]
  deadline = time.monotonic() + 120
  while not (workdir / 'checkpoints' / '40').exists():  # the first checkpoint
    assert time.monotonic() < deadline and procs[0].poll() is None, 'training never started'
    time.sleep(0.02)
  procs[1].send_signal(signal.SIGTERM)
  outputs, errors = zip(*(p.communicate(timeout=120) for p in procs))
  assert [p.returncode for p in procs] == [0, 0], errors[0][-2000:] + errors[1][-2000:]
  # A brand-new directory is "starting", said once for the job, never "resuming".
  assert ''.join(outputs).count(f'starting train in {workdir}') == 1
  assert 'resuming' not in ''.join(outputs)
  steps = {re.search(r'stopped by SIGTERM after step (\d+)', e).group(1) for e in errors}
  assert len(steps) == 1, errors  # both stopped after the same step
  step = int(steps.pop())
  print(f'SIGTERM to process 1 at checkpoint 40; both stopped after step {step}')
  assert 40 <= step < 160 and step % 20 == 0 and not (workdir / 'results.json').exists()

  out = _two_processes(workdir, run)
  assert 'resuming train' in out
  assert json.loads((workdir / 'results.json').read_text())['resumed_from_step'] == step
