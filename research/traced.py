"""Hyperparameters that may be traced: an ensemble (research/train/ensemble.py) gives each
member its own learning rate, weight decay or loss parameter as a traced number inside one
vmapped program. Code that switches an optional term on by a value's size must then build the
term for every member (a member at 0 gets the term at 0), since a traced value has no size
known to Python."""
import jax


def is_on(value) -> bool:
  """Whether an optional term with this coefficient is built: a traced one always is."""
  return isinstance(value, jax.core.Tracer) or value != 0
