"""The training loop: build, restore or initialise, step, log, evaluate, checkpoint.

Host work is kept off the hot path: step metrics stay on the device and are fetched together
every `log_every` steps, and always before a checkpoint, so a checkpoint is written only after
every step before it has been seen to be finite. That is the NaN guard: a non-finite loss or
gradient norm stops the run naming the first bad step, and the last checkpoint on disk is good.
"""
import contextlib
import json
import math
import pathlib
import sys
import time

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
    stats = backend.get(backend.eval_step(state, *source.eval(start)))
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


def train_and_evaluate(config, workdir: pathlib.Path, dataset: Dataset, manifest: dict) -> dict:
  """Trains to `config.steps` (resuming from the workdir's latest checkpoint) and evaluates.

  With several processes every process runs this; process 0 alone logs and shows progress,
  all of them take part in every step, evaluation and checkpoint.
  """
  dataset = with_normalization(dataset, config.normalize)
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
  source = make_inputs(config, dataset, backend, host_batches)
  num_test = len(dataset.test_labels)
  main = distributed.is_main()
  log = MetricsLog(workdir, start, enabled=main)
  probe = make_diagnostics_probe(config, dataset) if config.diagnostics_every else None
  stack = contextlib.ExitStack()
  if probe and start == 0:
    log.write(0, 'diagnostics', probe(backend.get(state), 0))
  pending = []  # (last step, metrics over the steps up to it, how many steps) not yet read
  unwritten = []  # (step, values) read and checked, to be logged after the next dispatch
  per_call = steps_per_call(config) if backend.train_steps else 1
  began = time.perf_counter()
  try:
    stop_requested = stack.enter_context(preemption.sigterm_flag())
    bar = tqdm.tqdm(total=config.steps, initial=start, desc=config.model, unit='step',
                    disable=None if main else True, file=sys.stderr)
    step, first_call_done = start, None
    while step < config.steps:
      # Whole calls at multiples of `per_call`; the tail (steps not a multiple) one by one.
      if per_call > 1 and step % per_call == 0 and step + per_call <= config.steps:
        state, step_metrics = backend.train_steps(state, *source.steps(step, per_call))
        pending.append((step + per_call, step_metrics, per_call))
        step += per_call
      else:
        state, step_metrics = backend.train_step(state, *source.train(step))
        step += 1
        pending.append((step, step_metrics, 0))
      if unwritten:  # the device is busy with the call just dispatched: log meanwhile
        unwritten = _write_train(log, bar, unwritten)
      if first_call_done is None:  # one sync, for the timings below: compile ends here
        jax.block_until_ready(step_metrics)
        first_call_done, first_call_steps = time.perf_counter(), step - start
      done = step
      is_last = done == config.steps
      is_log = done % config.log_every == 0
      if host_batches:  # processes stop together: at log steps they agree on SIGTERM
        preempted = is_log and not is_last and distributed.any_process(stop_requested())
      else:
        preempted = stop_requested() and not is_last
      is_ckpt = done % config.checkpoint_every == 0 or is_last or preempted
      is_eval = done % config.eval_every == 0 and not is_last
      is_probe = bool(probe) and done % config.diagnostics_every == 0
      if is_log or is_ckpt:
        unwritten = _records(jax.device_get(pending))
        pending = []
        _check_finite(unwritten)  # now, so that no checkpoint follows a bad step
      if unwritten and (is_ckpt or is_eval or is_probe):  # keep the log in step order
        unwritten = _write_train(log, bar, unwritten)
      if is_eval:
        log.write(done, 'test', evaluate(backend, state, source, num_test,
                                         config.eval_batch_size))
      if is_probe:
        log.write(done, 'diagnostics', probe(backend.get(state), done))
      if is_ckpt:
        log.flush()
        ckpt.save(done, backend.get(state), config_dict, manifest)
      if preempted:
        raise preemption.Preempted(done)  # after `finally` below has waited for the write
    bar.close()
    loop_done = time.perf_counter()
    test = evaluate(backend, state, source, num_test, config.eval_batch_size)
    if start < config.steps:  # a finished run started again only re-reports
      log.write(config.steps, 'test', test)
  finally:
    ckpt.close()
    log.close()
    stack.close()
  train_time = time.perf_counter() - began
  final_state = backend.get(state)
  return {
      'final_step': config.steps,
      'test': test,
      'state_fingerprint': state_lib.fingerprint(final_state),
      'num_params': state_lib.count_params(final_state.params),
      'devices': len(devices),
      'train_time_s': train_time,
      'steps_run': config.steps - start,
      # After the first call (its compile): every step, log, eval and checkpoint of the loop.
      'steady_s': loop_done - first_call_done if first_call_done else 0.0,
      'steady_steps': config.steps - start - first_call_steps if first_call_done else 0,
      'first_step_unix': time.time() - (time.perf_counter() - first_call_done)
                         if first_call_done else None,
      'resumed_from_step': start,
  }
