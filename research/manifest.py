"""The run manifest: what a reader needs to reproduce a run or to know why it differs."""
import datetime
import importlib.metadata
import os
import pathlib
import platform
import subprocess
import sys

import jax

from research import runtime
from research.nn import switch

# The packages whose versions decide a run's numbers; pinned in pyproject.toml.
PACKAGES = ('jax', 'jaxlib', 'flax', 'optax', 'chex', 'orbax-checkpoint', 'numpy',
            'ml-collections', 'scikit-learn', 'tensorboardX', 'matplotlib', 'sympy', 'scipy',
            # The accelerator plugins (None where not installed: a CPU-only install).
            'jax-cuda12-plugin', 'jax-cuda12-pjrt', 'jax-cuda13-plugin', 'jax-cuda13-pjrt',
            'libtpu')
REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
  try:
    out = subprocess.run(['git', '-C', str(REPO_ROOT), *args], capture_output=True, text=True,
                         timeout=10, check=True)
  except (OSError, subprocess.SubprocessError):
    return None
  return out.stdout.strip()


def code_version() -> dict:
  """The git commit of the code and whether the work tree had uncommitted changes."""
  status = _git('status', '--porcelain', '--untracked-files=no')
  return {'git_commit': _git('rev-parse', 'HEAD'),
          'git_dirty': None if status is None else bool(status)}


def package_versions() -> dict:
  versions = {}
  for name in PACKAGES:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      versions[name] = None
  return versions


def host_cpu() -> dict:
  """The host's CPU model and core count: XLA:CPU compiles for the CPU it runs on, so float
  results and timings are comparable only between runs on the same kind."""
  model = None
  try:
    for line in pathlib.Path('/proc/cpuinfo').read_text().splitlines():
      if line.startswith('model name'):
        model = line.split(':', 1)[1].strip()
        break
  except OSError:
    pass
  return {'cpu_model': model or platform.processor() or None, 'cpu_count': os.cpu_count()}


def build_manifest(argv: list[str], seed: int) -> dict:
  devices = jax.devices()
  return {
      **code_version(),
      'packages': package_versions(),
      'python': sys.version.split()[0],
      'platform': platform.platform(),
      **host_cpu(),
      'jax_backend': jax.default_backend(),
      'devices': [str(d) for d in devices],
      'device_kind': devices[0].device_kind,
      # The runtime under the backend: the CUDA and cuDNN versions on a GPU, libtpu's on a TPU.
      'platform_version': devices[0].client.platform_version,
      # How float32 matrix products run where not set per run (None: the platform's default,
      # TF32 on recent NVIDIA GPUs, one bfloat16 pass on TPUs); a run's `precision` is in
      # its config.json.
      'default_matmul_precision': jax.config.jax_default_matmul_precision,
      'process_count': jax.process_count(),
      'xla_flags': os.environ.get('XLA_FLAGS', ''),
      'host_runtime': runtime.applied(),
      'layers': switch.layer_kind(),  # CPU-tuned or flax's plain layers
      'command_line': argv,
      'seed': seed,
      'created': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
  }


# What a checkpoint's bits depend on beyond the code and the config: bit-exact resume is
# promised only where these match.
MACHINE_KEYS = ('jax_backend', 'device_kind', 'platform_version', 'layers')


def machine_changes(saved: dict, current: dict) -> list[str]:
  """The machine and software facts that differ between the manifest a checkpoint was written
  under and the current one: 'device_kind: A -> B', 'packages.jaxlib: 0.1 -> 0.2', ... A fact
  only one of them records (written by older code, which did not) is not a change."""
  pairs = [(key, saved.get(key), current.get(key)) for key in MACHINE_KEYS
           if key in saved and key in current]
  packages = (saved.get('packages') or {}, current.get('packages') or {})
  pairs += [(f'packages.{name}', packages[0][name], packages[1][name])
            for name in sorted(set(packages[0]) & set(packages[1]))]
  return [f'{key}: {a} -> {b}' for key, a, b in pairs if a != b]
