"""metrics.jsonl and TensorBoard event files, kept consistent with the checkpoints.

On resume from step S the records after S (written by the run that was killed) are dropped, so
the log reads as if the run had never stopped. With several processes only process 0 writes
(`enabled=False` elsewhere makes every method a no-op).
"""
import json
import pathlib
import sys


class MetricsLog:

  def __init__(self, workdir: pathlib.Path, resume_step: int, enabled: bool = True):
    self.path = workdir / 'metrics.jsonl'
    self.enabled = enabled
    if not enabled:
      return
    workdir.mkdir(parents=True, exist_ok=True)
    self._truncate_after(resume_step)
    self._file = self.path.open('a')
    self._tensorboard_args = (str(workdir / 'tensorboard'), resume_step + 1)
    self._tensorboard = None  # opened at the first write: importing it takes seconds

  def _events(self):
    """tensorboardX's FileWriter, written one Summary per record: a fraction of the cost of
    add_scalar per value, on the host thread the device's next call competes with."""
    if self._tensorboard is None:
      tensorboardX = _import_tensorboardx()
      from tensorboardX.proto.event_pb2 import Event, SessionLog
      logdir, purge_step = self._tensorboard_args
      # The file is named by the second it opened; the suffix keeps a quick restart's apart.
      self._tensorboard = tensorboardX.FileWriter(logdir, filename_suffix=f'.from{purge_step}')
      # As SummaryWriter(purge_step=...) does: TensorBoard drops the events a killed run wrote
      # after the step this one resumes from.
      self._tensorboard.add_event(Event(step=purge_step, file_version='brain.Event:2'))
      self._tensorboard.add_event(Event(step=purge_step,
                                        session_log=SessionLog(status=SessionLog.START)))
    return self._tensorboard

  def _truncate_after(self, step: int) -> None:
    if not self.path.exists():
      return
    kept = [line for line in self.path.read_text().splitlines()
            if line.strip() and _parse(line) is not None and _parse(line)['step'] <= step]
    self.path.write_text(''.join(line + '\n' for line in kept))

  def write(self, step: int, split: str, values: dict) -> None:
    if not self.enabled:
      return
    scalars = {k: v for k, v in values.items() if isinstance(v, (int, float))}
    self._file.write(json.dumps({'step': step, 'split': split, **scalars}) + '\n')
    events = self._events()  # first: it keeps tensorboardX's import from loading PyTorch
    from tensorboardX.proto.summary_pb2 import Summary
    events.add_summary(Summary(value=[
        Summary.Value(tag=f'{split}/{name}', simple_value=float(value))
        for name, value in scalars.items()]), step)

  def flush(self) -> None:
    if not self.enabled:
      return
    self._file.flush()
    if self._tensorboard is not None:
      self._tensorboard.flush()

  def close(self) -> None:
    if not self.enabled:
      return
    self._file.close()
    if self._tensorboard is not None:
      self._tensorboard.close()


def _import_tensorboardx():
  """tensorboardX imports PyTorch where it is installed (seconds), only to accept torch tensors,
  which we never pass: it is kept from seeing PyTorch unless PyTorch is already loaded."""
  if 'torch' in sys.modules or 'tensorboardX' in sys.modules:
    import tensorboardX
    return tensorboardX
  sys.modules['torch'] = None  # makes `import torch` raise ImportError, which it handles
  try:
    import tensorboardX
  finally:
    del sys.modules['torch']
  return tensorboardX


def _parse(line: str):
  try:
    return json.loads(line)
  except json.JSONDecodeError:  # a line torn by a kill mid-write
    return None


def read_records(workdir: pathlib.Path) -> list[dict]:
  path = workdir / 'metrics.jsonl'
  if not path.exists():
    return []
  return [r for r in map(_parse, path.read_text().splitlines()) if r is not None]
