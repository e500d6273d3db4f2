"""Our side of the comparison: the engine's own train step (research/train), on one device,
with the data resident on it, driven one dispatch per step or `steps_per_call` steps per
dispatch (one lax.scan)."""
import jax
import numpy as np

from research.train import config as config_lib
from research.train import inputs, loop, parallel


def config_for(workload, batch_size: int, steps_per_call: int) -> config_lib.TrainConfig:
  options = {f'{workload.model}.{key}': value for key, value in workload.options.items()}
  return config_lib.replace(
      config_lib.TrainConfig(), model=workload.model, batch_size=batch_size, num_devices=1,
      steps_per_call=steps_per_call, log_every=steps_per_call, eval_every=steps_per_call,
      checkpoint_every=steps_per_call, **options)


class Trainer:

  def __init__(self, workload, dataset, batch_size: int, steps_per_call: int):
    config = config_for(workload, batch_size, steps_per_call)
    self.backend, host_state = loop.build_backend(config, dataset, parallel.select_devices(1))
    self.state = self.backend.put(host_state)
    self.source = inputs.ResidentInputs(self.backend.put, dataset, config.seed, batch_size)
    self.k, self.step_index = loop.steps_per_call(config), 0

  def step_cost(self) -> dict:
    """XLA's counts for one train step, from the compiled program."""
    compiled = self.backend.train_step.lower(self.state, *self.source.train(0)).compile()
    counts = compiled.cost_analysis() or {}
    counts = counts[0] if isinstance(counts, list) else counts
    return {'flops': float(counts.get('flops', 0.0)),
            'bytes_accessed': float(counts.get('bytes accessed', 0.0))}

  def steps(self, count: int) -> float:
    """Runs `count` steps (a multiple of steps_per_call); returns the last loss (a sync)."""
    for _ in range(count // self.k):
      if self.k == 1:
        self.state, metrics = self.backend.train_step(self.state,
                                                      *self.source.train(self.step_index))
      else:
        self.state, metrics = self.backend.train_steps(
            self.state, *self.source.steps(self.step_index, self.k))
      self.step_index += self.k
    return float(np.ravel(jax.device_get(metrics['loss']))[-1])
