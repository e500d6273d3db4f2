"""The train and eval steps, written once for one device holding a slice of the global batch.

Cross-device communication is explicit and named: gradients and metrics are averaged with
`lax.pmean` over `axis_name`, BatchNorm averages its statistics the same way inside the model,
and random draws use global example positions. The parallel backends (parallel.py) only decide
how this function is mapped over devices.
"""
import dataclasses

import jax
import optax
from jax import lax

from research import losses, metrics, precision, rng, tasks
from research.data import augment as augment_lib
from research.data import pipeline
from research.nn import switch
from research.train import microbatches
from research.train.state import TrainState


@dataclasses.dataclass(frozen=True)
class StepConfig:
  seed: int
  global_batch: int
  num_devices: int
  loss: losses.LossConfig = losses.LossConfig()
  augment: augment_lib.AugmentConfig = augment_lib.AugmentConfig()
  axis_name: str | None = 'batch'
  total_steps: int = 0  # for `progress` = step / total_steps (scheduled regularisers)
  task: tasks.Task = tasks.Classification()  # targets, loss and metrics
  grad_accum: int = 1  # microbatches per device batch, run in turn (microbatches.py)
  precision: str = 'float32'  # float32, or mixed: bfloat16 arithmetic (research/precision.py)

  @property
  def local_batch(self) -> int:
    return self.global_batch // self.num_devices


def _variables(params, batch_stats):
  return {'params': params, **({'batch_stats': batch_stats} if batch_stats else {})}


def apply_update(model, tx: optax.GradientTransformation, cfg: StepConfig, state: TrainState,
                 images, labels_B, dropout_key, seed=None):
  """One optimizer update on this device's batch: (new state, global-mean metrics).

  `seed` overrides cfg.seed (it may be traced: research/train/ensemble.py vmaps over it).
  """
  seed = cfg.seed if seed is None else seed
  model = precision.policy(model, cfg.precision)
  images = augment_lib.augment_batch(images, rng.stream_key(seed, 'augment', state.step),
                                     cfg.augment, cfg.axis_name)
  if hasattr(cfg.task, 'update'):  # a task with its own update rule (two players)
    return cfg.task.update(model, tx, cfg, state, images, labels_B, seed)
  inputs, targets = cfg.task.training_io(images, labels_B,
                                         rng.stream_key(seed, 'corrupt', state.step),
                                         cfg.axis_name)
  progress = state.step / cfg.total_steps if cfg.total_steps else 1.0
  mean = (lambda x: lax.pmean(x, cfg.axis_name)) if cfg.axis_name else (lambda x: x)

  def loss_fn(params, batch_stats, inputs, targets):
    output = model.apply(
        _variables(params, batch_stats), inputs, train=True, progress=progress,
        rngs={'dropout': dropout_key}, mutable=['batch_stats'] if batch_stats else False)
    outputs, updates = output if batch_stats else (output, {})
    loss = cfg.task.batch_loss(cfg.loss, outputs, targets, cfg.axis_name)
    return loss, (outputs, updates.get('batch_stats', {}))

  grad_fn = microbatches.value_and_grad(loss_fn, cfg.grad_accum)
  (loss, (outputs, batch_stats)), grads = grad_fn(state.params, state.batch_stats, inputs,
                                                  targets)
  # Equal local batches: the mean of local means is the global mean, for loss and gradients.
  grads = mean(grads)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  new_state = TrainState(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                         opt_state=opt_state, batch_stats=batch_stats)
  task_metrics = jax.tree.map(mean, cfg.task.train_metrics(outputs, targets))
  return new_state, {'loss': mean(loss), **task_metrics, 'grad_norm': metrics.global_norm(grads)}


def make_train_step(model, tx: optax.GradientTransformation, cfg: StepConfig, batch):
  """(state, *inputs) -> (state, metrics); metrics are global means, equal on all devices.

  `batch(*inputs, step)` gives this device's normalised images and labels at `step`: the input
  strategies of research/train/inputs.py, which pick the same examples for the same step."""

  def train_step(state: TrainState, *inputs):
    with rng.sliced(cfg.grad_accum):  # which example sits where (rng.py), for every draw
      images, labels_B = batch(*inputs, state.step)
      dropout_key = rng.stream_key(cfg.seed, 'dropout', state.step)
      return apply_update(model, tx, cfg, state, images, labels_B, dropout_key)

  return train_step


def make_steps_per_call(train_step, steps: int, steps_per_epoch: int):
  """`steps` train steps as one `lax.scan`, one dispatch instead of `steps` (what a small model
  needs: its per-step Python and dispatch cost exceeds its compute), for device-resident inputs.

  (state, data, perms_ExN, first_epoch) -> (state, metrics stacked over the steps): row e of
  `perms_ExN` is the permutation of epoch first_epoch + e, so a call may cross epochs.
  """

  def train_steps(state: TrainState, data: pipeline.DeviceData, perms_ExN: jax.Array,
                  first_epoch: jax.Array):
    def body(state, _):
      return train_step(state, data, perms_ExN[state.step // steps_per_epoch - first_epoch])
    with switch.inside_loop():
      return lax.scan(body, state, None, length=steps)

  return train_steps


def test_outputs(cfg: StepConfig, model, variables, images, labels_B=None):
  """The model's test-mode outputs on images, as the task's evaluation reads them (a
  two-player task's: the discriminator on real and on a fixed batch of generated images, of
  the same labels if it is conditional)."""
  model = precision.policy(model, cfg.precision)
  if hasattr(cfg.task, 'eval_outputs'):
    key = rng.stream_key(cfg.seed, 'eval_latent', 0)
    return cfg.task.eval_outputs(model, variables, images, labels_B, key, cfg.axis_name)
  return model.apply(variables, images, train=False)


def make_eval_step(model, cfg: StepConfig, batch):
  """(state, *inputs) -> the task's evaluation statistics summed over the devices, of the
  examples that `batch(*inputs)` gives as (normalised images, targets, mask of real examples)."""

  def eval_step(state: TrainState, *inputs):
    images, labels_B, mask_B = batch(*inputs)
    outputs = test_outputs(cfg, model, _variables(state.params, state.batch_stats), images,
                           labels_B)
    stats = cfg.task.eval_stats(cfg.loss, outputs, cfg.task.targets(images, labels_B), mask_B)
    return metrics.psum(stats, cfg.axis_name)

  return eval_step
