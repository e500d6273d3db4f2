"""Multi-process start-up: several processes (one per host, or one per GPU) joined into one JAX
runtime by `jax.distributed`, JAX's own multi-process engine.

Where the processes learn about each other, in the order tried:

1. explicit variables: JAX_COORDINATOR_ADDRESS (host:port of process 0), JAX_NUM_PROCESSES
   and JAX_PROCESS_ID (what launch/ and the loopback test set);
2. RESEARCH_DISTRIBUTED=auto: JAX detects the cluster itself (Cloud TPU metadata on a TPU-VM
   pod, Open MPI); launch/tpu_vm.sh sets it;
3. inside a SLURM step (`srun`) with more than one task: JAX reads the SLURM variables (one
   process per GPU, or one per node driving all its GPUs).

Anything else is one process, and nothing is initialised.
"""
import os

import jax
import numpy as np
from jax.experimental import multihost_utils

from research.errors import UserError

EXPLICIT = ('JAX_COORDINATOR_ADDRESS', 'JAX_NUM_PROCESSES', 'JAX_PROCESS_ID')


def _int(env, name: str) -> int:
  try:
    return int(env[name])
  except ValueError:
    raise UserError(f'{name}={env[name]!r} is not an integer') from None


def plan(env=os.environ) -> dict | None:
  """The keyword arguments for `jax.distributed.initialize`, or None for one process."""
  given = [name for name in EXPLICIT if env.get(name)]
  if given:
    if len(given) < len(EXPLICIT):
      missing = ', '.join(n for n in EXPLICIT if n not in given)
      raise UserError(f'{", ".join(given)} set but {missing} not: set all three or none')
    count, index = _int(env, 'JAX_NUM_PROCESSES'), _int(env, 'JAX_PROCESS_ID')
    if count < 1 or not 0 <= index < count:
      raise UserError(f'JAX_PROCESS_ID={index} must lie in [0, JAX_NUM_PROCESSES={count})')
    if count == 1:
      return None
    return {'coordinator_address': env['JAX_COORDINATOR_ADDRESS'], 'num_processes': count,
            'process_id': index}
  auto = env.get('RESEARCH_DISTRIBUTED', '')
  if auto not in ('', 'auto'):
    raise UserError(f'RESEARCH_DISTRIBUTED={auto!r}: the only value is "auto"')
  if auto == 'auto':
    return {}
  in_srun_step = 'SLURM_STEP_NODELIST' in env and 'SLURM_NTASKS' in env
  if in_srun_step and _int(env, 'SLURM_NTASKS') > 1:
    return _slurm(env)
  return None


def _slurm(env) -> dict:
  """JAX gives each SLURM task one GPU (its SLURM_LOCALID): right for one process per GPU. With
  one task per node (launch/slurm.sh --per node) the process must be given all the node's GPUs."""
  kwargs = {'cluster_detection_method': 'slurm'}
  if env.get('SLURM_NTASKS_PER_NODE') == '1' and env.get('SLURM_GPUS_ON_NODE'):
    kwargs['local_device_ids'] = list(range(_int(env, 'SLURM_GPUS_ON_NODE')))
  return kwargs


def initialize(env=os.environ) -> None:
  """Joins this process to the others; a no-op for a single process. Call before any JAX
  computation (jax.distributed requires it)."""
  kwargs = plan(env)
  if kwargs is None or jax.distributed.is_initialized():  # e.g. the second run of a sweep
    return
  try:
    jax.distributed.initialize(**kwargs)
  except Exception as e:  # a coordinator that never answers, a port in use, ...
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise UserError(f'jax.distributed.initialize({kwargs}) failed: {first_line}') from None


def process_count() -> int:
  return jax.process_count()


def is_main() -> bool:
  """Process 0 writes the logs, reports and results; every process writes its checkpoint
  shards (Orbax coordinates that)."""
  return jax.process_index() == 0


def any_process(flag: bool) -> bool:
  """True on every process when `flag` is True on any; all processes must call it together."""
  if jax.process_count() == 1:
    return flag
  return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))


def main_decides(flag: bool) -> bool:
  """Process 0's `flag` on every process: a decision (resume or start afresh) taken from one
  view of the filesystem, not from each process's own (a shared filesystem may show a new
  checkpoint to one node before another). All processes must call it together."""
  if jax.process_count() == 1:
    return flag
  return bool(multihost_utils.broadcast_one_to_all(np.int32(flag)))


def check_agreement(what: str, value: int) -> None:
  """Raises a UserError unless every process holds the same `value` of `what`; all processes
  must call it together."""
  if jax.process_count() == 1:
    return
  values = np.asarray(multihost_utils.process_allgather(np.int32(value))).ravel().tolist()
  if len(set(values)) > 1:
    raise UserError(f'the processes disagree on {what} ({values}): is the workdir on a '
                    'filesystem that every node sees the same way?')
