"""The two ways a run ends early that are not bugs.

The command line turns a `UserError` into one line on stderr and exit status 2, and a
`NonFiniteError` into one line and exit status 3; anything else is a bug and keeps its traceback.
"""


class UserError(ValueError):
  """Something the user asked for cannot be done: a bad key, value, file or workdir. An
  ordinary ValueError to library callers; the command line alone turns it into exit 2."""


class DataError(UserError):
  """A data file is missing, truncated, corrupt or fails its checksum."""


class NonFiniteError(Exception):
  """The loss or the gradients became NaN or Inf; the run stops with the step named."""

  def __init__(self, step: int, what: str, last_checkpoint: int | None = None):
    kept = ('no checkpoint had been saved yet' if last_checkpoint is None else
            f'its newest checkpoint, from step {last_checkpoint}, is kept')
    super().__init__(f'non-finite {what} at step {step}; the run stopped and {kept}')
    self.step = step
