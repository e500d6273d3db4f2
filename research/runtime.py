"""Process-wide settings that make training on a CPU host fast, applied before JAX starts.

`configure()` must run before JAX creates its backend (the CLI and tests/conftest.py call it
first thing); it sets:

1. XLA's CPU backend hands every dot and convolution to the YNNPACK library by default, and
   its convolution kernel gradients are slower than XLA's own convolutions; dots stay on
   YNNPACK, as fast or faster for the MLP's shapes. A user's own
   `--xla_cpu_experimental_ynn_fusion_type` wins.
2. glibc's allocator returns every block over its mmap threshold to the kernel on free, so a
   program whose temporaries total tens of MB (XLA allocates them as one block per call) pays
   fresh-page faults on every step. `mallopt` raises the mmap and trim thresholds to
   1 GiB and 2 GiB. Skipped where a MALLOC_* variable is set (the user's tuning wins) or
   the C library is not glibc. PyTorch, in the same process, gains from it too.
docs/performance.md has the measurements behind both. Both are for the CPU backend only: where
JAX will run on a GPU or TPU (JAX_PLATFORMS names another platform first, or, unset, an
accelerator plugin is installed) nothing is applied, except:
3. RESEARCH_DETERMINISTIC=1 adds `--xla_gpu_deterministic_ops=true`: XLA:GPU then picks
   deterministic kernels (no autotuning races, no atomics in reductions and scatters), slower,
   so that two runs of one program give the same bits, as the CPU backend always does.
"""
import ctypes
import importlib.util
import os
import platform
import sys

XLA_CPU_FLAGS = {'--xla_cpu_experimental_ynn_fusion_type': 'individual_dot'}
# mallopt parameters (glibc's malloc.h) and the values set.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MALLOC_SETTINGS = {'mmap_threshold': (_M_MMAP_THRESHOLD, 1 << 30),
                   'trim_threshold': (_M_TRIM_THRESHOLD, 1 << 31)}

DETERMINISTIC_ENV = 'RESEARCH_DETERMINISTIC'
GPU_DETERMINISTIC_FLAG = '--xla_gpu_deterministic_ops=true'

_applied: dict = {}
# Modules an accelerator build of JAX installs (CUDA and ROCm plugins live in jax_plugins).
ACCELERATOR_MODULES = ('jax_plugins', 'jax_cuda12_plugin', 'jax_cuda13_plugin', 'libtpu')


def cpu_backend_expected() -> bool:
  """Whether JAX will run on the CPU, decided before it starts."""
  platforms = os.environ.get('JAX_PLATFORMS', '').strip()
  if platforms:
    return platforms.split(',')[0].strip() == 'cpu'
  return not any(importlib.util.find_spec(name) for name in ACCELERATOR_MODULES)


def _jax_backend_started() -> bool:
  if 'jax' not in sys.modules:
    return False
  from jax._src import xla_bridge  # no public query for this
  return xla_bridge.backends_are_initialized()


def _with_default_flags(xla_flags: str) -> str:
  names = {token.split('=')[0] for token in xla_flags.split()}
  added = [f'{name}={value}' for name, value in XLA_CPU_FLAGS.items() if name not in names]
  return ' '.join([xla_flags.strip(), *added]).strip()


def _tune_malloc() -> dict:
  if any(key.startswith('MALLOC_') for key in os.environ):
    return {'skipped': 'a MALLOC_* environment variable is set'}
  if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc':
    return {'skipped': 'not glibc'}
  mallopt = ctypes.CDLL(None).mallopt
  return {name: value for name, (param, value) in MALLOC_SETTINGS.items()
          if mallopt(param, value) == 1}


def configure() -> dict:
  """Applies the settings once per process; returns what was applied (for the manifest)."""
  if not _applied and not cpu_backend_expected():
    _applied['xla_flags'] = 'not applied: JAX will not run on the CPU'
    _applied['malloc'] = {'skipped': 'JAX will not run on the CPU'}
    _applied['deterministic'] = _accelerator_determinism()
  if not _applied:
    if _jax_backend_started():
      _applied['xla_flags'] = 'not applied: JAX had already started its backend'
    else:
      os.environ['XLA_FLAGS'] = _with_default_flags(os.environ.get('XLA_FLAGS', ''))
      _applied['xla_flags'] = os.environ['XLA_FLAGS']
    _applied['malloc'] = _tune_malloc()
    _applied['deterministic'] = 'always: the CPU backend'
  return dict(_applied)


def _accelerator_determinism() -> str:
  """Adds the GPU determinism flag where RESEARCH_DETERMINISTIC=1 asks; says what holds."""
  if os.environ.get(DETERMINISTIC_ENV) != '1':
    return f'the platform default (set {DETERMINISTIC_ENV}=1 for deterministic GPU ops)'
  if _jax_backend_started():
    return 'not applied: JAX had already started its backend'
  flags = os.environ.get('XLA_FLAGS', '')
  if GPU_DETERMINISTIC_FLAG.split('=')[0] not in flags:
    os.environ['XLA_FLAGS'] = f'{flags} {GPU_DETERMINISTIC_FLAG}'.strip()
  return f'requested: XLA_FLAGS={os.environ["XLA_FLAGS"]}'


def applied() -> dict:
  """What configure() applied in this process ({} if it was not called)."""
  return dict(_applied)
