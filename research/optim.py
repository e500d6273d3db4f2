"""Optimizers and learning-rate schedules from config, on optax.

Gradient transformations are chained in the order the textbooks apply them: clip the global
norm, add L2 weight decay (classic, "coupled"; AdamW decays decoupled instead), then the update
rule. Frozen parameter groups (regular expressions over 'layer/param' paths) get zero updates.
"""
import dataclasses
import re

import flax.traverse_util
import optax

from research import traced
from research.errors import UserError

OPTIMIZERS = ('sgd', 'momentum', 'nesterov', 'rmsprop', 'adam', 'adamw')
SCHEDULES = ('constant', 'cosine', 'warmup_cosine', 'step', 'linear')


@dataclasses.dataclass(frozen=True)
class OptimConfig:
  name: str = 'adam'                 # sgd, momentum, nesterov, rmsprop, adam or adamw
  learning_rate: float = 1e-3        # the peak learning rate of the schedule
  momentum: float = 0.9              # for momentum and nesterov
  b1: float = 0.9                    # Adam's first-moment decay
  b2: float = 0.999                  # Adam's second-moment decay
  rmsprop_decay: float = 0.9         # RMSProp's squared-gradient decay (Hinton's lecture 6e)
  weight_decay: float = 0.0          # L2 (coupled; AdamW: decoupled); 0 = off
  grad_clip: float = 0.0             # max global gradient norm; 0 = off
  schedule: str = 'constant'         # constant, cosine, warmup_cosine, step or linear
  warmup_steps: int = 0              # warmup_cosine: ramp from 0; step: lr * warmup_factor
  # 'step' schedule with warmup_steps > 0: lr * warmup_factor until then (He et al. 2015 warm
  # ResNet-110 up at 0.01 for about 400 iterations before 0.1).
  warmup_factor: float = 0.1         # the step schedule's warm-up fraction of the rate
  boundaries: tuple[int, ...] = ()   # 'step' schedule: lr *= decay_factor at each boundary
  decay_factor: float = 0.1          # the step schedule's factor at each boundary
  freeze: tuple[str, ...] = ()       # regexes over parameter paths, e.g. 'hidden_0/.*'
  freeze_until: int = 0              # the step the frozen parameters start training; 0 = never
  lr_groups: tuple[str, ...] = ()    # regexes over parameter paths, each a learning-rate group
  lr_group_scales: tuple[float, ...] = ()  # each group's learning rate over learning_rate


def make_schedule(cfg: OptimConfig, total_steps: int) -> optax.Schedule:
  lr = cfg.learning_rate
  if cfg.schedule == 'constant':
    return optax.constant_schedule(lr)
  if cfg.schedule == 'cosine':
    return optax.cosine_decay_schedule(lr, total_steps)
  if cfg.schedule == 'warmup_cosine':
    return optax.warmup_cosine_decay_schedule(0.0, lr, cfg.warmup_steps, total_steps)
  if cfg.schedule == 'step':
    scales = {b: cfg.decay_factor for b in cfg.boundaries}
    if cfg.warmup_steps:
      scales = {cfg.warmup_steps: 1.0 / cfg.warmup_factor, **scales}
      lr *= cfg.warmup_factor
    return optax.piecewise_constant_schedule(lr, scales)
  if cfg.schedule == 'linear':
    return optax.linear_schedule(lr, 0.0, total_steps)
  raise UserError(f'optim.schedule {cfg.schedule!r} is unknown; choose one of '
                  f'{", ".join(SCHEDULES)}')


def _update_rule(cfg: OptimConfig, schedule) -> optax.GradientTransformation:
  if cfg.name == 'sgd':
    return optax.sgd(schedule)
  if cfg.name in ('momentum', 'nesterov'):
    return optax.sgd(schedule, momentum=cfg.momentum, nesterov=cfg.name == 'nesterov')
  if cfg.name == 'rmsprop':
    return optax.rmsprop(schedule, decay=cfg.rmsprop_decay)
  if cfg.name == 'adam':
    return optax.adam(schedule, b1=cfg.b1, b2=cfg.b2)
  if cfg.name == 'adamw':
    return optax.adamw(schedule, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay)
  raise UserError(f'optim.name {cfg.name!r} is unknown; choose one of {", ".join(OPTIMIZERS)}')


def _matching(flat: dict, key: str, patterns) -> None:
  for pattern in patterns:
    if not any(re.fullmatch(pattern, path) for path in flat):
      raise UserError(f'{key} pattern {pattern!r} matches no parameter; parameters are '
                      f'{", ".join(sorted(flat))}')


def param_labels(params, cfg: OptimConfig):
  """Each parameter's group, by full-match of its 'a/b/c' path: 'frozen' (optim.freeze), else
  'group_i' for the first of optim.lr_groups that matches, else 'trained'."""
  flat = flax.traverse_util.flatten_dict(params, sep='/')
  _matching(flat, 'optim.freeze', cfg.freeze)
  _matching(flat, 'optim.lr_groups', cfg.lr_groups)

  def label(path):
    if any(re.fullmatch(p, path) for p in cfg.freeze):
      return 'frozen'
    return next((f'group_{i}' for i, p in enumerate(cfg.lr_groups) if re.fullmatch(p, path)),
                'trained')

  return flax.traverse_util.unflatten_dict({path: label(path) for path in flat}, sep='/')


def _chain(cfg: OptimConfig, total_steps: int) -> optax.GradientTransformation:
  parts = []
  if cfg.grad_clip > 0:
    parts.append(optax.clip_by_global_norm(cfg.grad_clip))
  if traced.is_on(cfg.weight_decay) and cfg.name != 'adamw':
    parts.append(optax.add_decayed_weights(cfg.weight_decay))
  parts.append(_update_rule(cfg, make_schedule(cfg, total_steps)))
  return optax.chain(*parts)


def make_optimizer(cfg: OptimConfig, total_steps: int, params) -> optax.GradientTransformation:
  """The optimizer `cfg` describes; with freezing or learning-rate groups, one per group of
  parameters (optax.multi_transform), each with its own state. Gradient clipping then clips
  each group by its own norm."""
  tx = _chain(cfg, total_steps)
  if not cfg.freeze and not cfg.lr_groups:
    return tx
  groups = {'trained': tx}
  for i, scale in enumerate(cfg.lr_group_scales):
    groups[f'group_{i}'] = _chain(
        dataclasses.replace(cfg, learning_rate=cfg.learning_rate * scale), total_steps)
  # Until freeze_until the frozen group's updates are zero and its optimizer state (moments,
  # schedule count) stands still, so its training starts fresh at that step.
  groups['frozen'] = (optax.transforms.conditionally_mask(
      tx, lambda count: count >= cfg.freeze_until) if cfg.freeze_until else optax.set_to_zero())
  return optax.multi_transform(groups, param_labels(params, cfg))


@dataclasses.dataclass(frozen=True)
class Players:
  """One optimizer per player of a two-player task (research/tasks.Adversarial), each with its
  own state, under the player's name; the task calls each player's `update` itself."""
  generator: optax.GradientTransformation
  discriminator: optax.GradientTransformation

  def init(self, params) -> dict:
    return {'generator': self.generator.init(params['generator']),
            'discriminator': self.discriminator.init(params['discriminator'])}
