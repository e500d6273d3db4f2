"""Many independent training runs as one compiled program: `jax.vmap` over members.

A member is a (seed, rate) pair: its own initialisation, data order, dropout masks and
augmentation, all drawn from its seed exactly as a `train` run with that seed draws them, and
its own value of one option (`rate_field`: a model option such as a dropout or stochastic-depth
rate, or a hyperparameter of the optimizer or loss: 'optim.learning_rate', 'optim.weight_decay',
'loss.label_smoothing', 'loss.focal_gamma', 'loss.huber_delta', or an augmentation's strength
such as 'augment.rotate'), passed in as a traced number (research/traced.py). So a sweep over
seeds and rates of one model compiles once, and its small matrix products become larger
batched ones, which is where the time goes on a CPU. Training is measured in epochs; an epoch
is a `lax.scan` over its steps, `epochs_per_call` epochs are one call, and a checkpoint (Orbax,
every member at once) follows each call, so an interrupted ensemble resumes exactly. Members
are spread over the local devices when their number divides evenly (they never communicate);
otherwise all live on the first device.
"""
import dataclasses
import functools
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from research import losses, metrics, optim, rng, tasks
from research.data import augment as augment_lib
from research.data import pipeline
from research.data.dataset import Dataset
from research.errors import UserError
from research.models import build_model
from research.nn import switch
from research.train import driver, state as state_lib, step as step_lib, transfer


@dataclasses.dataclass(frozen=True)
class EnsembleConfig:
  model: str
  options: dict                  # the model's config group, without the member's rate
  rate_field: str                # what each member sets to its value (see above)
  epochs: int
  batch_size: int
  optim: optim.OptimConfig
  loss: losses.LossConfig = losses.LossConfig()
  augment: augment_lib.AugmentConfig = augment_lib.AugmentConfig()
  epochs_per_call: int = 0          # epochs per compiled call and checkpoint (0 = all at once)
  vmap_members: int = 0          # members vmapped together, the rest in turn (0 = all)
  fast_compile: bool = False     # LLVM -O1 instead of -O2: about half the compile time on a CPU
  eval_batch_size: int = 1000
  task: str = 'classification'   # research/tasks.py
  corruption: tasks.CorruptionConfig = tasks.CorruptionConfig()  # task=reconstruction's inputs
  adversarial: tasks.AdversarialConfig = tasks.AdversarialConfig()  # task=adversarial's rule
  stop_on_divergence: bool = True  # False: a diverged member is kept (NaN), the rest train on
  init_from: str = ''            # a run directory whose newest weights every member starts from
  init_exclude: str = ''         # a regex of the parameters that keep their own initialisation


class Ensemble:

  def __init__(self, cfg: EnsembleConfig, dataset: Dataset, seeds, rates, devices=None,
               probe=None):
    """`probe(states, step) -> {name: number}`, if given, runs at step 0 and after every call;
    its results go into metrics.jsonl as 'diagnostics' records (scores of a GAN's samples as
    it trains; anything larger, such as the samples, the probe writes itself)."""
    self._probe = probe
    if len(seeds) != len(rates) or not len(seeds):
      raise UserError('an ensemble needs one rate per seed, and at least one member')
    self.cfg, self.dataset = cfg, dataset
    self.num_train = len(dataset.train_labels)
    if cfg.batch_size > self.num_train:
      raise UserError(f'batch_size={cfg.batch_size} is larger than the {self.num_train} '
                      'training examples')
    self.per_epoch = pipeline.steps_per_epoch(self.num_train, cfg.batch_size)
    self.total_steps = cfg.epochs * self.per_epoch
    self.task = tasks.make_task(cfg.task, dataset.train_labels, cfg.corruption, cfg.adversarial)
    self.step_cfg = step_lib.StepConfig(
        seed=0, global_batch=cfg.batch_size, num_devices=1,
        loss=tasks.loss_for(cfg.task, cfg.loss), augment=cfg.augment,
        axis_name=None, total_steps=self.total_steps, task=self.task)
    if cfg.init_from:  # read once, here: the traced initialisations take it from the cache
      transfer.source_weights(cfg.init_from)
    template = jax.eval_shape(lambda: self._variables_one(jnp.int32(0), jnp.float32(0)))
    self._template_params = template['params']
    devices = list(devices or jax.local_devices())
    devices = devices if len(seeds) % len(devices) == 0 else devices[:1]
    mesh = Mesh(np.array(devices), ('members',))
    self.members = NamedSharding(mesh, P('members'))
    self.replicated = NamedSharding(mesh, P())
    self.seeds = jax.device_put(np.asarray(seeds, np.int32), self.members)
    self.rates = jax.device_put(np.asarray(rates, np.float32), self.members)
    # Of the training program in this process (a resumed group's steps since its resume).
    self.timing = {'compile_s': 0.0, 'run_s': 0.0, 'run_steps': 0}
    self._compiled = {}  # epochs per call -> the compiled training program
    self._build_programs(mesh)
    self.eval_batch = min(cfg.eval_batch_size,
                          max(len(dataset.train_labels), len(dataset.test_labels)))

  def _build_programs(self, mesh: Mesh) -> None:
    """The jitted init, train and eval programs."""
    # Members never communicate: each device maps over its own share of them.
    per_device = lambda fn, specs: jax.shard_map(fn, mesh=mesh, in_specs=specs,
                                                 out_specs=P('members'), check_vma=False)
    m, r = P('members'), P()
    options = {'xla_backend_optimization_level': 1} if self.cfg.fast_compile else None
    self._train_epochs = jax.jit(
        lambda states, seeds, rates, data, first, n: per_device(
            lambda *a: self._train_epochs_impl(*a, n), (m, m, m, r, r))(
                states, seeds, rates, data, first),
        static_argnums=5, donate_argnums=0, compiler_options=options)
    init_one = lambda member: state_lib.state_from_variables(self._variables_one(*member),
                                                             self.tx(member[1]))
    self._init = jax.jit(per_device(lambda seeds, rates: self._map(init_one, (seeds, rates)),
                                    (m, m)), compiler_options=state_lib.init_compiler_options())
    eval_one = lambda batch: lambda member: self._eval_one(*member, *batch)
    self._eval_batch = jax.jit(per_device(
        lambda states, rates, *batch: self._map(eval_one(batch), (states, rates)),
        (m, m, r, r, r)), compiler_options=options)

  def model(self, rate):
    options = dict(self.cfg.options)
    if '.' not in self.cfg.rate_field:  # a model option
      options[self.cfg.rate_field] = rate
    return build_model(self.cfg.model, options, self.task.output_units(self.dataset.num_classes))

  def _hyperparameter(self, group: str, config, rate):
    """`config` with the member's value if rate_field is one of `group`'s fields."""
    prefix, _, field = self.cfg.rate_field.partition('.')
    return dataclasses.replace(config, **{field: rate}) if prefix == group else config

  def tx(self, rate):
    """The member's optimizer (its learning rate or weight decay, when those vary)."""
    make = getattr(self.task, 'make_optimizer', optim.make_optimizer)  # two players: two
    return make(self._hyperparameter('optim', self.cfg.optim, rate), self.total_steps,
                self._template_params)

  def loss(self, rate):
    return self._hyperparameter('loss', tasks.loss_for(self.cfg.task, self.cfg.loss), rate)

  def _variables_one(self, seed, rate):
    # As research/train/state.init_variables (and transfer.transplant with init_from): the same
    # parameters as a `train` run's.
    dummy = jnp.zeros((1, *self.dataset.image_shape), jnp.float32)
    variables = state_lib.initial_variables(self.model(rate), jax.random.key(seed), dummy)
    if self.cfg.init_from:
      variables = transfer.transplant(variables, self.cfg.init_from, self.cfg.init_exclude)
    return variables

  def init(self, seeds=None, rates=None):
    """Initial states of the members (or of other seeds and rates, as many as there are
    members: the compiled programs are reused)."""
    seeds = self.seeds if seeds is None else jax.device_put(np.asarray(seeds, np.int32),
                                                            self.members)
    rates = self.rates if rates is None else jax.device_put(np.asarray(rates, np.float32),
                                                            self.members)
    return self._init(seeds, rates), seeds, rates

  def timed_fit(self) -> dict:
    """All epochs in one call, without checkpoints or logs: seconds to compile, to run."""
    states, seeds, rates = self.init()
    args = (states, seeds, rates, self._train_data, jnp.int32(0))
    start = time.perf_counter()
    compiled = self._train_epochs.lower(*args, self.cfg.epochs).compile()
    middle = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    return {'compile_s': middle - start, 'run_s': time.perf_counter() - middle}

  def _step_one(self, state, seed, rate, data, perm_N):
    images, labels_B = pipeline.local_train_batch(data, perm_N, state.step, self.cfg.batch_size,
                                                  self.cfg.batch_size, None)
    dropout_key = rng.stream_key(seed, 'dropout', state.step)
    step_cfg = dataclasses.replace(
        self.step_cfg, loss=self.loss(rate),
        augment=self._hyperparameter('augment', self.cfg.augment, rate))
    return step_lib.apply_update(self.model(rate), self.tx(rate), step_cfg, state, images,
                                 labels_B, dropout_key, seed=seed)

  def _train_epochs_impl(self, states, seeds, rates, data, first_epoch, num_epochs: int):
    """`num_epochs` epochs from `first_epoch`: states, and per-epoch mean loss and accuracy
    (K x epochs). `vmap_members` members at a time are vmapped, the groups run in turn."""

    def member_epochs(member):
      state, seed, rate = member

      def epoch(state, e):
        perm_N = pipeline.epoch_permutation(seed, e, self.num_train)
        state, step_metrics = jax.lax.scan(
            lambda s, _: self._step_one(s, seed, rate, data, perm_N), state,
            length=self.per_epoch)
        return state, jax.tree.map(lambda m: m.mean(0), step_metrics)

      return jax.lax.scan(epoch, state, first_epoch + jnp.arange(num_epochs))

    with switch.inside_loop():
      return self._map(member_epochs, (states, seeds, rates))

  def _map(self, fn, members):
    """fn over the local members, `vmap_members` at a time (all of them if 0)."""
    count = jax.tree.leaves(members)[0].shape[0]
    return jax.lax.map(fn, members, batch_size=min(self.cfg.vmap_members or count, count))

  def _eval_one(self, state, rate, images, labels_B, mask_B):
    variables = {'params': state.params,
                 **({'batch_stats': state.batch_stats} if state.batch_stats else {})}
    images = pipeline.normalize(images, self.dataset.mean, self.dataset.std)
    outputs = step_lib.test_outputs(self.step_cfg, self.model(rate), variables, images,
                                    labels_B)
    return self.task.eval_stats(self.loss(rate), outputs, self.task.targets(images, labels_B),
                                mask_B)

  def outputs(self, states, split: str) -> np.ndarray:
    """Every member's test-mode outputs on a whole split (members x examples x units), in
    batches of one shape, for analyses that need more than the task's statistics."""
    return self.outputs_on(states, self.dataset.split(split)[0])

  def outputs_on(self, states, images: np.ndarray) -> np.ndarray:
    """Every member's test-mode outputs on any images of the dataset's shape and scale (shifted
    test images, say): members x examples x units."""
    if not hasattr(self, '_outputs_batch'):
      def member_outputs(state, rate, images):
        variables = {'params': state.params,
                     **({'batch_stats': state.batch_stats} if state.batch_stats else {})}
        images = pipeline.normalize(images, self.dataset.mean, self.dataset.std)
        return step_lib.test_outputs(self.step_cfg, self.model(rate), variables, images)
      self._outputs_batch = jax.jit(jax.vmap(member_outputs, in_axes=(0, 0, None)))
    found, b = [], self.eval_batch
    for start in range(0, len(images), b):
      index, _ = pipeline.padded(np.arange(start, start + b), len(images))
      found.append(np.asarray(self._outputs_batch(states, self.rates, images[index])))
    return np.concatenate(found, axis=1)[:, :len(images)]

  def split_metrics(self, states, split: str) -> list[dict]:
    """Each member's test-mode metrics on a whole split, in batches of one shape (padded and
    masked), so that both splits share one compiled program."""
    images, labels = self.dataset.split(split)
    total, b = None, self.eval_batch
    for start in range(0, len(labels), b):
      index, mask = pipeline.padded(np.arange(start, start + b), len(labels))
      stats = self._eval_batch(states, self.rates, images[index], labels[index], mask)
      total = stats if total is None else metrics.merge(total, stats)
    total = jax.device_get(total)
    return [self.task.summarize(jax.tree.map(lambda x, k=k: x[k], total))
            for k in range(len(self.seeds))]

  def abstract_states(self):
    """Shapes, dtypes and shardings of the members' states, without computing them."""
    shapes = jax.eval_shape(self._init, self.seeds, self.rates)
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=self.members),
                        shapes)

  # The driver's program (research/train/driver.Program): a call is `epochs_per_call` epochs.

  @functools.cached_property
  def schedule(self) -> driver.Schedule:
    per_call = (self.cfg.epochs_per_call or self.cfg.epochs) * self.per_epoch
    return driver.Schedule(total_steps=self.total_steps, log_every=per_call,
                           eval_every=per_call, checkpoint_every=per_call,
                           probe_every=per_call if self._probe else 0,
                           stop_on_nonfinite=self.cfg.stop_on_divergence)

  def probe(self, states, step: int) -> dict:
    return self._probe(states, step)

  @functools.cached_property
  def _train_data(self):
    return jax.device_put(pipeline.split_arrays(self.dataset, 'train'), self.replicated)

  def initial_state(self):
    return self.init()[0]

  def restore_target(self):
    return self.abstract_states()

  def from_checkpoint(self, restored):
    return restored  # restored with the members' sharding already

  def to_checkpoint(self, states):
    return states

  def call(self, states, step: int):
    """`epochs_per_call` epochs from `step`'s epoch (fewer at the end), compiled once per count;
    its compile and run seconds add to self.timing."""
    done = step // self.per_epoch
    count = min(self.cfg.epochs_per_call or self.cfg.epochs, self.cfg.epochs - done)
    args = (states, self.seeds, self.rates, self._train_data, jnp.int32(done))
    if count not in self._compiled:
      start = time.perf_counter()
      self._compiled[count] = self._train_epochs.lower(*args, count).compile()
      self.timing['compile_s'] += time.perf_counter() - start
    start = time.perf_counter()
    states, history = jax.block_until_ready(self._compiled[count](*args))
    seconds = time.perf_counter() - start
    self.timing['run_s'] += seconds
    self.timing['run_steps'] += count * self.per_epoch
    _warn_if_longer_than_a_preemption_warning(seconds, count)
    return states, history, count * self.per_epoch

  def records(self, last_step: int, history, steps: int) -> driver.Records:
    """One record per epoch: its mean train metrics, one value per member (`loss/3`)."""
    first = last_step - steps
    return [(first + (e + 1) * self.per_epoch,
             {f'{name}/{k}': float(v[k, e]) for name, v in history.items()
              for k in range(len(self.seeds))})
            for e in range(steps // self.per_epoch)]

  def evaluate(self, states) -> dict[str, dict]:
    """Every member's headline metrics on each evaluated split (classification: `accuracy/3`,
    `loss/3`)."""
    return {split: {f'{name}/{k}': t[name]
                    for k, t in enumerate(self.split_metrics(states, split))
                    for name in self.task.headline}
            for split in self.dataset.eval_splits}

  def train(self, workdir: pathlib.Path, config_dict: dict, manifest: dict, desc: str = ''):
    """Trains every member to `epochs` (resuming from workdir's checkpoint); returns states.

    metrics.jsonl gets per-epoch train metrics and, after every call, test accuracy and
    loss, one value per member (`loss/3` is member 3's).
    """
    return driver.drive(self, workdir, config_dict, manifest, keep=2,
                        desc=desc or self.cfg.model).state


def member(states, k: int):
  """Member k's state, as a single run's, in host memory.

  The members are copied to the host and indexed there: on several devices, indexing the
  members' axis is a program with an all-reduce per leaf, and XLA:CPU's collectives can
  deadlock (and abort the process) when several are in flight (docs/performance.md)."""
  return jax.tree.map(lambda x: np.asarray(x[k]), jax.device_get(states))


# A call is one XLA program: a SIGTERM (preemption, a time limit) is acted on only after it, and
# SLURM sends it 120 s before the end. Calls are not sized by time automatically: the number of
# epochs per call changes the compiled program, so a machine-dependent choice would make the
# results (of convolutions, at rounding level) and their bit-exact resume depend on timing.
PREEMPTION_NOTICE_S = 120.0
_warned = []


def _warn_if_longer_than_a_preemption_warning(seconds: float, epochs: int) -> None:
  budget = 0.75 * PREEMPTION_NOTICE_S
  if seconds <= budget or _warned:
    return
  _warned.append(seconds)
  fits = int(budget / (seconds / epochs))
  advice = (f'so set epochs_per_call to {fits} or fewer where it may be preempted' if fits else
            'and one epoch alone takes longer: a preempted job loses the call in progress and '
            'resumes from its last checkpoint')
  print(f'WARNING: one ensemble call of {epochs} epoch{"s" * (epochs != 1)} took {seconds:.0f} s; '
        f'a preempted job gets {PREEMPTION_NOTICE_S:.0f} s of notice, {advice}',
        file=sys.stderr)
