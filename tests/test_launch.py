"""The launchers' --dry-run output: what each would execute, checked without a cluster.

The SLURM batch script itself runs here with a stand-in `srun` that prints its arguments.
"""
import os
import shlex
import subprocess

import numpy as np
import pytest

from tests.conftest import REPO

# The tests' own JAX_PLATFORMS (conftest.py) left out: the launchers choose the platform.
ENV = {**{k: v for k, v in os.environ.items() if k != 'JAX_PLATFORMS'}, 'PYTHON': 'py',
       'JAX_COMPILATION_CACHE_DIR': '/cache'}
RUN = ['train', '--workdir', '/shared/runs/a b', '--quick', 'cnn.channels=(32, 64)']


def _launch(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
  return subprocess.run(list(args), cwd=REPO, env=env or ENV, capture_output=True, text=True,
                        timeout=30)


def _dry_run(*args: str) -> list[list[str]]:
  done = _launch(*args)
  assert done.returncode == 0, done.stderr
  return [shlex.split(line) for line in done.stdout.splitlines()]


def test_local_runs_the_experiment_with_the_compilation_cache():
  assert _dry_run('launch/local.sh', '--dry-run', '--gpus', '0', *RUN) == [
      ['env', 'JAX_COMPILATION_CACHE_DIR=/cache', 'JAX_PLATFORMS=cpu', 'py', '-m', 'experiments',
       'run', *RUN]]


def test_local_processes_join_on_loopback():
  lines = _dry_run('launch/local.sh', '--dry-run', '--processes', '3', '--gpus', '0', *RUN)
  assert [line[:6] for line in lines] == [
      ['env', 'JAX_COMPILATION_CACHE_DIR=/cache', 'JAX_PLATFORMS=cpu',
       'JAX_COORDINATOR_ADDRESS=127.0.0.1:12355', 'JAX_NUM_PROCESSES=3', f'JAX_PROCESS_ID={i}']
      for i in range(3)]
  assert all(line[6:] == ['py', '-m', 'experiments', 'run', *RUN] for line in lines)


def test_local_processes_on_a_gpu_host_each_get_their_own_gpus():
  lines = _dry_run('launch/local.sh', '--dry-run', '--processes', '2', '--gpus', '8', *RUN)
  assert [line[2:4] for line in lines] == [
      ['JAX_PLATFORMS=cuda', 'CUDA_VISIBLE_DEVICES=0,1,2,3'],
      ['JAX_PLATFORMS=cuda', 'CUDA_VISIBLE_DEVICES=4,5,6,7']]
  [single] = _dry_run('launch/local.sh', '--dry-run', '--gpus', '8', *RUN)
  assert single[2] == 'JAX_PLATFORMS=cuda' and 'CUDA_VISIBLE_DEVICES' not in ' '.join(single)


@pytest.mark.parametrize('per, tasks', [('gpu', 8), ('node', 1)])
def test_slurm_submits_one_process_per_gpu_or_per_node(per, tasks):
  [line] = _dry_run('launch/slurm.sh', '--dry-run', '--nodes', '4', '--gpus-per-node', '8',
                    '--per', per, '--time', '1:00:00', '--partition', 'gpu', *RUN)
  assert line == [
      'sbatch', '--job-name=research-train', '--nodes=4', f'--ntasks-per-node={tasks}',
      '--gpus-per-node=8', '--time=1:00:00', '--signal=TERM@120', '--requeue',
      '--output=runs/slurm/%x-%j.out',
      '--export=ALL,JAX_PLATFORMS=cuda,JAX_COMPILATION_CACHE_DIR=/cache,PYTHON=py',
      '--partition=gpu', 'launch/slurm_job.sbatch', *RUN]


def test_tpu_vm_runs_on_every_worker_with_jax_detecting_the_pod():
  [line] = _dry_run('launch/tpu_vm.sh', '--dry-run', '--tpu', 'pod', '--zone', 'us-central2-b',
                    '--project', 'p', *RUN)
  assert line[:8] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'ssh', 'pod',
                      '--zone=us-central2-b', '--project=p']
  assert line[8] == '--worker=all'
  remote = line[9].removeprefix('--command=')
  assert shlex.split(remote) == [  # what each worker's shell runs, quoting intact
      'cd', 'research', '&&', 'env', 'JAX_PLATFORMS=tpu', 'RESEARCH_DISTRIBUTED=auto',
      'JAX_COMPILATION_CACHE_DIR=/cache', 'py', '-m', 'experiments', 'run', *RUN]


def _fake_srun(tmp_path) -> dict:
  (tmp_path / 'srun').write_text('#!/bin/sh\necho srun "$@"\n')
  (tmp_path / 'srun').chmod(0o755)
  return {**ENV, 'PATH': f'{tmp_path}:{os.environ["PATH"]}', 'SLURM_SUBMIT_DIR': str(REPO)}


def test_the_slurm_job_starts_the_experiment_under_srun(tmp_path):
  done = _launch('launch/slurm_job.sbatch', 'train', 'model=cnn', env=_fake_srun(tmp_path))
  assert done.stdout.split() == ['srun', '--kill-on-bad-exit=1', 'py', '-m', 'experiments',
                                 'run', 'train', 'model=cnn']


def test_a_slurm_array_task_runs_its_sweep_entry(tmp_path):
  env = {**_fake_srun(tmp_path), 'SLURM_ARRAY_TASK_ID': '5'}
  done = _launch('launch/slurm_job.sbatch', '--sweep', 'launch/sweeps/f.py', env=env)
  assert done.stdout.split() == ['srun', '--kill-on-bad-exit=1', 'py', '-m', 'launch.sweep',
                                 'run', 'launch/sweeps/f.py', '--index', '5']


@pytest.mark.parametrize('args, message', [
    (['launch/slurm.sh', '--nodes', 'x', 'train'], '--nodes takes a positive integer'),
    (['launch/slurm.sh', '--per', 'core', 'train'], '--per takes node or gpu'),
    (['launch/slurm.sh', '--dry-run'], 'name the experiment'),
    (['launch/slurm.sh', '--bogus', 'train'], 'unknown launch/slurm.sh option --bogus'),
    (['launch/local.sh', '--processes'], '--processes needs a value'),
    (['launch/local.sh', '--processes', '3', '--gpus', '8', 'train'],
     '--gpus 8 cannot be shared equally by 3 processes'),
    (['launch/local.sh', '--gpus', 'all', 'train'], '--gpus takes a whole number'),
    (['launch/tpu_vm.sh', '--zone', 'z', 'train'], '--tpu NAME is required'),
    (['launch/tpu_vm.sh', '--tpu', 't', 'train'], '--zone ZONE is required'),
])
def test_bad_launcher_options_give_one_line_and_exit_2(args, message):
  done = _launch(*args)
  assert done.returncode == 2 and done.stdout == ''
  assert done.stderr.count('\n') == 1 and message in done.stderr


@pytest.mark.parametrize('launcher', ['launch/local.sh', 'launch/slurm.sh', 'launch/tpu_vm.sh'])
def test_help_prints_the_usage_and_exits_0(launcher):
  done = _launch(launcher, '--help')
  assert done.returncode == 0, done.stderr
  assert f'{launcher} [--dry-run]' in done.stdout  # its own usage line
  assert 'experiments config NAME' in done.stdout


def test_slurm_without_sbatch_says_so_in_one_line():
  env = {**ENV, 'PATH': '/usr/bin:/bin'}  # no sbatch on this machine's default PATH either
  done = _launch('launch/slurm.sh', *RUN, env=env)
  assert done.returncode == 2
  assert done.stderr.strip().splitlines() == [
      'error: sbatch not found: SLURM is not installed on this machine; --dry-run prints the '
      'command']


def test_the_accelerator_extras_pin_the_jax_of_the_cpu_install():
  """`make setup-gpu` / `setup-tpu` add JAX's plugin of exactly the pinned version: a plugin of
  another version would replace the jax that every run's numbers were measured with."""
  import tomllib
  project = tomllib.loads((REPO / 'pyproject.toml').read_text())['project']
  pinned = next(d for d in project['dependencies'] if d.startswith('jax=='))
  version = pinned.removeprefix('jax==')
  extras = project['optional-dependencies']
  assert extras['gpu'] == [f'jax[cuda12]=={version}']
  assert extras['tpu'] == [f'jax[tpu]=={version}']
  makefile = (REPO / 'Makefile').read_text()
  assert ".[test,gpu]'" in makefile and ".[test,tpu]'" in makefile


def test_process_0_decides_whether_to_resume_and_the_restored_steps_must_agree(monkeypatch):
  """Stand-ins for two processes: the decision is process 0's (broadcast), and processes
  that restored different steps stop with one line."""
  from research.errors import UserError
  from research.train import distributed
  monkeypatch.setattr(distributed.jax, 'process_count', lambda: 2)
  monkeypatch.setattr(distributed.multihost_utils, 'broadcast_one_to_all', lambda x: np.int32(1))
  assert distributed.main_decides(False) is True  # this process saw nothing; process 0 did
  monkeypatch.setattr(distributed.multihost_utils, 'process_allgather',
                      lambda x: np.array([40, 20], np.int32))
  with pytest.raises(UserError, match=r'disagree on the step \(\[40, 20\]\)'):
    distributed.check_agreement('the step', 40)
  monkeypatch.setattr(distributed.multihost_utils, 'process_allgather',
                      lambda x: np.array([40, 40], np.int32))
  distributed.check_agreement('the step', 40)
