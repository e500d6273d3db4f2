"""The training loop: build, restore or initialise, step, log, evaluate, checkpoint.

Host work is kept off the hot path: step metrics stay on the device and are fetched together
every `log_every` steps, and always before a checkpoint, so a checkpoint is written only after
every step before it has been seen to be finite. That is the NaN guard: a non-finite loss or
gradient norm stops the run naming the first bad step, and the last checkpoint on disk is good.
"""
import dataclasses
import json
import math
import pathlib
import sys
import time
from typing import Callable

import jax
import numpy as np
import tqdm

from research import diagnostics, metrics, optim, rng
from research.data import pipeline
from research.data.dataset import Dataset, with_normalization
from research.errors import NonFiniteError, UserError
from research.models import build_model
from research.train import checkpoint, distributed, inputs, parallel, preemption
from research.train import config as config_lib
from research.train import state as state_lib, step as step_lib
from research.train.metrics_log import MetricsLog

AXIS = 'batch'


def _divisible(name: str, value: int, devices: int) -> None:
  if value % devices:
    raise UserError(f'{name}={value} is not divisible by the number of devices ({devices}); '
                    f'use a multiple of {devices} or set num_devices')


def collective_axis(num_devices: int) -> str | None:
  """The axis the steps average over, None on one device: there a mean over the axis is the
  identity, but XLA's CPU backend still runs each as an all-reduce that copies its operand."""
  return AXIS if num_devices > 1 else None


def build(config, dataset: Dataset, num_devices: int):
  """The model, optimizer, step config and initial state that `config` describes."""
  model = build_model(config.model, config.model_options(), dataset.num_classes,
                      axis_name=collective_axis(num_devices))
  step_cfg = step_lib.StepConfig(
      seed=config.seed, global_batch=config.batch_size, num_devices=num_devices,
      loss=config.loss, augment=config.augment,
      axis_name=collective_axis(num_devices),
      total_steps=config.steps)
  variables = state_lib.init_variables(model, config.seed, dataset.image_shape)
  tx = optim.make_optimizer(config.optim, config.steps, variables['params'])
  return model, tx, step_cfg, state_lib.state_from_variables(variables, tx)


def build_backend(config, dataset: Dataset, devices: tuple, host_batches: bool = False):
  """The parallel backend running `config`'s train and eval steps, and the initial state.

  host_batches=False: the steps take the device-resident data (inputs.ResidentInputs);
  host_batches=True: they take batches gathered per device on the host
  (inputs.HostBatchInputs), as several processes need.
  """
  model, tx, step_cfg, host_state = build(config, dataset, len(devices))
  eval_cfg = step_lib.StepConfig(seed=config.seed, global_batch=config.eval_batch_size,
                                 num_devices=len(devices), loss=step_cfg.loss,
                                 axis_name=collective_axis(len(devices)))
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
    per_epoch = pipeline.steps_per_epoch(len(dataset.train_labels), config.batch_size)
    steps_per_call_fn = step_lib.make_steps_per_call(train_step, steps_per_call(config),
                                                     per_epoch)
  backend = parallel.make_backend(config.backend, devices, train_step, eval_step, AXIS,
                                  batch_sharded=host_batches,
                                  train_steps=steps_per_call_fn)
  return backend, host_state


def steps_per_call(config) -> int:
  """How many steps one dispatch runs: `config.steps_per_call`, cut to divide every interval
  at which the loop must stop to log, evaluate, probe or checkpoint, so those fall between
  calls. A run's calls then start at the same steps whether it resumed or not."""
  intervals = (config.log_every, config.eval_every, config.checkpoint_every,
               config.diagnostics_every or config.steps_per_call)
  return math.gcd(config.steps_per_call, *intervals)


def make_inputs(config, dataset: Dataset, backend: parallel.Backend, host_batches: bool):
  if host_batches:
    return inputs.HostBatchInputs(backend.devices, AXIS, dataset, config.seed,
                                  config.batch_size, config.eval_batch_size)
  return inputs.ResidentInputs(backend.put, dataset, config.seed, config.batch_size)


def make_diagnostics_probe(config, dataset: Dataset):
  """(host_state, step) -> {statistic/layer: float} on the first `diagnostics_batch` training
  examples, a fixed probe so that the statistics are comparable from step to step."""
  model = build_model(config.model, config.model_options(), dataset.num_classes)
  # The LSTM has no activation option: its sown hidden states are o * tanh(c).
  activation = config.model_options().get('activation', 'tanh')
  fn = jax.jit(diagnostics.make_diagnostics(model, activation, config.loss))
  count = min(config.diagnostics_batch, len(dataset.train_labels))
  images = pipeline.normalize(dataset.train_images[:count], dataset.mean, dataset.std)
  labels = dataset.train_labels[:count]

  def probe(host_state, step: int) -> dict:
    values = fn(host_state.params, host_state.batch_stats, images, labels,
                rng.stream_key(config.seed, 'diagnostics', step))
    return {k: float(v) for k, v in jax.device_get(values).items()}

  return probe


def evaluate(backend: parallel.Backend, state, source, num_examples: int, global_batch: int):
  total = None
  for start in range(0, num_examples, global_batch):
    stats = jax.device_get(backend.get(backend.eval_step(state, *source.eval(start))))
    total = stats if total is None else metrics.merge(total, stats)
  return metrics.summarize(total)


def _write_train(log: MetricsLog, bar, records: list) -> list:
  """Logs train records and advances the progress bar; returns the empty list left over."""
  for s, values in records:
    log.write(s, 'train', values)
  bar.update(len(records))
  bar.set_postfix(loss=f'{records[-1][1]["loss"]:.4f}')
  return []


def _records(pending: list) -> list[tuple[int, dict]]:
  """(step, {name: float}) for every step in `pending`, fetched from the devices. A call's
  metrics are stacked on their last axis (after pmap's device axis); a single step's are not."""
  records = []
  for last, metrics_, steps in pending:
    for j in range(max(steps, 1)):
      values = {k: float(np.asarray(v)[..., j].ravel()[0] if steps else np.ravel(v)[0])
                for k, v in metrics_.items()}
      records.append((last - max(steps, 1) + 1 + j, values))
  return records


def _check_finite(records: list[tuple[int, dict]]) -> None:
  for step, values in records:
    for name in ('loss', 'grad_norm'):
      if not math.isfinite(values[name]):
        raise NonFiniteError(step, 'loss' if name == 'loss' else 'gradients')


def _restore(ckpt: checkpoint.Checkpointer, target, config_dict: dict, manifest: dict):
  step, restored, saved_config, saved_manifest = ckpt.restore_newest_intact(target)
  changed = checkpoint.changed_keys(saved_config, config_dict)
  if changed:
    raise UserError(f'the checkpoint at step {step} was written with a different config '
                    f'(differs in: {", ".join(changed)}); use a new --workdir')
  if saved_manifest.get('git_commit') != manifest.get('git_commit') or \
     saved_manifest.get('git_dirty') or manifest.get('git_dirty'):
    print(f'WARNING: resuming step {step} written by code {saved_manifest.get("git_commit")} '
          f'(dirty={saved_manifest.get("git_dirty")}) with code {manifest.get("git_commit")} '
          f'(dirty={manifest.get("git_dirty")}): bit-exact resume is only promised for '
          'identical, committed code', file=sys.stderr)
  return step, restored


@dataclasses.dataclass
class _Run:
  """What one training run holds while it works."""
  config: config_lib.TrainConfig
  backend: parallel.Backend
  source: inputs.ResidentInputs | inputs.HostBatchInputs
  ckpt: checkpoint.Checkpointer
  log: MetricsLog
  probe: Callable | None
  config_dict: dict           # the config as stored with each checkpoint
  manifest: dict
  start: int                  # the step this invocation starts from (0, or the restored one)
  host_batches: bool
  num_test: int

  def evaluate(self, state) -> dict:
    return evaluate(self.backend, state, self.source, self.num_test,
                    self.config.eval_batch_size)


@dataclasses.dataclass
class Timing:
  """The loop's timing hook: when the first call (its compile included) ended, and when the
  last step did. What the throughput experiment reads, kept out of the run's results."""
  began: float = 0.0
  first_call_done: float | None = None
  first_call_steps: int = 0
  loop_done: float = 0.0

  def results(self, steps_after_start: int) -> dict:
    if self.first_call_done is None:
      return {'steady_s': 0.0, 'steady_steps': 0, 'first_step_unix': None}
    return {'steady_s': self.loop_done - self.first_call_done,
            'steady_steps': steps_after_start - self.first_call_steps,
            'first_step_unix': time.time() - (time.perf_counter() - self.first_call_done)}


@dataclasses.dataclass(frozen=True)
class _Events:
  """What the loop does after the call that ended at a step."""
  log: bool
  checkpoint: bool
  evaluate: bool
  probe: bool
  preempted: bool


def _events(run: _Run, done: int, stop_requested) -> _Events:
  c = run.config
  is_last, is_log = done == c.steps, done % c.log_every == 0
  if run.host_batches:  # processes stop together: at log steps they agree on SIGTERM
    preempted = is_log and not is_last and distributed.any_process(stop_requested())
  else:
    preempted = stop_requested() and not is_last
  return _Events(log=is_log, preempted=preempted,
                 checkpoint=done % c.checkpoint_every == 0 or is_last or preempted,
                 evaluate=done % c.eval_every == 0 and not is_last,
                 probe=bool(run.probe) and done % c.diagnostics_every == 0)


def _open(config, workdir: pathlib.Path, dataset: Dataset, manifest: dict):
  """(the run, its state on the devices): built, and restored where the workdir has a
  checkpoint."""
  devices = parallel.select_devices(config.num_devices)
  _divisible('batch_size', config.batch_size, len(devices))
  _divisible('eval_batch_size', config.eval_batch_size, len(devices))
  host_batches = jax.process_count() > 1
  backend, host_state = build_backend(config, dataset, devices, host_batches)
  state = backend.put(host_state)
  config_dict = json.loads(json.dumps(config_lib.to_dict(config)))  # as stored: lists
  ckpt = checkpoint.Checkpointer(workdir / 'checkpoints', keep=config.keep_checkpoints)
  start = 0
  if ckpt.latest_step() is not None:
    start, restored = _restore(ckpt, checkpoint.abstract(backend.get(state)), config_dict,
                               manifest)
    state = backend.put(restored)
  run = _Run(config=config, backend=backend,
             source=make_inputs(config, dataset, backend, host_batches), ckpt=ckpt,
             log=MetricsLog(workdir, start, enabled=distributed.is_main()),
             probe=make_diagnostics_probe(config, dataset) if config.diagnostics_every else None,
             config_dict=config_dict, manifest=manifest, start=start,
             host_batches=host_batches, num_test=len(dataset.test_labels))
  return run, state


def _dispatch(run: _Run, state, step: int, per_call: int):
  """(state, metrics, steps taken): whole calls at multiples of `per_call`, the tail (steps not
  a multiple) one by one."""
  if per_call > 1 and step % per_call == 0 and step + per_call <= run.config.steps:
    state, step_metrics = run.backend.train_steps(state, *run.source.steps(step, per_call))
    return state, step_metrics, per_call
  state, step_metrics = run.backend.train_step(state, *run.source.train(step))
  return state, step_metrics, 0


def _train(run: _Run, state, bar, stop_requested, timing: Timing):
  """Steps to config.steps with every log, NaN check, evaluation, probe and checkpoint on its
  step; raises Preempted (after the checkpoint) when SIGTERM came."""
  pending = []  # (last step, metrics over the steps up to it, how many steps) not yet read
  unwritten = []  # (step, values) read and checked, to be logged after the next dispatch
  per_call = steps_per_call(run.config) if run.backend.train_steps else 1
  step = run.start
  while step < run.config.steps:
    state, step_metrics, stacked = _dispatch(run, state, step, per_call)
    step += max(stacked, 1)
    pending.append((step, step_metrics, stacked))
    if unwritten:  # the device is busy with the call just dispatched: log meanwhile
      unwritten = _write_train(run.log, bar, unwritten)
    if timing.first_call_done is None:  # one sync, for the timings: compile ends here
      jax.block_until_ready(step_metrics)
      timing.first_call_done, timing.first_call_steps = time.perf_counter(), step - run.start
    events = _events(run, step, stop_requested)
    if events.log or events.checkpoint:
      unwritten, pending = _records(jax.device_get(pending)), []
      _check_finite(unwritten)  # now, so that no checkpoint follows a bad step
    if unwritten and (events.checkpoint or events.evaluate or events.probe):
      unwritten = _write_train(run.log, bar, unwritten)  # keep the log in step order
    if events.evaluate:
      run.log.write(step, 'test', run.evaluate(state))
    if events.probe:
      run.log.write(step, 'diagnostics', run.probe(run.backend.get(state), step))
    if events.checkpoint:
      run.log.flush()
      run.ckpt.save(step, run.backend.get(state), run.config_dict, run.manifest)
    if events.preempted:
      raise preemption.Preempted(step)  # after the caller has waited for the write
  return state


def train_and_evaluate(config, workdir: pathlib.Path, dataset: Dataset, manifest: dict,
                       timing: Timing | None = None) -> dict:
  """Trains to `config.steps` (resuming from the workdir's latest checkpoint) and evaluates.

  With several processes every process runs this; process 0 alone logs and shows progress,
  all of them take part in every step, evaluation and checkpoint. `timing`, if given, is
  filled in (research/train/loop.Timing).
  """
  timing = timing or Timing()
  timing.began = time.perf_counter()
  run, state = _open(config, workdir, with_normalization(dataset, config.normalize), manifest)
  if run.probe and run.start == 0:
    run.log.write(0, 'diagnostics', run.probe(run.backend.get(state), 0))
  # The SIGTERM handler stays ours until the checkpoint in flight is written.
  with preemption.sigterm_flag() as stop_requested:
    try:
      bar = tqdm.tqdm(total=config.steps, initial=run.start, desc=config.model, unit='step',
                      disable=None if distributed.is_main() else True, file=sys.stderr)
      state = _train(run, state, bar, stop_requested, timing)
      bar.close()
      timing.loop_done = time.perf_counter()
      test = run.evaluate(state)
      if run.start < config.steps:  # a finished run started again only re-reports
        run.log.write(config.steps, 'test', test)
    finally:
      run.ckpt.close()
      run.log.close()
  final_state = run.backend.get(state)
  return {
      'final_step': config.steps, 'test': test,
      'state_fingerprint': state_lib.fingerprint(final_state),
      'num_params': state_lib.count_params(final_state.params),
      'devices': len(run.backend.devices),
      'train_time_s': time.perf_counter() - timing.began,
      'steps_run': config.steps - run.start, 'resumed_from_step': run.start,
  }
