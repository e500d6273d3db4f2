"""Checkpoints with Orbax: the train state plus the config and manifest that produced it.

Orbax writes each step into a temporary directory and renames it when complete, so a run killed
at any instant leaves only whole checkpoints behind (the torn temporary ones are removed on the
next start). Saves are asynchronous: Orbax copies the arrays off the device before `save`
returns and writes files in the background while training continues.

Orbax (half a second to import) is loaded and the manager opened at the first use that needs
them: a fresh run starts training without waiting for either.
"""
import functools
import pathlib
import sys

import jax

from research.errors import UserError


class Checkpointer:

  def __init__(self, directory: pathlib.Path, keep: int = 3, asynchronous: bool = True):
    self._directory, self._keep, self._asynchronous = directory.absolute(), keep, asynchronous

  @functools.cached_property
  def _manager(self):
    import orbax.checkpoint as ocp
    options = ocp.CheckpointManagerOptions(
        max_to_keep=self._keep, create=True, cleanup_tmp_directories=True,
        enable_async_checkpointing=self._asynchronous)
    return ocp.CheckpointManager(self._directory, options=options,
                                 item_names=('state', 'config', 'manifest'))

  @property
  def directory(self) -> pathlib.Path:
    return self._directory

  def latest_step(self) -> int | None:
    if not self._directory.exists():  # nothing saved yet; no need to open the manager
      return None
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    """Every complete checkpoint's step, newest first."""
    if not self._directory.exists():
      return []
    return sorted(self._manager.all_steps(), reverse=True)

  def quarantine(self, step: int) -> pathlib.Path:
    """Moves a damaged checkpoint out of the manager's folder (kept, not deleted, for a person
    to look at) so that the step can be written again; returns where it went."""
    destination = self._directory.parent / 'damaged_checkpoints' / str(step)
    destination.parent.mkdir(exist_ok=True)
    if destination.exists():
      destination = destination.with_name(f'{step}.{len(list(destination.parent.iterdir()))}')
    (self._directory / str(step)).rename(destination)
    self._manager.reload()
    return destination

  def save(self, step: int, state, config: dict, manifest: dict) -> None:
    import orbax.checkpoint as ocp
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(config),
        manifest=ocp.args.JsonSave(manifest)))

  def restore(self, step: int, target_state):
    """Returns (state, config, manifest); arrays take the shapes, dtypes and shardings of
    `target_state` (arrays or `jax.ShapeDtypeStruct`s, see `abstract`)."""
    import orbax.checkpoint as ocp
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(target_state), config=ocp.args.JsonRestore(),
        manifest=ocp.args.JsonRestore()))
    return restored.state, restored.config, restored.manifest

  def restore_as_saved(self, step: int) -> dict:
    """The state saved at `step` as nested dicts of arrays, with no target: another run's
    weights, whatever its optimizer."""
    import orbax.checkpoint as ocp
    return self._manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore())).state

  def restore_newest_intact(self, target_state):
    """(step, state, config, manifest) of the newest checkpoint that reads back. Each damaged
    newer one is named on stderr and quarantined, so training can write its step again; with
    none intact, a UserError."""
    for step in self.all_steps():
      try:
        return (step, *self.restore(step, target_state))
      except Exception as e:  # noqa: BLE001 - damage shows as any error of the file readers
        detail = str(e).splitlines()[0][:120] if str(e) else 'no detail'
        where = self.quarantine(step)
        print(f'WARNING: the checkpoint at step {step} is damaged ({type(e).__name__}: '
              f'{detail}); moved to {where}; falling back to the one before it',
              file=sys.stderr)
    raise UserError(f'no intact checkpoint in {self._directory}: each was damaged and moved to '
                    f'{self._directory.parent / "damaged_checkpoints"}; use a new --workdir')

  def close(self) -> None:
    """Waits for writes in flight, then releases the manager (if it was ever opened)."""
    if '_manager' in self.__dict__:
      self._manager.wait_until_finished()
      self._manager.close()


def abstract(state):
  """The shape, dtype and sharding of every array: a restore target that holds no buffers."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                      state)


# Options that change what a run records or reports, never what it computes: a run may be
# resumed (or rerun in its directory) with other values. A section experiment caches each
# section's measurement by name and none depends on the list, so `sections` only picks what
# is measured and reported this time: a section can join a workdir's finished ones later.
OBSERVATION_ONLY = ('profile_steps', 'sections')


def changed_keys(saved: dict, current: dict, prefix: str = '') -> list[str]:
  """Dotted names of the config leaves that differ between two JSON-normalised configs (the
  observation-only options aside, and the options added since the saved one: added_keys)."""
  changed = []
  for key in sorted(set(saved) | set(current)):
    if f'{prefix}{key}' in OBSERVATION_ONLY or key not in saved:
      continue
    a, b = saved.get(key), current.get(key)
    if isinstance(a, dict) and isinstance(b, dict):
      changed += changed_keys(a, b, f'{prefix}{key}.')
    elif a != b:
      changed.append(f'{prefix}{key}')
  return changed


def added_keys(saved: dict, current: dict, prefix: str = '') -> dict:
  """{dotted name: current value} of the options the saved config lacks: code newer than the
  run added them, and the run resumes with their current values (the caller says so)."""
  added = {}
  for key, value in current.items():
    if key not in saved:
      added[f'{prefix}{key}'] = value
    elif isinstance(value, dict) and isinstance(saved[key], dict):
      added.update(added_keys(saved[key], value, f'{prefix}{key}.'))
  return added
