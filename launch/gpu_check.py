"""One call for a borrowed accelerator: does the engine run there, deterministically, how fast.

    launch/gpu_check.sh [--dry-run] [--out DIR] [--toy] [--budget SECONDS]

In the order of PARTS below, each part timed; a part is skipped (and the report says so) once
it would not fit in the budget (300 s).
Writes gpu_check.json and gpu_check.md in --out (default runs/gpu_check). --toy runs every
part at toy size on whatever platform JAX picks (the CPU path tests/test_gpu_check.py runs).
Beyond JAX, flax, optax, orbax and chex it needs the project's other pins (ml-collections,
tensorboardX, scikit-learn, ...): where one is missing it says which, in one line, and exits 2.
"""
import argparse
import importlib.util
import json
import pathlib
import subprocess
import sys
import time

PARTS = {
    'device': 'what JAX sees: kind, count, runtime (CUDA/cuDNN, libtpu) and plugin versions',
    'tests': 'tests/test_precision.py and the CPU-tuned-against-flax layer test on this '
             'platform (RESEARCH_TEST_PLATFORM), the eight-device tests deselected',
    'determinism': 'a short ResNet run twice, each in a fresh process compiled cold, and a '
                   'resume from its mid-run checkpoint; without and with '
                   'RESEARCH_DETERMINISTIC=1: equal fingerprints or not',
    'numerics': "a CNN's loss and gradients from the CPU-tuned layers and flax's, under the "
                "platform's default matmul precision and 'highest', against float64 on the CPU",
    'speed': 'ResNet-20, batch 128, 32 x 32 x 3, float32 and precision=mixed: images/s, step '
             'time, MFU (XLA FLOPs over the datasheet peak; --toy: a small MLP)',
    'throughput': "the throughput experiment's tiny MLP, MLP 4x512 and CNN (its --quick steps)",
}
NEEDED = ('jax', 'flax', 'optax', 'orbax.checkpoint', 'chex', 'ml_collections', 'tensorboardX',
          'sklearn', 'scipy', 'matplotlib', 'tqdm', 'pytest')
# Seconds each part is expected to need on an H100-class GPU, for the budget: a part starts
# only if this much is left.
EXPECTED_S = {'device': 5, 'tests': 90, 'determinism': 90, 'numerics': 30, 'speed': 45,
              'throughput': 60}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', default='runs/gpu_check')
  parser.add_argument('--toy', action='store_true')
  parser.add_argument('--dry-run', action='store_true')
  parser.add_argument('--budget', type=float, default=300.0)
  args = parser.parse_args(argv)
  if args.dry_run:
    print(f'would run, within {args.budget:g} s, writing {args.out}/gpu_check.json and .md:')
    for part, what in PARTS.items():
      print(f'  {part}: {what}')
    return 0
  missing = [m for m in NEEDED if importlib.util.find_spec(m.split('.')[0]) is None]
  if missing:
    print(f'error: missing {", ".join(missing)}: pip install -c requirements.lock -e .[test] '
          'installs them', file=sys.stderr)
    return 2
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  report = run_parts(out, args.toy, args.budget)
  (out / 'gpu_check.json').write_text(json.dumps(report, indent=2, default=str) + '\n')
  (out / 'gpu_check.md').write_text(markdown(report))
  print((out / 'gpu_check.md').read_text())
  return 0


def run_parts(out: pathlib.Path, toy: bool, budget: float) -> dict:
  from research import runtime
  runtime.configure()
  from launch import gpu_check_parts as parts
  size = parts.TOY if toy else parts.FULL
  start, report = time.perf_counter(), {'toy': toy, 'budget_s': budget, 'parts': {}}
  for part in PARTS:
    left = budget - (time.perf_counter() - start)
    if left < (1 if toy else EXPECTED_S[part]):
      report['parts'][part] = {'skipped': f'{left:.0f} s of the budget left'}
      continue
    began = time.perf_counter()
    try:
      found = _run(part, parts, size, out, report, toy)
    except (subprocess.CalledProcessError, RuntimeError, ValueError) as error:
      found = {'failed': f'{type(error).__name__}: {str(error)[-500:]}'}
    report['parts'][part] = {'seconds': round(time.perf_counter() - began, 1), **found}
  return report


def _run(part, parts, size, out, report, toy) -> dict:
  if part == 'device':
    return parts.device()
  if part == 'tests':  # JAX_PLATFORMS names NVIDIA's GPUs 'cuda'
    platform = report['parts']['device']['platform'].replace('gpu', 'cuda')
    return parts.tests(size, platform, out)
  if part == 'determinism':
    return parts.determinism(size, out / 'determinism')
  if part == 'numerics':
    return parts.numerics(size, out)
  if part == 'speed':
    return parts.speed(size, report['parts']['device']['device_kind'])
  return _throughput(size, out, toy)


def _throughput(size, out: pathlib.Path, toy: bool) -> dict:
  command = [sys.executable, '-m', 'experiments', 'run', 'throughput', '--quick',
             '--workdir', str(out / 'throughput'), '--restart', 'sections=(steps,)',
             f'workloads={size.workloads}', 'torch=False',
             *(['repeats=1', 'min_repeat_s=0.05'] if toy else [])]
  subprocess.run(command, capture_output=True, text=True, check=True)
  results = json.loads((out / 'throughput' / 'results.json').read_text())
  return {'command': ' '.join(command[1:]), 'headline': results.get('headline', {})}


def markdown(report: dict) -> str:
  lines = ['# GPU check' + (' (toy size)' if report['toy'] else ''), '']
  device = report['parts'].get('device', {})
  lines += [f"Device: {device.get('count')} x {device.get('device_kind')} "
            f"({device.get('platform')}, {device.get('platform_version')}), JAX "
            f"{device.get('jax')}, plugins {device.get('plugins')}.", '',
            '| part | seconds | finding |', '| --- | --- | --- |']
  for part, found in report['parts'].items():
    if part == 'device':
      continue
    shown = {k: v for k, v in found.items() if k != 'seconds'}
    lines.append(f"| {part} | {found.get('seconds', '-')} | "
                 f"{json.dumps(shown, default=str)[:600]} |")
  return '\n'.join(lines) + '\n'


if __name__ == '__main__':
  sys.exit(main())
