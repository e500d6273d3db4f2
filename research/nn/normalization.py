"""Normalisation layers by name. BatchNorm averages its statistics over the batch axis of all
devices (`axis_name`), so a sharded batch normalises exactly like the global batch would."""
import flax.linen as nn

from research.errors import UserError

NORMS = ('none', 'batch', 'layer')


def make_norm(name: str, train: bool, axis_name: str | None):
  if name == 'none':
    return lambda x: x
  if name == 'batch':
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, axis_name=axis_name)
  if name == 'layer':
    return nn.LayerNorm()
  raise UserError(f'norm {name!r} is unknown; choose one of {", ".join(NORMS)}')
