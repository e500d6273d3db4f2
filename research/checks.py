"""Config checks for the validators: each raises a one-line UserError naming the
key, so a mistake fails in milliseconds, before any data or device is touched."""
from research.errors import UserError


def choice(key: str, value, allowed) -> None:
  if value not in allowed:
    raise UserError(f'{key}={value!r} is not allowed; choose one of {", ".join(allowed)}')


def subset(key: str, values, allowed) -> None:
  """One or more of `allowed`, each once: a name given twice would run its part twice and
  count it twice in every mean and table."""
  if not values or any(v not in allowed for v in values):
    raise UserError(f'{key}={values!r} is not allowed; choose from {", ".join(allowed)}')
  if len(set(values)) < len(values):
    raise UserError(f'{key}={values!r} is not allowed; name each at most once')


def at_least(key: str, value, low) -> None:
  if value < low:
    raise UserError(f'{key}={value} is out of range: must be at least {low}')


def positive(key: str, value) -> None:
  if type(value) is not int or value < 1:
    raise UserError(f'{key}={value!r} is not allowed; it takes a positive integer')


def whole(key: str, value) -> None:
  if type(value) is not int or value < 0:
    raise UserError(f'{key}={value!r} is not allowed; it takes a whole number >= 0')


def positive_ints(key: str, values) -> None:
  if not values or not all(type(v) is int and v >= 1 for v in values):
    raise UserError(f'{key}={values!r} is not allowed; it takes positive integers')


def rate(key: str, value) -> None:
  if not 0.0 <= value < 1.0:
    raise UserError(f'{key}={value} is out of range: must be in [0, 1)')


def rates(key: str, values) -> None:
  if not values or any(not isinstance(v, (int, float)) or not 0 <= v < 1 for v in values):
    raise UserError(f'{key}={values!r} is out of range: each must be in [0, 1)')


def greater_than_zero(key: str, value) -> None:
  if not value > 0:
    raise UserError(f'{key}={value} is out of range: must be > 0')


def cifar_resnet_depth(key: str, depth) -> None:
  from research.models.resnet import is_cifar_depth
  if type(depth) is not int or not is_cifar_depth(depth):
    raise UserError(f'{key}={depth!r} is not 6n+2 for n >= 1 (8, 14, 20, 32, 44, 56, 110)')
