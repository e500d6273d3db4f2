"""The one training loop: restore or initialise, call, log, check, evaluate, probe, checkpoint,
and stop cleanly on SIGTERM, for every kind of program.

A program (`Program`) is what gets trained: a single run (research/train/loop.py) or a
vmapped ensemble of runs (research/train/ensemble.py). It says how one call advances the state
and how to read that call's metrics; resume, logging, the progress bar, preemption, the NaN
guard and the final evaluation live here, once.

Host work is kept off the hot path: metrics stay on the device and are fetched together at
log and checkpoint steps, so a checkpoint is written only after every step before it has been
seen to be finite. That is the NaN guard: a non-finite loss or gradient norm stops the run
naming the first bad step, and the last checkpoint on disk is good.
"""
import dataclasses
import json
import math
import pathlib
import sys
import time
from typing import Any, Callable, Protocol

import jax

from research import manifest as manifest_lib
from research.errors import NonFiniteError, UserError
from research.train import (checkpoint, distributed, early_stopping, preemption, profiling,
                            progress)
from research.train.metrics_log import MetricsLog, read_records

Records = list[tuple[int, dict]]  # (step, {name: float}) in step order


@dataclasses.dataclass(frozen=True)
class Schedule:
  """When the loop stops between calls, in steps. Calls must end on every such step."""
  total_steps: int
  log_every: int               # fetch, check and log the train metrics
  eval_every: int              # evaluate; the final evaluation always runs, after the loop
  checkpoint_every: int        # also at the last step and on preemption
  probe_every: int = 0         # the program's diagnostics probe; 0 = never
  processes_agree: bool = False  # several processes: they stop together, at log steps
  # False for sweeps that expect some members to diverge (a learning-rate sweep's largest
  # rates): their non-finite metrics are then logged, not a stop.
  stop_on_nonfinite: bool = True
  profile_steps: tuple[int, ...] = ()  # (a, b): a profiler trace of steps a to b (profiling.py)


class Program(Protocol):
  schedule: Schedule

  def initial_state(self) -> Any:
    """The state at step 0, on the devices."""

  def restore_target(self) -> Any:
    """Shapes, dtypes and shardings of a checkpointed state (checkpoint.abstract)."""

  def from_checkpoint(self, restored) -> Any:
    """A restored state, placed as `call` expects it."""

  def to_checkpoint(self, state) -> Any:
    """What is saved of a state (one copy of replicated arrays)."""

  def call(self, state, step: int) -> tuple[Any, Any, int]:
    """(state, metrics left on the device, steps taken) from `step`; stays within the
    schedule's stops."""

  def records(self, last_step: int, metrics, steps: int) -> Records:
    """The call's fetched metrics as per-step (or per-epoch) records ending at last_step."""

  def evaluate(self, state) -> dict[str, dict]:
    """{split: metrics} ('val' where held out, 'test'): logged at eval steps and returned at
    the end."""

  def probe(self, state, step: int) -> dict:
    """Diagnostics; called only when schedule.probe_every is set (an ensemble sets it when
    given a probe)."""


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
class Trained:
  state: Any
  evaluations: dict       # the final evaluation: {split: metrics}
  start: int              # the step this invocation started from (0, or the restored one)
  final_step: int         # the last step trained: the schedule's, or where it stopped early
  early_stopping: dict    # the tracker's summary (early_stopping.Tracker)


@dataclasses.dataclass
class _Session:
  """What one invocation of `drive` holds while it works."""
  program: Program
  ckpt: checkpoint.Checkpointer
  log: MetricsLog
  bar: Any
  config_dict: dict           # as stored with each checkpoint
  manifest: dict
  timing: Timing
  tracker: early_stopping.Tracker
  trace: profiling.StepTrace


@dataclasses.dataclass(frozen=True)
class _Events:
  """What the loop does after the call that ended at a step."""
  log: bool
  checkpoint: bool
  evaluate: bool
  probe: bool
  preempted: bool


def _events(schedule: Schedule, done: int, stop_requested: Callable[[], bool]) -> _Events:
  s = schedule
  is_last, is_log = done == s.total_steps, done % s.log_every == 0
  if s.processes_agree:
    preempted = is_log and not is_last and distributed.any_process(stop_requested())
  else:
    preempted = stop_requested() and not is_last
  return _Events(log=is_log, preempted=preempted,
                 checkpoint=done % s.checkpoint_every == 0 or is_last or preempted,
                 evaluate=done % s.eval_every == 0 and not is_last,
                 probe=bool(s.probe_every) and done % s.probe_every == 0)


def _check_finite(records: Records, ckpt: checkpoint.Checkpointer) -> None:
  """A non-finite loss or gradient norm (`loss`, `grad_norm`, or an ensemble member's
  `loss/3`) stops the run at its step, naming the checkpoint a rerun resumes from."""
  for step, values in records:
    for name, value in values.items():
      kind = name.split('/')[0]
      if kind in ('loss', 'grad_norm') and not math.isfinite(value):
        raise NonFiniteError(step, 'loss' if kind == 'loss' else 'gradients',
                             ckpt.latest_step())


def _write_train(session: _Session, records: Records) -> Records:
  """Logs train records and advances the progress bar; returns the empty list left over."""
  for step, values in records:
    session.log.write(step, 'train', values)
  if 'loss' in records[-1][1]:
    session.bar.set_postfix(loss=f'{records[-1][1]["loss"]:.4f}')
  session.bar.update(records[-1][0] - session.bar.n)
  return []


def _write_evaluations(log: MetricsLog, step: int, evaluations: dict) -> None:
  for split, values in evaluations.items():
    log.write(step, split, values)


def _restore(ckpt: checkpoint.Checkpointer, target, config_dict: dict):
  step, restored, saved_config, saved_manifest = ckpt.restore_newest_intact(target)
  changed = checkpoint.changed_keys(saved_config, config_dict)
  if changed:
    raise UserError(f'the checkpoint at step {step} was written with a different config '
                    f'(differs in: {", ".join(changed)}); use a new --workdir')
  return step, restored, saved_manifest


def _warn_if_moved(step: int, saved: dict, manifest: dict, finished: bool) -> None:
  """Says on stderr when the checkpoint came from other code or another machine: what resumes
  from it is then not promised bit-exact. A finished run trains nothing more; only its
  evaluation is recomputed, so it gets a note instead of a warning."""
  code_moved = saved.get('git_commit') != manifest.get('git_commit') or \
      saved.get('git_dirty') or manifest.get('git_dirty')
  moved = manifest_lib.machine_changes(saved, manifest)
  if finished and (code_moved or moved):
    print(f'note: the run finished at step {step}, written by code {saved.get("git_commit")} '
          f'(dirty={saved.get("git_dirty")}); nothing is trained again, its evaluation is '
          f'recomputed with code {manifest.get("git_commit")} (dirty={manifest.get("git_dirty")})',
          file=sys.stderr)
    return
  if code_moved:
    print(f'WARNING: resuming step {step} written by code {saved.get("git_commit")} '
          f'(dirty={saved.get("git_dirty")}) with code {manifest.get("git_commit")} '
          f'(dirty={manifest.get("git_dirty")}): bit-exact resume is only promised for '
          'identical, committed code', file=sys.stderr)
  if moved:
    print(f'WARNING: resuming step {step} on another machine type or software '
          f'({"; ".join(moved)}): bit-exact resume is only promised for the same ones',
          file=sys.stderr)


def _train(session: _Session, state, start: int, stop_requested):
  """Calls to the last step with every log, NaN check, evaluation, probe and checkpoint on its
  step; raises Preempted (after the checkpoint) when SIGTERM came. Returns (state, the step
  reached, whether early stopping ended it there)."""
  program, timing = session.program, session.timing
  pending = []  # (last step, metrics, steps) of calls not yet read
  unwritten = []  # records read and checked, to be logged after the next dispatch
  step = start
  while step < program.schedule.total_steps:
    session.trace.before_call(step)
    state, call_metrics, taken = program.call(state, step)
    step += taken
    session.trace.after_call(step, state)
    pending.append((step, call_metrics, taken))
    if unwritten:  # the device is busy with the call just dispatched: log meanwhile
      unwritten = _write_train(session, unwritten)
    if timing.first_call_done is None:  # one sync, for the timings: compile ends here
      jax.block_until_ready(call_metrics)
      timing.first_call_done, timing.first_call_steps = time.perf_counter(), step - start
    events = _events(program.schedule, step, stop_requested)
    if events.log or events.checkpoint:
      unwritten = [r for p in jax.device_get(pending) for r in program.records(*p)]
      pending = []
      if program.schedule.stop_on_nonfinite:
        _check_finite(unwritten, session.ckpt)  # now: no checkpoint follows a bad step
    if unwritten and (events.checkpoint or events.evaluate or events.probe):
      unwritten = _write_train(session, unwritten)  # keep the log in step order
    stop = False
    if events.evaluate:
      evaluations = program.evaluate(state)
      _write_evaluations(session.log, step, evaluations)
      stop = session.tracker.update(step, evaluations)
    if events.probe:
      session.log.write(step, 'diagnostics', program.probe(state, step))
    if events.checkpoint or stop:
      session.log.flush()
      session.ckpt.save(step, program.to_checkpoint(state), session.config_dict,
                        session.manifest)
    if stop:
      return state, step, True
    if events.preempted:
      raise preemption.Preempted(step)  # after the caller has waited for the write
  return state, step, False


def drive(program: Program, workdir: pathlib.Path, config_dict: dict, manifest: dict, *,
          keep: int = 3, desc: str = '', timing: Timing | None = None,
          stopping: early_stopping.EarlyStoppingConfig = early_stopping.EarlyStoppingConfig()
          ) -> Trained:
  """Trains `program` to its last step (or until `stopping` ends it), resuming from the
  workdir's newest intact checkpoint (refused if it was written with another config), then
  evaluates it.

  With several processes every process runs this; process 0 alone logs and shows progress,
  all of them take part in every call, evaluation and checkpoint.
  """
  timing = timing or Timing()
  timing.began = time.perf_counter()
  config_dict = json.loads(json.dumps(config_dict))  # as stored: lists, string keys
  total = program.schedule.total_steps
  ckpt = checkpoint.Checkpointer(workdir / 'checkpoints', keep=keep)
  start, state, saved_manifest = 0, None, None
  if distributed.main_decides(ckpt.latest_step() is not None):
    start, restored, saved_manifest = _restore(ckpt, program.restore_target(), config_dict)
    distributed.check_agreement('the checkpoint step to resume from', start)
    state = program.from_checkpoint(restored)
  state = program.initial_state() if state is None else state
  # Every process rebuilds the tracker from the evaluations logged up to its checkpoint.
  tracker = early_stopping.Tracker(stopping)
  stopped = bool(start and stopping.patience) and tracker.replay(
      [r for r in read_records(workdir) if r['step'] <= start and r['step'] < total])
  if saved_manifest is not None and distributed.is_main():
    _warn_if_moved(start, saved_manifest, manifest, finished=stopped or start >= total)
  log = MetricsLog(workdir, start, enabled=distributed.is_main())
  if program.schedule.probe_every and start == 0:
    log.write(0, 'diagnostics', program.probe(state, 0))
  trace = profiling.StepTrace(program.schedule.profile_steps, workdir / 'profile')
  # The SIGTERM handler stays ours until the checkpoint in flight is written.
  with preemption.sigterm_flag() as stop_requested:
    try:
      bar = progress.progress(total, start, desc, shown=distributed.is_main())
      session = _Session(program, ckpt, log, bar, config_dict, manifest, timing, tracker, trace)
      reached = start
      if not stopped:
        state, reached, stopped = _train(session, state, start, stop_requested)
      bar.close()
      timing.loop_done = time.perf_counter()
      evaluations = program.evaluate(state)
      if start < reached and not stopped:  # logged already where it stopped or finished
        _write_evaluations(log, reached, evaluations)
    finally:
      trace.stop()  # a run that ends inside the window still writes its trace
      ckpt.close()
      log.close()
  return Trained(state=state, evaluations=evaluations, start=start, final_step=reached,
                 early_stopping=tracker.summary(reached if stopped else None))
