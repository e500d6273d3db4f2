"""The parts of launch/gpu_check.py, each a function of (size, workdir) -> a dict of findings.

`size` is FULL on the accelerator, TOY for the CPU path the tests run: the same code, smaller
models, fewer steps.
"""
import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree

import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
# Peak dense rates (FLOP/s) from NVIDIA's datasheets (H100 and H200 SXM: the same compute),
# for MFU; an unknown device gets no MFU rather than a guess.
PEAK_FLOPS = {'H100': {'float32': 67e12, 'mixed': 989e12},
              'H200': {'float32': 67e12, 'mixed': 989e12}}


@dataclasses.dataclass(frozen=True)
class Size:
  model: str               # the determinism and speed runs' model, with its options
  options: dict
  image: tuple[int, int]   # its synthetic images' side and channels
  steps: int               # determinism runs: steps, with a checkpoint at half
  timed_steps: int         # speed: steps timed per precision, after one untimed call
  batch: int
  tests: tuple[str, ...]   # pytest node selections run on the platform
  workloads: str           # the throughput experiment's
  numerics_batch: tuple[int, int]  # the numerics' CNN batch: examples and image side
  # Whether determinism also runs with RESEARCH_DETERMINISTIC=1 (a GPU flag: on the CPU, where
  # the toy size runs, it changes nothing).
  deterministic_mode: bool = True


FULL = Size(model='resnet', options={'depth': 20}, image=(32, 3), steps=20, timed_steps=100,
            batch=128, tests=('tests/test_precision.py', 'tests/test_models.py::'
                              'test_cpu_tuned_and_plain_layers_compute_the_same_model'),
            workloads='(tiny_mlp,mlp_4x512,cnn)', numerics_batch=(64, 28))
TOY = Size(model='mlp', options={'depth': 1, 'width': 16}, image=(8, 1), steps=2, timed_steps=4,
           batch=16, workloads='(tiny_mlp,)', numerics_batch=(8, 8), deterministic_mode=False,
           tests=('tests/test_precision.py::test_an_unknown_precision_is_one_line_and_exit_2',))


def device() -> dict:
  import jax
  from research import manifest
  devices = jax.devices()
  packages = manifest.package_versions()
  return {'platform': devices[0].platform, 'device_kind': devices[0].device_kind,
          'count': len(devices), 'platform_version': devices[0].client.platform_version,
          'jax': packages['jax'], 'jaxlib': packages['jaxlib'],
          'plugins': {k: v for k, v in packages.items() if v and ('cuda' in k or 'tpu' in k)}}


def tests(size: Size, platform: str, out: pathlib.Path) -> dict:
  """The selected tests on this platform (conftest.py's RESEARCH_TEST_PLATFORM); those that
  need eight devices are deselected: one accelerator is the usual loan. The counts come from
  a JUnit XML file, which pytest writes whatever its terminal output; a failure keeps the
  output's last lines, stdout's and stderr's, so one borrowed run is enough to learn why."""
  junit = out / 'tests.xml'
  junit.unlink(missing_ok=True)
  command = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', *size.tests,
             '-k', 'not 8_devices', f'--junitxml={junit}']
  done = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                        env={**os.environ, 'RESEARCH_TEST_PLATFORM': platform})
  found = {'command': ' '.join(command[2:-1]), 'exit_code': done.returncode,
           'summary': (done.stdout.strip().splitlines() or [''])[-1],
           'junit': _junit_counts(junit)}
  if done.returncode != 0:
    found['stdout_tail'] = done.stdout.strip().splitlines()[-15:]
    found['stderr_tail'] = done.stderr.strip().splitlines()[-15:]
  return found


def _junit_counts(junit: pathlib.Path) -> dict | str:
  if not junit.exists():
    return 'not written'
  suite = ElementTree.parse(junit).getroot()
  suite = suite if suite.tag == 'testsuite' else suite.find('testsuite')
  return {key: int(suite.get(key, 0)) for key in ('tests', 'failures', 'errors', 'skipped')}


def determinism(size: Size, workdir: pathlib.Path) -> dict:
  """Per mode (the platform default, RESEARCH_DETERMINISTIC=1): a short run twice, each
  in a fresh process compiling cold (no persistent cache), and a resume from the first run's
  mid-run checkpoint in a third; equal fingerprints or not."""
  found = {}
  modes = {'default': {}, 'deterministic': {'RESEARCH_DETERMINISTIC': '1'}}
  for mode, extra in list(modes.items())[:2 if size.deterministic_mode else 1]:
    runs = [_run_in_fresh_process(size, workdir / f'{mode}_{i}', extra) for i in (0, 1)]
    newest = max((workdir / f'{mode}_0' / 'checkpoints').iterdir(), key=lambda p: int(p.name))
    shutil.rmtree(newest)  # as a run killed after its mid-run checkpoint leaves it
    resumed = _run_in_fresh_process(size, workdir / f'{mode}_0', extra)
    found[mode] = {'fingerprints': [runs[0], runs[1], resumed],
                   'two_runs_equal': runs[0] == runs[1], 'resume_equal': resumed == runs[0]}
  return found


def _run_in_fresh_process(size: Size, workdir: pathlib.Path, extra_env: dict) -> str:
  code = ('import json, sys; from research import runtime; runtime.configure(); '
          'from launch import gpu_check_parts as p; '
          'print(json.dumps(p.short_run(p.FULL if sys.argv[1] == "full" else p.TOY, '
          'sys.argv[2])))')
  env = {k: v for k, v in os.environ.items() if k != 'JAX_COMPILATION_CACHE_DIR'}
  done = subprocess.run([sys.executable, '-c', code, 'full' if size == FULL else 'toy',
                         str(workdir)], cwd=REPO, capture_output=True, text=True,
                        env={**env, **extra_env}, check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])


def _config(size: Size, **overrides):
  from research.train import config as config_lib
  return config_lib.replace(
      config_lib.TrainConfig(), model=size.model, num_devices=1, batch_size=size.batch,
      **{f'{size.model}.{key}': value for key, value in size.options.items()}, **overrides)


def _dataset(size: Size, batches: int):
  from research.data.synthetic import load_synthetic
  side, channels = size.image
  return load_synthetic(image_size=side, channels=channels, num_train=batches * size.batch,
                        num_test=size.batch)


def short_run(size: Size, workdir: str) -> str:
  """`size`'s model trained for its steps, checkpointed at half way: the state's fingerprint."""
  from research.train import loop
  config = _config(size, steps=size.steps, checkpoint_every=size.steps // 2,
                   eval_every=size.steps, log_every=size.steps // 2)
  return loop.train_and_evaluate(config, pathlib.Path(workdir), _dataset(size, 4), {})[
      'state_fingerprint']


def speed(size: Size, device_kind: str) -> dict:
  """`size`'s model at its batch, float32 and mixed: images/s, step time and MFU (XLA's FLOPs
  per step over the device's peak rate), timing `timed_steps` steps as one call after one
  untimed call that compiles."""
  import jax
  from research.train import loop
  dataset, rows = _dataset(size, 8), {}
  for precision in ('float32', 'mixed'):
    k = size.timed_steps
    config = _config(size, steps=2**30, steps_per_call=k, log_every=k, eval_every=k,
                     checkpoint_every=k, precision=precision)
    run = loop.open_run(config, dataset)
    state = run.initial_state()
    counts = run.backend.train_step.lower(state, *run.source.train(0)).compile().cost_analysis()
    counts = counts[0] if isinstance(counts, list) else (counts or {})
    state, metrics, taken = run.call(state, 0)
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    state, metrics, taken = run.call(state, taken)
    jax.block_until_ready(metrics)
    seconds = (time.perf_counter() - start) / taken
    flops = float(counts.get('flops', 0.0))
    peak = next((p[precision] for name, p in PEAK_FLOPS.items() if name in device_kind), None)
    rows[precision] = {'images_per_s': size.batch / seconds, 'step_ms': 1e3 * seconds,
                       'flops_per_step': flops,
                       'mfu': flops / seconds / peak if peak and flops else None}
  return rows


CNN = dict(channels=(16, 32), dense=(64,), norm='batch')  # the numerics' model: every layer kind


def numerics(size: Size, workdir: pathlib.Path) -> dict:
  """Loss and gradients of a small CNN with BatchNorm on one batch, from the CPU-tuned layers
  and from flax's, in float32 under the platform's default matrix-multiply precision and under
  'highest', against float64 on the host CPU (computed in a subprocess with x64 on): the
  relative error of the loss and of the whole gradient (norm of the difference over the
  reference's norm)."""
  import jax
  rng = np.random.default_rng(0)
  examples, side = size.numerics_batch
  batch = {'images': rng.standard_normal((examples, side, side, 1)).astype(np.float32),
           'labels': rng.integers(0, 10, examples)}
  params = _cnn_params(side)
  np.savez(workdir / 'numerics_inputs.npz', **batch,
           **{f'p{i}': x for i, x in enumerate(jax.tree.leaves(params))})
  found = {}
  for kind in ('cpu_tuned', 'plain'):
    for matmul in ('default', 'highest'):
      with jax.default_matmul_precision(matmul):
        found[f'{kind}, {matmul}'] = cnn_loss_and_grads(kind, params, batch)
  code = ('import sys; from launch import gpu_check_parts as p; '
          'p.float64_reference(sys.argv[1], int(sys.argv[2]))')
  subprocess.run([sys.executable, '-c', code, str(workdir), str(side)], cwd=REPO, check=True,
                 env={**os.environ, 'JAX_ENABLE_X64': '1', 'JAX_PLATFORMS': 'cpu'})
  reference = np.load(workdir / 'numerics_float64.npz')
  return {name: _errors(result, reference) for name, result in found.items()}


def _cnn_params(side: int):
  import jax
  from research.models import build_model
  model = build_model('cnn', CNN, 10)
  return model.init(jax.random.key(0), np.zeros((1, side, side, 1), np.float32), train=False)


def cnn_loss_and_grads(kind: str, variables, batch) -> dict:
  import jax
  import optax
  from research.models import build_model
  from research.nn import switch
  with switch.forced(kind):
    model = build_model('cnn', CNN, 10)

    def loss(params):
      logits, _ = model.apply({**variables, 'params': params}, batch['images'], train=True,
                              mutable=['batch_stats'])
      return optax.softmax_cross_entropy_with_integer_labels(logits, batch['labels']).mean()
    value, grads = jax.jit(jax.value_and_grad(loss))(variables['params'])
  return {'loss': np.asarray(value, np.float64),
          'grads': np.concatenate([np.ravel(g) for g in jax.tree.leaves(grads)]).astype(
              np.float64)}


def float64_reference(workdir: str, side: int) -> None:
  """In a process with x64 on, on the CPU: flax's layers in float64 from the same inputs."""
  import jax
  from research import precision
  saved = np.load(pathlib.Path(workdir) / 'numerics_inputs.npz')
  structure = jax.tree.structure(_cnn_params(side))
  variables = jax.tree.unflatten(structure, [saved[f'p{i}'] for i in range(structure.num_leaves)])
  batch = {'images': saved['images'].astype(np.float64), 'labels': saved['labels']}
  result = cnn_loss_and_grads('plain', precision.cast_floats(variables, np.float64), batch)
  np.savez(pathlib.Path(workdir) / 'numerics_float64.npz', **result)


def _errors(result: dict, reference) -> dict:
  grads = reference['grads']
  return {'loss': float(abs(result['loss'] - reference['loss']) / abs(reference['loss'])),
          'grads': float(np.linalg.norm(result['grads'] - grads) / np.linalg.norm(grads))}
