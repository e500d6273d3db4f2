"""Our side of the comparison: the engine's own train step (research/train), on one device,
with the data resident on it, driven one dispatch per step or `steps_per_call` steps per
dispatch (one lax.scan)."""
import jax
import numpy as np

from research.train import config as config_lib
from research.train import loop


def config_for(workload, batch_size: int, steps_per_call: int) -> config_lib.TrainConfig:
  options = {f'{workload.model}.{key}': value for key, value in workload.options.items()}
  # A constant learning rate: the step count only bounds how long the benchmark may run.
  return config_lib.replace(
      config_lib.TrainConfig(), model=workload.model, batch_size=batch_size, num_devices=1,
      steps=2**30, steps_per_call=steps_per_call, log_every=steps_per_call,
      eval_every=steps_per_call, checkpoint_every=steps_per_call, **options)


class Trainer:
  """The train run's own calls (research/train/loop.SingleRun.call), timed without the
  driver's logging, checkpoints and evaluations around them."""

  def __init__(self, workload, dataset, batch_size: int, steps_per_call: int):
    self.run = loop.open_run(config_for(workload, batch_size, steps_per_call), dataset)
    self.state = self.run.initial_state()
    self.k, self.step_index = self.run.per_call, 0

  def step_cost(self) -> dict:
    """XLA's counts for one train step, from the compiled program."""
    compiled = self.run.backend.train_step.lower(
        self.state, *self.run.source.train(0)).compile()
    counts = compiled.cost_analysis() or {}
    counts = counts[0] if isinstance(counts, list) else counts
    return {'flops': float(counts.get('flops', 0.0)),
            'bytes_accessed': float(counts.get('bytes accessed', 0.0))}

  def steps(self, count: int) -> float:
    """Runs `count` steps (a multiple of steps_per_call); returns the last loss (a sync)."""
    for _ in range(count // self.k):
      self.state, metrics, taken = self.run.call(self.state, self.step_index)
      self.step_index += taken
    return float(np.ravel(jax.device_get(metrics['loss']))[-1])
