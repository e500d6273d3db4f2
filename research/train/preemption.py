"""Preemption: SIGTERM, what SLURM and TPU schedulers send before they kill a job, becomes a
checkpoint and a clean exit; the relaunched job resumes from that checkpoint."""
import contextlib
import signal
import threading


class Preempted(Exception):
  """Raised after the checkpoint of `step` is safely written."""

  def __init__(self, step: int):
    super().__init__(f'stopped by SIGTERM after step {step}, checkpoint saved; run the same '
                     'command again to resume')
    self.step = step


@contextlib.contextmanager
def sigterm_flag():
  """Yields a function that is True once SIGTERM has arrived (the handler only records it:
  the training loop decides where to stop). Outside the main thread, where Python cannot
  install handlers, the flag stays False."""
  received = threading.Event()
  if threading.current_thread() is not threading.main_thread():
    yield received.is_set
    return
  previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.set())
  try:
    yield received.is_set
  finally:
    signal.signal(signal.SIGTERM, previous)
