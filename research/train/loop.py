"""A single training run: its model, optimizer, parallel backend and inputs built from a
TrainConfig, as the program that research/train/driver.py trains and evaluates.
"""
import dataclasses
import functools
import math
import pathlib
import sys
import time
from typing import Callable

import jax
import numpy as np

from research import diagnostics, metrics, optim, precision, rng, tasks
from research.data import pipeline, splits
from research.data.dataset import Dataset, with_normalization
from research.errors import UserError
from research.models import build_model
from research.train import checkpoint, driver, inputs, parallel, transfer
from research.train import config as config_lib
from research.train import state as state_lib, step as step_lib

AXIS = 'batch'


def _divisible(name: str, value: int, devices: int) -> None:
  if value % devices:
    raise UserError(f'{name}={value} is not divisible by the number of devices ({devices}); '
                    f'use a multiple of {devices} or set num_devices')


def collective_axis(num_devices: int) -> str | None:
  """The axis the steps average over, None on one device: there a mean over the axis is the
  identity, but XLA's CPU backend still runs each as an all-reduce that copies its operand."""
  return AXIS if num_devices > 1 else None


def prepare_data(config, dataset: Dataset) -> Dataset:
  """The loaded dataset as `config` trains on it: normalisation statistics, then the subsets
  and validation split of `config.split`."""
  dataset = with_normalization(dataset, config.normalize)
  available = len(dataset.train_labels)
  if config.split.train_examples > available:
    raise UserError(f'split.train_examples={config.split.train_examples} but {dataset.name} '
                    f'has {available} training examples')
  return splits.apply(dataset, config.split)


def eval_batch_size(config, num_devices: int) -> int:
  """eval_batch_size rounded up to a multiple of the device count: evaluation masks the
  padding, so any eval_batch_size runs on any number of devices (1000 on 16 GPUs: 1008)."""
  return -(-config.eval_batch_size // num_devices) * num_devices


def task_of(config, dataset: Dataset):
  """The task `config` trains on `dataset` (regression standardises by its training targets)."""
  return tasks.make_task(config.task, dataset.train_labels, config.corruption,
                         config.adversarial)


def make_model(config, dataset: Dataset, axis_name: str | None = None):
  return build_model(config.model, config.model_options(),
                     task_of(config, dataset).output_units(dataset.num_classes),
                     axis_name=axis_name)


def build(config, dataset: Dataset, num_devices: int):
  """The model, optimizer, step config and initial state that `config` describes."""
  model = make_model(config, dataset, collective_axis(num_devices))
  step_cfg = step_lib.StepConfig(
      seed=config.seed, global_batch=config.batch_size, num_devices=num_devices,
      loss=tasks.loss_for(config.task, config.loss), augment=config.augment,
      axis_name=collective_axis(num_devices),
      total_steps=config.steps, task=task_of(config, dataset), grad_accum=config.grad_accum,
      precision=config.precision)
  variables = state_lib.init_variables(model, config.seed, dataset.image_shape)
  if config.init_from:
    variables = transfer.transplant(variables, config.init_from, config.init_exclude)
  make = getattr(step_cfg.task, 'make_optimizer', optim.make_optimizer)  # two players: two
  tx = make(config.optim, config.steps, variables['params'])
  return model, tx, step_cfg, state_lib.state_from_variables(variables, tx)


CONVOLUTIONAL = ('cnn', 'resnet')  # models with convolutions (slow inside a scan on a CPU)


def build_backend(config, dataset: Dataset, devices: tuple, host_batches: bool = False):
  """The parallel backend running `config`'s train and eval steps, and the initial state.

  host_batches=False: the steps take the device-resident data (inputs.ResidentInputs);
  host_batches=True: they take batches gathered per device on the host
  (inputs.HostBatchInputs), as several processes need.
  """
  model, tx, step_cfg, host_state = build(config, dataset, len(devices))
  eval_cfg = step_lib.StepConfig(seed=config.seed,
                                 global_batch=eval_batch_size(config, len(devices)),
                                 num_devices=len(devices), loss=step_cfg.loss,
                                 axis_name=collective_axis(len(devices)), task=step_cfg.task,
                                 precision=config.precision)
  steps_per_call_fn = None
  if host_batches:
    train_batch = inputs.host_train_batch(dataset.mean, dataset.std)
    eval_batch = inputs.host_eval_batch(dataset.mean, dataset.std)
  else:
    train_batch = inputs.resident_train_batch(step_cfg.global_batch, step_cfg.local_batch,
                                              step_cfg.axis_name)
    eval_batch = inputs.resident_eval_batch(eval_cfg.local_batch, eval_cfg.axis_name)
  train_step = step_lib.make_train_step(model, tx, step_cfg, train_batch)
  eval_step = step_lib.make_eval_step(model, eval_cfg, eval_batch)
  if not host_batches and steps_per_call(config) > 1:
    if devices[0].platform == 'cpu' and config.model in CONVOLUTIONAL:
      print(f'WARNING: steps_per_call={steps_per_call(config)} puts model={config.model}\'s '
            'convolutions inside one lax.scan, which XLA:CPU runs much slower than one step '
            'per call: use steps_per_call=1 on a CPU', file=sys.stderr)
    per_epoch = pipeline.steps_per_epoch(len(dataset.train_labels), config.batch_size)
    steps_per_call_fn = step_lib.make_steps_per_call(train_step, steps_per_call(config),
                                                     per_epoch)
  backend = parallel.make_backend(config.backend, devices, train_step, eval_step, AXIS,
                                  batch_sharded=host_batches,
                                  train_steps=steps_per_call_fn)
  return backend, host_state


# steps_per_call=0 (the default) on a GPU or TPU: their steps take so little time that a
# dispatch per step would leave the device idle. On a CPU one step per call: XLA:CPU runs
# convolutions inside a scan slower (docs/performance.md).
ACCELERATOR_STEPS_PER_CALL = 100


def steps_per_call(config) -> int:
  """How many steps one dispatch runs: `config.steps_per_call` (0: 1 on a CPU,
  ACCELERATOR_STEPS_PER_CALL elsewhere), cut to divide every interval at which the loop must
  stop to log, evaluate, probe or checkpoint, so those fall between calls. A run's calls then
  start at the same steps whether it resumed or not."""
  requested = config.steps_per_call or (
      1 if jax.default_backend() == 'cpu' else ACCELERATOR_STEPS_PER_CALL)
  intervals = (config.log_every, config.eval_every, config.checkpoint_every,
               config.diagnostics_every or requested)
  return math.gcd(requested, *intervals)


def make_inputs(config, dataset: Dataset, backend: parallel.Backend, host_batches: bool):
  if host_batches:
    return inputs.HostBatchInputs(backend.devices, AXIS, dataset, config.seed,
                                  config.batch_size,
                                  eval_batch_size(config, len(backend.devices)),
                                  slices=config.grad_accum)
  return inputs.ResidentInputs(backend.put, dataset, config.seed, config.batch_size)


def make_diagnostics_probe(config, dataset: Dataset):
  """(host_state, step) -> {statistic/layer: float} on the first `diagnostics_batch` training
  examples, a fixed probe so that the statistics are comparable from step to step."""
  model = make_model(config, dataset)
  # The LSTM has no activation option: its sown hidden states are o * tanh(c).
  activation = config.model_options().get('activation', 'tanh')
  loss_cfg = tasks.loss_for(config.task, config.loss)
  fn = jax.jit(diagnostics.make_diagnostics(model, activation, loss_cfg, task_of(config, dataset)))
  count = min(config.diagnostics_batch, len(dataset.train_labels))
  images = pipeline.normalize(dataset.train_images[:count], dataset.mean, dataset.std)
  labels = dataset.train_labels[:count]

  def probe(host_state, step: int) -> dict:
    values = fn(host_state.params, host_state.batch_stats, images, labels,
                rng.stream_key(config.seed, 'diagnostics', step))
    return {k: float(v) for k, v in jax.device_get(values).items()}

  return probe


def evaluate(backend: parallel.Backend, state, source, num_examples: int, global_batch: int,
             task, split: str = 'test') -> dict:
  """The task's metrics over a split's `num_examples`, one eval call per `global_batch`."""
  total = None
  for start in range(0, num_examples, global_batch):
    stats = jax.device_get(backend.get(backend.eval_step(state, *source.eval(start, split))))
    total = stats if total is None else metrics.merge(total, stats)
  return task.summarize(total)


def _records(last_step: int, call_metrics, steps: int) -> driver.Records:
  """A call's fetched metrics as per-step records: a call of several steps stacks them on the
  last axis (after pmap's device axis); a single step's are not stacked."""
  stacked = steps > 1
  return [(last_step - steps + 1 + j,
           {k: float(np.asarray(v)[..., j].ravel()[0] if stacked else np.ravel(v)[0])
            for k, v in call_metrics.items()})
          for j in range(steps)]


@dataclasses.dataclass
class SingleRun:
  """One training run as the driver's program (research/train/driver.Program)."""
  config: config_lib.TrainConfig
  backend: parallel.Backend
  source: inputs.ResidentInputs | inputs.HostBatchInputs
  host_state: state_lib.TrainState   # at step 0
  probe_fn: Callable | None
  schedule: driver.Schedule
  eval_sizes: dict[str, int]   # examples of each split evaluated: validation, test
  task: tasks.Task

  def initial_state(self):
    return self.backend.put(self.host_state)

  def restore_target(self):
    # The placed state's shardings: with several processes a checkpoint must be restored into
    # global arrays, since no process may put local arrays onto another's devices.
    return checkpoint.abstract(self.backend.get(self.initial_state()))

  def from_checkpoint(self, restored):
    return self.backend.put(restored)

  def to_checkpoint(self, state):
    return self.backend.get(state)

  @functools.cached_property
  def per_call(self) -> int:
    return steps_per_call(self.config) if self.backend.train_steps else 1

  def call(self, state, step: int):
    """Whole calls of `per_call` steps at its multiples; the tail (steps not a multiple) one
    step per call."""
    k = self.per_call
    if k > 1 and step % k == 0 and step + k <= self.config.steps:
      state, call_metrics = self.backend.train_steps(state, *self.source.steps(step, k))
      return state, call_metrics, k
    state, call_metrics = self.backend.train_step(state, *self.source.train(step))
    return state, call_metrics, 1

  records = staticmethod(_records)

  def evaluate(self, state) -> dict[str, dict]:
    batch = eval_batch_size(self.config, len(self.backend.devices))
    return {split: evaluate(self.backend, state, self.source, size, batch, self.task, split)
            for split, size in self.eval_sizes.items()}

  def probe(self, state, step: int) -> dict:
    return self.probe_fn(self.backend.get(state), step)


def open_run(config, dataset: Dataset) -> SingleRun:
  """The single run that `config` describes on `dataset` (normalised already), built."""
  devices = parallel.select_devices(config.num_devices)
  _divisible('batch_size', config.batch_size, len(devices))
  if (config.batch_size // len(devices)) % config.grad_accum:
    raise UserError(f'grad_accum={config.grad_accum} does not divide the batch on each device '
                    f'({config.batch_size} over {len(devices)} devices is '
                    f'{config.batch_size // len(devices)})')
  host_batches = jax.process_count() > 1
  backend, host_state = build_backend(config, dataset, devices, host_batches)
  schedule = driver.Schedule(
      total_steps=config.steps, log_every=config.log_every, eval_every=config.eval_every,
      checkpoint_every=config.checkpoint_every, probe_every=config.diagnostics_every,
      processes_agree=host_batches, profile_steps=tuple(config.profile_steps))
  return SingleRun(
      config=config, backend=backend, source=make_inputs(config, dataset, backend, host_batches),
      host_state=host_state,
      probe_fn=make_diagnostics_probe(config, dataset) if config.diagnostics_every else None,
      schedule=schedule, task=task_of(config, dataset),
      eval_sizes={split: len(dataset.split(split)[1]) for split in dataset.eval_splits})


def predict(config, dataset: Dataset, host_state, split: str) -> np.ndarray:
  """The model's outputs on a whole split in test mode, in batches of eval_batch_size, on this
  process's first device (for what needs every example's score, such as an exact ROC)."""
  model = precision.policy(make_model(config, dataset), config.precision)
  variables = {'params': host_state.params,
               **({'batch_stats': host_state.batch_stats} if host_state.batch_stats else {})}
  variables = jax.tree.map(np.asarray, jax.device_get(variables))
  apply = jax.jit(lambda v, x: model.apply(v, pipeline.normalize(x, dataset.mean, dataset.std),
                                           train=False))
  images, _ = dataset.split(split)
  b = config.eval_batch_size
  return np.concatenate([np.asarray(apply(variables, images[i:i + b]))
                         for i in range(0, len(images), b)])


def train_and_evaluate(config, workdir: pathlib.Path, dataset: Dataset, manifest: dict,
                       timing: driver.Timing | None = None) -> dict:
  """Trains to `config.steps` (resuming from the workdir's latest checkpoint) and evaluates.

  With several processes every process runs this (research/train/driver.drive). `timing`,
  if given, is filled in.
  """
  timing = timing or driver.Timing()
  dataset = prepare_data(config, dataset)
  run = open_run(config, dataset)
  trained = driver.drive(run, workdir, config_lib.to_dict(config), manifest,
                         keep=config.keep_checkpoints, desc=config.model, timing=timing,
                         stopping=config.early_stopping)
  final_state = run.backend.get(trained.state)
  extra = {}
  if hasattr(run.task, 'curves'):  # binary: every test example's score, for exact curves
    extra['test_curves'] = run.task.curves(predict(config, dataset, final_state, 'test'),
                                           dataset.test_labels)
  return {
      'final_step': trained.final_step, **trained.evaluations, **extra,
      'state_fingerprint': state_lib.fingerprint(final_state),
      'num_params': state_lib.count_params(final_state.params),
      'devices': len(run.backend.devices), 'train_examples': len(dataset.train_labels),
      'train_time_s': time.perf_counter() - timing.began,
      'steps_run': trained.final_step - trained.start, 'resumed_from_step': trained.start,
      **({'early_stopping': trained.early_stopping} if config.early_stopping.patience else {}),
  }
