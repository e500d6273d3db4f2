"""Configs as frozen dataclasses: defaults, types and descriptions in one place.

A config is a frozen dataclass whose fields are values or nested config dataclasses. Each
field's description is its comment: the one at the end of its line, else the comment lines
just above it (`describe`). The command line edits an ml_collections view of it
(`to_config_dict`, `from_dict`); `replace` takes dotted keys for nested groups. A dataclass
made from another class's fields names that class in `described_by`, whose source holds the
comments.
"""
import dataclasses
import functools
import inspect
import io
import tokenize

import ml_collections

from research.errors import UserError


def to_dict(config) -> dict:
  """Plain nested dicts (tuples kept), the form configs are compared and stored in."""
  return dataclasses.asdict(config)


def to_config_dict(config) -> ml_collections.ConfigDict:
  """The command line's view: a locked ConfigDict with the same keys, types and values."""
  return ml_collections.ConfigDict(to_dict(config)).lock()


def _build(cls, values: dict):
  hints = {f.name: f.type for f in dataclasses.fields(cls)}
  kwargs = {}
  for f in dataclasses.fields(cls):
    if f.name not in values:
      continue
    value = values[f.name]
    if dataclasses.is_dataclass(hints[f.name]):
      value = _build(hints[f.name], value)
    elif isinstance(value, list):
      value = tuple(value)
    kwargs[f.name] = value
  unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
  if unknown:
    raise UserError(f'unknown config key {unknown[0]!r}')
  return cls(**kwargs)


def from_dict(cls, values):
  """A `cls` from a ConfigDict or a plain dict (a stored config.json); lists become tuples."""
  if isinstance(values, ml_collections.ConfigDict):
    values = values.to_dict()
  return _build(cls, values)


def replace(config, **changes):
  """`dataclasses.replace` with dotted keys for nested groups: replace(c, **{'mlp.depth': 4});
  lists become tuples, as from_config_dict makes them."""
  nested: dict = {}
  for key, value in changes.items():
    value = tuple(value) if isinstance(value, list) else value
    group, _, name = key.partition('.')
    if name:
      nested.setdefault(group, {})[name] = value
    else:
      nested[group] = value
  return dataclasses.replace(config, **{
      group: dataclasses.replace(getattr(config, group), **value) if isinstance(value, dict)
      else value for group, value in nested.items()})


@functools.cache
def _comments(cls) -> dict[str, str]:
  """{field: its comment}: the comment at the end of the field's line, else the comment lines
  just above it."""
  source = inspect.getsource(getattr(cls, 'described_by', cls))
  names = {f.name for f in dataclasses.fields(cls)}
  comments, above, line_field = {}, [], {}
  for token in tokenize.generate_tokens(io.StringIO(source).readline):
    if token.type == tokenize.COMMENT:
      text = token.string.lstrip('#').strip()
      owner = line_field.get(token.start[0])
      if owner:
        comments[owner] = text
      else:
        above.append(text)
    elif token.type == tokenize.NAME and token.start[1] == 2 and token.string in names \
        and token.start[0] not in line_field:
      line_field[token.start[0]] = token.string
      if above:
        comments[token.string] = ' '.join(above)
      above = []
    elif token.type == tokenize.NEWLINE and token.start[0] not in line_field:
      above = []
  return comments


def describe(config, prefix: str = '') -> list[tuple[str, str, object, str]]:
  """(dotted key, type name, value, description) for every leaf of `config`."""
  rows = []
  comments = _comments(type(config))
  for f in dataclasses.fields(config):
    value = getattr(config, f.name)
    if dataclasses.is_dataclass(value):
      rows += describe(value, f'{prefix}{f.name}.')
    else:
      rows.append((f'{prefix}{f.name}', type(value).__name__, value, comments.get(f.name, '')))
  return rows


def command_line(cls):
  """An experiment's `get_config` and `describe` for its config class `cls`: the defaults,
  which are its full preset, as the command line's ConfigDict, and (key, type, value,
  description) for every key of an edited one."""
  def get_config() -> ml_collections.ConfigDict:
    return to_config_dict(cls())

  def describe_config(c: ml_collections.ConfigDict) -> list[tuple[str, str, object, str]]:
    return describe(from_dict(cls, c))

  get_config.__doc__ = f'The full preset: the defaults of {cls.__module__}.{cls.__name__}.'
  return get_config, describe_config
