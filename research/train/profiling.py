"""`profile_steps=(a, b)`: a `jax.profiler` trace of the training calls from step a to step b,
written to WORKDIR/profile/ (TensorBoard's profile plugin or Perfetto read it: the
*.trace.json.gz opens at ui.perfetto.dev).

Steps run in calls (`steps_per_call`), so the trace starts before the first call that begins at
or after step a and stops, once the device has finished, after the call that reaches step b.
Every process writes its own trace (one file per host).
"""
import pathlib

import jax


class StepTrace:
  """Starts and stops one trace around the calls of a step window; a no-op without one."""

  def __init__(self, steps: tuple[int, ...], directory: pathlib.Path):
    self.window = tuple(steps)
    self.directory = directory
    self.active = False

  def before_call(self, step: int) -> None:
    if self.window and not self.active and self.window[0] <= step < self.window[1]:
      self.directory.mkdir(parents=True, exist_ok=True)
      jax.profiler.start_trace(str(self.directory))
      self.active = True

  def after_call(self, step: int, outputs) -> None:
    if self.active and step >= self.window[1]:
      jax.block_until_ready(outputs)  # the trace holds the device work, not just dispatch
      self.stop()

  def stop(self) -> None:
    if self.active:
      jax.profiler.stop_trace()
      self.active = False
