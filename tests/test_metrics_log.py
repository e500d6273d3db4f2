"""research/train/metrics_log.py: what metrics.jsonl and the TensorBoard event file hold."""
import json
import pathlib
import struct
import subprocess
import sys

from research.train.metrics_log import MetricsLog


def _events(logdir):
  """Every Event in the TFRecord files under logdir (length, crc, payload, crc per record)."""
  from tensorboardX.proto.event_pb2 import Event
  events = []
  for path in sorted(logdir.iterdir()):
    data = path.read_bytes()
    while data:
      (length,) = struct.unpack('<Q', data[:8])
      events.append(Event.FromString(data[12:12 + length]))
      data = data[12 + length + 4:]
  return events


def test_scalars_and_the_resume_purge_reach_tensorboard(tmp_path):
  log = MetricsLog(tmp_path, resume_step=0)
  for step in range(1, 6):
    log.write(step, 'train', {'loss': 1.0 / step, 'accuracy': 0.5, 'note': 'not a scalar'})
  log.close()
  log = MetricsLog(tmp_path, resume_step=3)  # a restart from the step-3 checkpoint
  log.write(4, 'train', {'loss': 0.25, 'accuracy': 0.75})
  log.close()

  records = [json.loads(line) for line in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in records] == [1, 2, 3, 4]
  assert records[-1] == {'step': 4, 'split': 'train', 'loss': 0.25, 'accuracy': 0.75}

  events = sorted(_events(tmp_path / 'tensorboard'), key=lambda e: e.wall_time)
  scalars = [(e.step, {v.tag: v.simple_value for v in e.summary.value})
             for e in events if e.HasField('summary')]
  assert [step for step, _ in scalars] == [1, 2, 3, 4, 5, 4]
  assert scalars[0][1] == {'train/loss': 1.0, 'train/accuracy': 0.5}
  assert scalars[-1][1] == {'train/loss': 0.25, 'train/accuracy': 0.75}
  # Each writer first tells TensorBoard to drop earlier writers' events from its step on.
  assert sorted(e.step for e in events if e.HasField('session_log')) == [1, 4]


def test_writing_a_record_does_not_import_pytorch(tmp_path):
  """tensorboardX imports PyTorch wherever it is installed (2 s on the first record): a stand-in
  `torch` package on the path fails the run if anything imports it."""
  (tmp_path / 'torch').mkdir()
  (tmp_path / 'torch' / '__init__.py').write_text('raise SystemExit("torch was imported")\n')
  code = ('import pathlib, sys; from research.train.metrics_log import MetricsLog; '
          f'log = MetricsLog(pathlib.Path({str(tmp_path / "run")!r}), resume_step=0); '
          "log.write(1, 'train', {'loss': 1.0}); log.close(); print('torch' in sys.modules)")
  repo = pathlib.Path(__file__).resolve().parents[1]
  done = subprocess.run([sys.executable, '-c', code], cwd=repo, capture_output=True, text=True,
                        env={'PYTHONPATH': f'{tmp_path}:{repo}'})
  assert done.returncode == 0, done.stderr
  assert done.stdout.strip() == 'False'
