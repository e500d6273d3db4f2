"""Early stopping: a run ends once a held-out metric has not improved for `patience`
evaluations in a row. The weights are those of the step it stopped at (as Keras's
EarlyStopping keeps them by default); the best step and value are reported beside them.

The tracker's state is a function of the evaluations logged so far, so a resumed run rebuilds
it from metrics.jsonl (truncated to the checkpoint it resumes from) and stops exactly where an
uninterrupted run would.
"""
import dataclasses
import math

GOALS = ('min', 'max')


@dataclasses.dataclass(frozen=True)
class EarlyStoppingConfig:
  patience: int = 0          # evaluations without improvement before stopping; 0 = never stop
  metric: str = 'val.loss'   # split.name of the watched metric, e.g. val.accuracy
  goal: str = 'min'          # min or max: which way is better
  min_delta: float = 0.0     # an improvement must exceed this

  @property
  def split(self) -> str:
    return self.metric.split('.', 1)[0]

  @property
  def name(self) -> str:
    return self.metric.split('.', 1)[1]


@dataclasses.dataclass
class Tracker:
  cfg: EarlyStoppingConfig
  best: float = math.nan
  best_step: int | None = None
  since_best: int = 0         # evaluations since the best one

  def update(self, step: int, evaluations: dict) -> bool:
    """Takes one evaluation ({split: metrics}); True when the run should stop here."""
    if not self.cfg.patience or self.cfg.split not in evaluations:
      return False
    value = float(evaluations[self.cfg.split][self.cfg.name])
    sign = 1.0 if self.cfg.goal == 'max' else -1.0
    if self.best_step is None or sign * (value - self.best) > self.cfg.min_delta:
      self.best, self.best_step, self.since_best = value, step, 0
    else:
      self.since_best += 1
    return self.since_best >= self.cfg.patience

  def replay(self, records: list[dict]) -> bool:
    """Rebuilds the state from logged evaluation records (in step order); True if the run had
    already stopped."""
    stopped = False
    for record in records:
      if record['split'] == self.cfg.split:
        stopped = self.update(record['step'], {self.cfg.split: record})
    return stopped

  def summary(self, stopped_at: int | None) -> dict:
    return {'metric': self.cfg.metric, 'stopped_at_step': stopped_at,
            'best_step': self.best_step, 'best_value': self.best}
