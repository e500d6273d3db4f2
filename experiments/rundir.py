"""Run directories: one per run, holding everything needed to read or reproduce it.

config.json is written first; a later invocation with the same workdir must have the same
config (it resumes), and one with a different config is refused, naming the keys that differ;
options that change only what is recorded or reported (OBSERVATION_ONLY) may differ, and
config.json then holds the latest invocation's values.
A run holds the workdir's lock while it works, so a second run of the same command is refused.
"""
import fcntl
import hashlib
import json
import os
import pathlib
import shutil
import socket
import sys
import tempfile

from research.errors import UserError
from research.train.checkpoint import OBSERVATION_ONLY, added_keys, changed_keys


def write_json(path: pathlib.Path, obj, sort_keys: bool = True) -> None:
  """Writes JSON atomically: a reader (or a kill) never sees half a file. sort_keys=False
  keeps the dicts' order, where a reader presents it (a report's rows)."""
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + '.', suffix='.tmp')
  with os.fdopen(fd, 'w') as f:
    json.dump(obj, f, indent=2, sort_keys=sort_keys, allow_nan=True)
    f.write('\n')
  os.replace(tmp, path)


NAME_LIMIT = 100  # characters of a directory name made from overrides, before hashing the rest


def name_for(overrides) -> str:
  """A directory name that tells runs apart by their overrides ('default' for none), as
  sweeps name their points: 'model=cnn,steps=300'; '/' becomes '_', and a long name is cut
  and ends in a hash of the whole."""
  name = ','.join(overrides).replace('/', '_') or 'default'
  if len(name) <= NAME_LIMIT:
    return name
  return f'{name[:NAME_LIMIT - 13]}..{hashlib.sha256(name.encode()).hexdigest()[:11]}'


def default_workdir(experiment: str, quick: bool, overrides) -> pathlib.Path:
  """runs/NAME[-quick]/OVERRIDES (runs/NAME/default without any): one directory per set of
  overrides, in the order given, so that runs with other settings never meet in one workdir.
  Observation-only overrides are left out of the name: runs that differ only in them are one
  run (prepare), so a later `sections=` finds the sections measured before."""
  kept = [o for o in overrides if o.partition('=')[0] not in OBSERVATION_ONLY]
  return pathlib.Path('runs') / (experiment + ('-quick' if quick else '')) / name_for(kept)


def prepare(workdir: pathlib.Path, config: dict) -> bool:
  """Creates or checks the workdir; returns True when it already held this run."""
  if workdir.exists() and not workdir.is_dir():
    raise UserError(f'--workdir {workdir} exists and is not a directory')
  config = json.loads(json.dumps(config))  # as stored: tuples become lists
  config_path = workdir / 'config.json'
  if config_path.exists():
    try:
      saved = json.loads(config_path.read_text())
    except json.JSONDecodeError:
      raise UserError(f'{config_path} is not valid JSON; the workdir is damaged') from None
    changed = changed_keys(saved, config)
    if changed:
      raise UserError(f'--workdir {workdir} holds a run with a different config (differs in: '
                      f'{", ".join(changed)}); use another --workdir, or add --restart to '
                      'discard that run and start this one there')
    added = added_keys(saved, config)
    if added:
      values = ', '.join(f'{key}={value!r}' for key, value in added.items())
      print(f'WARNING: the run in --workdir {workdir} predates options it resumes with as '
            f'{values}', file=sys.stderr)
    observed = {key: config[key] for key in OBSERVATION_ONLY if key in saved and key in config}
    if any(saved[key] != value for key, value in observed.items()):
      write_json(config_path, {**saved, **observed})  # the config of what this run reports
    return True
  try:
    workdir.mkdir(parents=True, exist_ok=True)
  except OSError as e:
    raise UserError(f'cannot create --workdir {workdir}: {e.strerror}') from None
  write_json(config_path, config)
  return False


def newest_checkpoint(workdir: pathlib.Path) -> int | None:
  """The step of the newest complete checkpoint, read from the directory names (Orbax writes
  a step to a temporary name and renames it when complete), without starting JAX."""
  directory = workdir / 'checkpoints'
  steps = [int(p.name) for p in directory.iterdir() if p.name.isdigit()] if directory.is_dir() \
      else []
  return max(steps, default=None)


def start_message(name: str, workdir: pathlib.Path, total_steps: int | None = None) -> str:
  """What this invocation will do in `workdir`, from what earlier ones left there."""
  step = newest_checkpoint(workdir)
  at = '' if step is None else f' at step {step}'
  if (workdir / 'results.json').exists():
    return f'{name} in {workdir} finished before{at}: reporting again'
  if step is not None:  # the driver warns, and goes back, if that checkpoint is damaged
    return (f'resuming {name} in {workdir} from its newest checkpoint, step {step}' +
            (f' of {total_steps}' if total_steps else ''))
  sections = sorted(p.stem for p in (workdir / 'sections').glob('*.json'))
  if sections:
    return (f'resuming {name} in {workdir}: {len(sections)} section(s) measured before '
            f'({", ".join(sections)})')
  return f'starting {name} in {workdir}'


LOCK_NAME = '.lock'
FAILED = 'failed.json'  # what stopped the last invocation (the NaN guard); removed on a rerun


def discard(workdir: pathlib.Path) -> None:
  """Deletes the run in `workdir` (--restart). Only a run directory (one with config.json),
  and only when no live process holds its lock: never a directory that merely exists."""
  if not workdir.exists():
    return
  if not (workdir / 'config.json').is_file():
    raise UserError(f'--restart discards a run directory; {workdir} holds no config.json, so '
                    'it is left alone: choose another --workdir')
  lock(workdir).close()  # refused, naming the holder, while a run is using it
  shutil.rmtree(workdir)


def lock(workdir: pathlib.Path):
  """Takes the workdir's lock for the life of this process and returns its open file (keep it:
  closing it releases the lock). An advisory flock, which the kernel drops when its holder
  dies, so a killed run's lock is taken over by the next run; the file names the holder.
  Raises UserError, naming the holder, when another live process has it."""
  handle = open(workdir / LOCK_NAME, 'a+')
  try:
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    handle.seek(0)
    holder = handle.read().strip() or 'another process'
    handle.close()
    raise UserError(f'--workdir {workdir} is in use by {holder}; wait for that run to end, or '
                    'use another --workdir') from None
  handle.seek(0)
  handle.truncate()
  handle.write(f'pid {os.getpid()} on host {socket.gethostname()}')
  handle.flush()
  return handle


UNSTARTED = {'config.json', 'manifest.json', LOCK_NAME, 'metrics.jsonl'}


def remove_unstarted(workdir: pathlib.Path) -> None:
  """Removes a workdir this invocation created if it holds nothing a run wrote while training
  (only its config, manifest, lock and an empty metrics log)."""
  if not workdir.is_dir():
    return
  entries = {p.name: p for p in workdir.iterdir()}
  metrics = entries.get('metrics.jsonl')
  if set(entries) <= UNSTARTED and not (metrics and metrics.stat().st_size):
    try:  # the processes of a multi-process run may race to do it
      for path in entries.values():
        path.unlink(missing_ok=True)
      workdir.rmdir()
    except OSError:
      pass
