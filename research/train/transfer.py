"""Weights from another run (`init_from`): its newest checkpoint's parameters and BatchNorm
statistics, copied into a new run's initial variables, except those `init_exclude` matches
(a new head for a new number of classes), which keep their fresh initialisation.

Paths are 'layer/.../name' within each collection ('hidden_0/kernel', 'output/bias'), as
`optim.freeze` reads them. Every copied array must exist in the source with the same shape; the
source may hold more (a deeper network donating its first layers).
"""
import functools
import hashlib
import pathlib
import re

import flax.traverse_util
import jax
import numpy as np

from research.errors import UserError
from research.train import checkpoint

COLLECTIONS = ('params', 'batch_stats')


@functools.lru_cache(maxsize=1)
def source_weights(run_dir: str) -> tuple[dict, int]:
  """({collection: {path: array}}, step) of the newest checkpoint in run_dir."""
  ckpt = checkpoint.Checkpointer(pathlib.Path(run_dir) / 'checkpoints')
  step = ckpt.latest_step()
  if step is None:
    raise UserError(f'init_from={run_dir} holds no checkpoint')
  try:
    saved = jax.device_get(ckpt.restore_as_saved(step))
  finally:
    ckpt.close()
  return {c: flax.traverse_util.flatten_dict(saved.get(c) or {}, sep='/')
          for c in COLLECTIONS}, step


def provenance(run_dir: str) -> dict:
  """What the manifest records of the source: its directory, step and a sha256 over the
  weights taken from it."""
  weights, step = source_weights(run_dir)
  digest = hashlib.sha256()
  for collection in COLLECTIONS:
    for path in sorted(weights[collection]):
      array = np.ascontiguousarray(weights[collection][path])
      digest.update(f'{collection}/{path}|{array.dtype}|{array.shape}|'.encode())
      digest.update(array.tobytes())
  return {'run': str(pathlib.Path(run_dir).absolute()), 'step': step,
          'weights_fingerprint': digest.hexdigest()}


def transplant(variables: dict, run_dir: str, exclude: str = '') -> dict:
  """`variables` with every array not matched by `exclude` taken from run_dir's weights."""
  source, _ = source_weights(run_dir)
  mine = {c: flax.traverse_util.flatten_dict(variables[c], sep='/') for c in COLLECTIONS
          if c in variables}
  kept = lambda path: bool(exclude) and re.fullmatch(exclude, path) is not None
  if exclude and not any(kept(path) for flat in mine.values() for path in flat):
    raise UserError(f'init_exclude={exclude!r} matches no parameter')
  out = {}
  for collection, flat in mine.items():
    for path, fresh in flat.items():
      if kept(path):
        continue
      given = source[collection].get(path)
      if given is None:
        raise UserError(f'init_from={run_dir} has no {collection} {path!r}; re-initialise it '
                        'with init_exclude')
      if given.shape != fresh.shape:
        raise UserError(f'init_from={run_dir}: {collection} {path!r} has shape {given.shape} '
                        f'there and {fresh.shape} here; re-initialise it with init_exclude')
      flat[path] = np.asarray(given, fresh.dtype)
    out[collection] = flax.traverse_util.unflatten_dict(flat, sep='/')
  return {**variables, **out}
