"""Training throughput against PyTorch and against the machine

How many training samples per second does our jitted train step process, one dispatch per
step and `steps_per_call` steps per dispatch (lax.scan, for the workloads in `scan_workloads`:
XLA's CPU backend runs convolutions inside a loop body many times slower), against PyTorch
eager on the same model, batch and optimizer in the same process; and what fraction of the
machine's measured float32 matrix-multiply rate does it reach (FLOPs from XLA's cost
analysis)?
"""
import pathlib

from experiments.throughput import matmuls, ours, timing, torch_reference
from experiments.throughput.workloads import WORKLOADS
from research import report

TITLE = 'Training throughput against PyTorch and against the machine'


def measure(config) -> dict:
  machine = timing.matmul_rates(config.matmul_size, config.repeats, config.min_repeat_s)
  rows = []
  for name in config.workloads:
    workload = WORKLOADS[name]
    dataset = workload.dataset()
    print(f'    {name}', flush=True)
    step = ours.Trainer(workload, dataset, config.batch_size, 1)
    contenders = {'ours_step': (step.steps, 1)}
    if name in config.scan_workloads:
      scan = ours.Trainer(workload, dataset, config.batch_size, config.steps_per_call)
      contenders['ours_scan'] = (scan.steps, scan.k)
    if torch_reference.available() and config.torch:
      reference = torch_reference.Trainer(workload, dataset, config.batch_size)
      contenders['torch'] = (reference.steps, 1)
    extra = {}
    if workload.model == 'mlp':  # the ceiling its shapes allow (matmuls.py)
      alone = matmuls.MatmulsAlone(matmuls.mlp_widths(workload, dataset), config.batch_size)
      contenders['matmuls_alone'], extra['matmul_flops'] = (alone.steps, 1), alone.flops
    timed = timing.alternate(contenders, config.repeats, config.min_repeat_s)
    rows.append({'workload': name, 'description': workload.description, **step.step_cost(),
                 **extra, 'timings': timed})
  if not config.torch:
    torch_note = 'PyTorch comparison off (torch=False): ours alone.'
  elif not torch_reference.available():
    torch_note = 'PyTorch is not installed (`make torch` installs the CPU build): ours alone.'
  else:
    torch_note = (f'PyTorch {torch_reference.version()}, eager, in the same process, '
                  'repeats alternated with ours.')
  return {'matmul_gflops': machine, 'rows': rows, 'batch_size': config.batch_size,
          'torch_note': torch_note}


def summarize(results: dict) -> list[dict]:
  """Per workload: samples/s of each contender, our best against PyTorch, GFLOP/s and the
  fraction of the machine's matrix-multiply rate."""
  limit = max(results['matmul_gflops'].values())
  out = []
  for row in results['rows']:
    rate = {name: results['batch_size'] / t['step_s'] for name, t in row['timings'].items()}
    best = max(rate['ours_step'], rate.get('ours_scan', 0.0))
    gflops = row['flops'] * best / results['batch_size'] / 1e9
    out.append({'workload': row['workload'], **{f'{k}_samples_s': v for k, v in rate.items()},
                'spread': max(t['spread'] for t in row['timings'].values()),
                'ours_over_torch': best / rate['torch'] if 'torch' in rate else None,
                'gflops': gflops, 'fraction_of_matmul': gflops / limit})
    if 'matmuls_alone' in rate:
      alone_gflops = row['matmul_flops'] * rate['matmuls_alone'] / results['batch_size'] / 1e9
      out[-1].update(matmuls_alone_gflops=alone_gflops,
                     matmuls_alone_fraction_of_matmul=alone_gflops / limit,
                     step_time_in_matmuls=best / rate['matmuls_alone'])
  return out


def analyze(results: dict) -> dict:
  rows = summarize(results)
  return {'headline': {r['workload']: {k: v for k, v in r.items() if k != 'workload'}
                       for r in rows},
          'rows': rows,
          'has_torch': all(r['ours_over_torch'] is not None for r in rows),
          'faster_than_torch': [r['workload'] for r in rows
                                if r['ours_over_torch'] is not None and r['ours_over_torch'] > 1]}


def plot(results: dict, findings: dict, workdir: pathlib.Path) -> None:
  rows = findings['rows']
  with report.figure(workdir / 'throughput.png') as (_, (ax,)):
    series = ['ours_step', 'ours_scan'] + (['torch'] if findings['has_torch'] else [])
    for i, key in enumerate(series):
      ax.bar([x + 0.27 * i for x in range(len(rows))],
             [r.get(f'{key}_samples_s', 0) for r in rows], 0.27, label=key.replace('_', ', '))
    ax.set_xticks([x + 0.27 for x in range(len(rows))], [r['workload'] for r in rows])
    ax.set_yscale('log')
    ax.set_ylabel('training samples / s')
    ax.legend(fontsize=8)


def render(results: dict, findings: dict) -> str:
  rows, has_torch = findings['rows'], findings['has_torch']
  headers = ['workload', 'ours, step/dispatch', 'ours, scan',
             *(['PyTorch eager', 'ours / PyTorch'] if has_torch else []),
             'GFLOP/s', 'of matmul rate', 'spread']
  table = report.markdown_table(headers, [
      [r['workload'], f'{r["ours_step_samples_s"]:,.0f}',
       f'{r["ours_scan_samples_s"]:,.0f}' if 'ours_scan_samples_s' in r else 'not run',
       *([f'{r["torch_samples_s"]:,.0f}', f'{r["ours_over_torch"]:.2f}x'] if has_torch else []),
       f'{r["gflops"]:.1f}', f'{r["fraction_of_matmul"]:.0%}', f'{r["spread"]:.0%}']
      for r in rows])
  matmul = ', '.join(f'{k} {v:.0f}' for k, v in results['matmul_gflops'].items())
  verdicts = [f'{r["workload"]}: ours/PyTorch {r["ours_over_torch"]:.2f}x' for r in rows
              if r['ours_over_torch'] is not None]
  if verdicts:
    faster = ', '.join(findings['faster_than_torch']) or 'none'
    verdicts.append(f'ours is faster on {faster}')
  fractions = ', '.join(f'{r["fraction_of_matmul"]:.0%} ({r["workload"]})' for r in rows)
  ceilings = ''.join(
      f' {r["workload"]}\'s matrix multiplies alone, at its shapes and batch, run at '
      f'{r["matmuls_alone_gflops"]:.0f} GFLOP/s ({r["matmuls_alone_fraction_of_matmul"]:.0%} of '
      f'the measured rate), and take {r["step_time_in_matmuls"]:.0%} of its step\'s time.'
      for r in rows if 'matmuls_alone_gflops' in r)
  return (f'Batch {results["batch_size"]}, Adam, float32, one device. {results["torch_note"]} '
          'Samples/s are medians over repeats; spread is (max - min) / median of the noisiest '
          f'contender. Measured float32 matrix-multiply rate (GFLOP/s): {matmul}.\n\n'
          f'{table}\n\n![throughput](throughput.png)\n\n'
          f'Conclusion: {"; ".join(verdicts) or "no PyTorch to compare with"}. Our step '
          f'reaches {fractions} of the measured matrix-multiply rate.{ceilings}')
