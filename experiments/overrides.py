"""`key=value` overrides of an ml_collections config, checked against the field's type.

Values are Python literals (`steps=300`, `cnn.channels=(16, 32)`, `optim.freeze=['hidden_0/.*']`)
or bare words for string fields (`model=cnn`) and comma-separated words for tuple fields
(`sections=jacobian,swell`). An unknown key or a value of the wrong type is
a `UserError` naming the key and what it accepts.
"""
import ast

import ml_collections

from research.errors import UserError


def parse_value(text: str):
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text  # a bare word: only a string field will accept it


def _describe(value) -> str:
  if isinstance(value, bool):
    return 'true/false (True or False)'
  if isinstance(value, (tuple, list)):
    return 'a list or tuple, e.g. (1, 2)'
  names = {int: 'an integer', float: 'a number', str: 'a string'}
  return names.get(type(value), type(value).__name__)


def coerce(key: str, current, value):
  """`value` converted to the type of `current`, or a UserError."""
  ok = False
  if isinstance(current, bool):
    value = {'true': True, 'false': False}.get(value, value) if isinstance(value, str) else value
    ok = isinstance(value, bool)
  elif isinstance(current, int):
    ok = isinstance(value, int) and not isinstance(value, bool)
  elif isinstance(current, float):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    value = float(value) if ok else value
  elif isinstance(current, str):
    ok = isinstance(value, str)
  elif isinstance(current, (tuple, list)):
    if isinstance(value, str):  # bare words: sections=jacobian,swell or skips=(none,residual)
      words = value.strip().strip('()[]').split(',')
      value = tuple(w.strip().strip('\'"') for w in words if w.strip().strip('\'"'))
    ok = isinstance(value, (tuple, list))
    value = tuple(value) if ok else value
  if not ok:
    raise UserError(f'{key}={value!r} has the wrong type: {key} takes {_describe(current)}')
  return value


def apply_override(config: ml_collections.ConfigDict, assignment: str) -> None:
  key, sep, text = assignment.partition('=')
  if not sep or not key:
    raise UserError(f'cannot read {assignment!r}: overrides are key=value (e.g. steps=300)')
  node, parts = config, key.split('.')
  for depth, part in enumerate(parts):
    here = '.'.join(parts[:depth + 1])
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      where = '.'.join(parts[:depth])
      options = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
      raise UserError(f'unknown key {here!r}; {where or "the config"} has keys: '
                      f'{", ".join(options)}')
    if depth < len(parts) - 1:
      node = node[part]
  current = node[parts[-1]]
  if isinstance(current, ml_collections.ConfigDict):
    raise UserError(f'{key} is a group, not a value; set one of its keys, e.g. '
                    f'{key}.{sorted(current.keys())[0]}=...')
  with config.unlocked():
    node[parts[-1]] = coerce(key, current, parse_value(text))

