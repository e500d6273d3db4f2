"""Progress where people look: tqdm's bar on a terminal; anywhere else (a SLURM log, CI, a
`nohup` run) a plain line at each log step, with the step, the loss, steps per second and the
time left, since a bar redrawn in place prints only its first and last states to a file."""
import sys
import time

import tqdm


def _clock(seconds: float) -> str:
  seconds = int(round(seconds))
  return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


class PlainProgress:
  """tqdm's update/set_postfix/close, printing one line per update."""

  def __init__(self, total: int, initial: int, desc: str, file=None):
    self.total, self.n, self.desc, self.file = total, initial, desc, file or sys.stderr
    self._first_step, self._began, self._postfix = initial, time.perf_counter(), ''

  def set_postfix(self, **values) -> None:
    self._postfix = ''.join(f', {key} {value}' for key, value in values.items())

  def update(self, count: int) -> None:
    self.n += count
    elapsed = time.perf_counter() - self._began
    rate = (self.n - self._first_step) / elapsed if elapsed > 0 else 0.0
    left = f', {_clock((self.total - self.n) / rate)} left' if rate > 0 else ''
    print(f'{self.desc or "train"}: step {self.n}/{self.total}{self._postfix}, '
          f'{rate:.1f} steps/s{left}', file=self.file, flush=True)

  def close(self) -> None:
    pass


def progress(total: int, initial: int, desc: str, shown: bool):
  """tqdm's bar on a terminal, PlainProgress elsewhere, nothing where `shown` is False (the
  processes other than 0)."""
  if shown and not sys.stderr.isatty():
    return PlainProgress(total, initial, desc)
  return tqdm.tqdm(total=total, initial=initial, desc=desc, unit='step', file=sys.stderr,
                   disable=not shown)
