"""Eight CPU devices for every test: multi-device code is tested on the host platform.

XLA reads the flag once, when JAX initialises its backend, so it is set here before any test
module imports JAX; likewise the compilation cache below.
"""
import os

# Compiling is most of the suite's time, so the tests compile faster than a user's run does:
# LLVM at -O1 rather than -O2 (about a quarter less compile time), XLA:CPU's older loop
# emitters rather than its MLIR fusion emitters (about a quarter less again, measured on the
# suite's heaviest files), and each program's machine code generated as one LLVM module
# rather than split into parts for parallel threads: the two xdist workers already keep every
# core busy, so the split only adds work (docs/performance.md). The first two change the
# generated code, and with it float rounding in the last bits; runs are compared with runs of
# the same session, under one setting, and a property of XLA's default code is tested at its
# defaults (subprocess_xla_flags(as_users=True)). A user's own setting wins.
COMPILE_FLAGS = {'--xla_backend_optimization_level': '1',
                 '--xla_cpu_use_fusion_emitters': 'false',
                 '--xla_cpu_parallel_codegen_split_count': '1'}
# The CPU platform even where an accelerator build of JAX is installed: the tests' tolerances
# and device counts are the CPU's, and xdist workers and subprocesses would share one GPU.
# RESEARCH_TEST_PLATFORM=cuda (or tpu) opts in to another platform, and there the CPU's
# compile flags are left out: they change nothing on it, and an XLA that no longer knows one
# (JAX 0.11 dropped the fusion-emitter flag) exits at once, its message swallowed by pytest's
# output capture.
os.environ['JAX_PLATFORMS'] = os.environ.get('RESEARCH_TEST_PLATFORM', 'cpu')
os.environ['XLA_FLAGS'] = ' '.join([
    os.environ.get('XLA_FLAGS', ''), '--xla_force_host_platform_device_count=8',
    *(f'{name}={value}' for name, value in COMPILE_FLAGS.items()
      if name not in os.environ.get('XLA_FLAGS', '')
      and os.environ['JAX_PLATFORMS'] == 'cpu')]).strip()
# Float32 products at full precision where the platform would round them (TF32 on NVIDIA GPUs,
# one bfloat16 pass on TPUs): the tests' float32 tolerances assume it.
if os.environ['JAX_PLATFORMS'] != 'cpu':
  os.environ.setdefault('JAX_DEFAULT_MATMUL_PRECISION', 'highest')

# Flax's plain layers rather than the ones rewritten for XLA:CPU (research/nn/switch.py): a test
# compiles far more than it runs, and the plain layers compile faster (the suite's test time
# about a sixth less, docs/performance.md). tests/test_models.py holds the CPU-tuned layers
# equal to flax's in every model family, and the README test runs a newcomer's defaults.
# RESEARCH_LAYERS=cpu_tuned runs the whole suite on the CPU-tuned layers.
os.environ.setdefault('RESEARCH_LAYERS', 'plain')
# One JAX compilation cache per test session, inherited by the xdist workers and by every
# subprocess: a program that several tests compile (the same model, the same run) is compiled
# once. It starts empty, so a clean run still pays every first compile.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  import tempfile
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='research-jax-cache-')
  os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0.3'
# A size limit makes JAX lock the cache file by file (experiments/cli.py says why): the two
# workers and their subprocesses read and write it at once.
os.environ.setdefault('JAX_COMPILATION_CACHE_MAX_SIZE', str(8 << 30))

import pathlib  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

from research import runtime  # noqa: E402

runtime.configure()  # the CLI's XLA and allocator settings, so tests compute what users do

REPO = pathlib.Path(__file__).resolve().parent.parent


def subprocess_xla_flags(device_count: int = 1, *, as_users: bool = False) -> str:
  """XLA_FLAGS for a test's subprocess: `device_count` CPU devices (one, as on a user's
  machine, unless a test asks for more) and the test process's compile settings, which also
  lets it reuse the session's compilation cache (the flags are part of the key). `as_users`
  leaves XLA's own settings: for a property of the code XLA generates for users (the older
  emitters round a loop body's fusions differently from the same step outside a loop)."""
  settings = re.findall(r'(?:%s)=\S+' % '|'.join(COMPILE_FLAGS), os.environ['XLA_FLAGS'])
  return ' '.join([f'--xla_force_host_platform_device_count={device_count}',
                   *([] if as_users else settings)])


def run_cli(*args: str, timeout: float = 300, env_extra: dict | None = None,
            cwd: pathlib.Path = REPO):
  """`python -m experiments ...` in a real subprocess, as a user would run it (from `cwd`, the
  repository by default)."""
  env = {**os.environ, 'XLA_FLAGS': subprocess_xla_flags(), **(env_extra or {})}
  return subprocess.run([sys.executable, '-m', 'experiments', *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def tiny_idx_dir(tmp_path):
  """Four small gzipped IDX files in the MNIST layout, and their content checksums."""
  import numpy as np

  from research.data import download, idx

  rng = np.random.default_rng(0)
  arrays = {
      'train-images-idx3-ubyte': rng.integers(0, 256, (64, 28, 28), dtype=np.uint8),
      'train-labels-idx1-ubyte': rng.integers(0, 10, (64,), dtype=np.uint8),
      't10k-images-idx3-ubyte': rng.integers(0, 256, (16, 28, 28), dtype=np.uint8),
      't10k-labels-idx1-ubyte': rng.integers(0, 10, (16,), dtype=np.uint8),
  }
  sums = {}
  for stem, array in arrays.items():
    idx.write_idx(tmp_path / f'{stem}.gz', array)
    sums[stem] = download.checksum((tmp_path / f'{stem}.gz').read_bytes(), gunzip=True)
  return tmp_path, arrays, sums


def run_killed_after_checkpoint(monkeypatch, step: int, train) -> None:
  """Runs `train()` as a process that dies right after writing its checkpoint at `step` (the
  write complete, nothing after it: what SIGKILL leaves), then restores the checkpointer."""
  from research.train import checkpoint
  save = checkpoint.Checkpointer.save

  def save_then_die(self, at, *args):
    save(self, at, *args)
    if at == step:
      self.close()  # waits for the write, as a finished checkpoint of a killed process has
      raise SystemExit('killed')

  monkeypatch.setattr(checkpoint.Checkpointer, 'save', save_then_die)
  with pytest.raises(SystemExit):
    train()
  monkeypatch.setattr(checkpoint.Checkpointer, 'save', save)


def short_run(config, devices: int, steps: int, host_batches: bool = False):
  """`steps` train steps of `config` on `devices` devices, one dispatch each: (per-step losses,
  the backend, the final state, the inputs), what the device-count and option tests compare."""
  import numpy as np
  from research.data import load_dataset
  from research.train import loop, parallel
  dataset = load_dataset(config.data)
  backend, host_state = loop.build_backend(config, dataset, parallel.select_devices(devices),
                                           host_batches)
  state = backend.put(host_state)
  inputs = loop.make_inputs(config, dataset, backend, host_batches)
  losses = []
  for step in range(steps):
    state, metrics = backend.train_step(state, *inputs.train(step))
    losses.append(float(np.ravel(metrics['loss'])[0]))
  return np.array(losses), backend, state, inputs
