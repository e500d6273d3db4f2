"""Section 2. Training deep sigmoid MLPs with and without skip connections.

If the first layers receive almost no gradient they barely move, and the network learns with
its top layers only, on features that stay random, or not at all. So as depth grows a plain
network should stop learning at some depth, and a residual or highway one should not. Glorot
and Bengio (2010) also saw the top hidden layer of a deep sigmoid network saturate early in
training; the saturation statistics are logged every few steps to check.
"""
import math

from experiments.vanishing_gradients import runs
from research import diagnostics, report

TITLE = 'Training: plain against residual and highway deep MLPs'
LEARNS = 2.0  # a network "learns" if its test accuracy reaches twice chance


def run_name(depth: int, skip: str, norm: str = 'none') -> str:
  return f'mlp_depth{depth}_{skip}' + ('' if norm == 'none' else f'_{norm}')


def settings(cfg, common, depth: int, skip: str, norm: str = 'none') -> dict:
  return {**common, 'model': 'mlp', 'mlp.depth': depth, 'mlp.width': cfg.width,
          'mlp.activation': cfg.activation, 'mlp.weight_init': cfg.weight_init,
          'mlp.skip': skip, 'mlp.norm': norm, 'steps': cfg.steps,
          'batch_size': cfg.batch_size, 'optim.name': 'adam',
          'optim.learning_rate': cfg.learning_rate, 'diagnostics_every': cfg.diagnostics_every,
          'log_every': cfg.log_every, 'eval_every': cfg.steps, 'checkpoint_every': cfg.steps}


def summarize(run: dict, depth: int, skip: str, norm: str, num_classes: int) -> dict:
  records = run.pop('records')
  train = [r for r in records if r['split'] == 'train']
  probes = [r for r in records if r['split'] == 'diagnostics']
  top, bottom = f'hidden_{depth - 1}', 'hidden_0'
  return {
      'depth': depth, 'skip': skip, 'norm': norm, 'test_accuracy': run['test']['accuracy'],
      'train_accuracy': runs.final_train_accuracy(records),
      'learns': run['test']['accuracy'] >= LEARNS / num_classes,
      'train_time_s': run['train_time_s'],
      'curve': {'step': [r['step'] for r in train], 'loss': [r['loss'] for r in train]},
      'saturation': {'step': [r['step'] for r in probes],
                     'top': [r.get(f'saturated/{top}') for r in probes],
                     'bottom': [r.get(f'saturated/{bottom}') for r in probes]},
      'grad_profile_start': diagnostics.profile(
          probes[0], 'grad_norm', [f'hidden_{i}' for i in range(depth)]).tolist()
      if probes else []}


def measure(cfg, context) -> dict:
  rows = []
  for skip in cfg.skips:
    for depth in cfg.depths:
      run = runs.train_run(run_name(depth, skip), settings(cfg, context.common, depth, skip),
                           context.workdir, context.dataset, context.manifest)
      rows.append(summarize(run, depth, skip, 'none', context.dataset.num_classes))
  return {'activation': cfg.activation, 'weight_init': cfg.weight_init, 'width': cfg.width,
          'steps': cfg.steps, 'data': context.dataset.name, 'rows': rows}


def curves_plot(path, rows, title: str) -> None:
  report.plot_curves(path, {f"{r['skip']} {r.get('norm', 'none')} depth {r['depth']}":
                            (r['curve']['step'], r['curve']['loss']) for r in rows},
                     'step', 'train loss', title=title, logy=True)


SATURATED = 0.05   # a layer with more saturated units than this at some probe "saturates"
VANISHED = 1e-3    # a first-over-last gradient norm ratio below this has "vanished"


def saturation_finding(row: dict) -> str:
  """What the deepest plain network's probes say about why it does or does not learn: the top
  layer's saturation (Glorot and Bengio 2010) and the first-over-last gradient ratio at the
  start, each against its threshold."""
  top = [v for v in row['saturation']['top'] if v is not None]
  profile = row['grad_profile_start']
  ratio = profile[0] / profile[-1] if len(profile) > 1 and profile[-1] else math.nan
  saturates, vanished = max(top) >= SATURATED, ratio < VANISHED
  text = (f" In the deepest plain network the saturated fraction of the top hidden layer goes "
          f"from {top[0]:.2f} at initialisation to a maximum of {max(top):.2f} during training, "
          f"and its first-over-last gradient ratio at the start is {ratio:.1e}")
  if row['learns']:
    return text + '.'
  causes = [c for c, present in (('the top layer saturates', saturates),
                                 ('the gradient has vanished', vanished)) if present]
  if not causes:
    return text + ': neither saturation nor a vanished gradient explains why it does not learn.'
  unlike = ('' if saturates else ' (unlike in Glorot and Bengio 2010, who trained with plain '
            'SGD from another initialisation, the top layer does not saturate)')
  return text + f": it does not learn, and {' and '.join(causes)}{unlike}."


def _saturated_plain(rows) -> dict | None:
  """The deepest plain run whose saturation was probed, if any."""
  probed = [r for r in rows if r['skip'] == 'none' and r['saturation']['step']]
  return max(probed, key=lambda r: r['depth']) if probed else None


def analyze(results) -> dict:
  rows = results['rows']
  plain = sorted((r for r in rows if r['skip'] == 'none'), key=lambda r: r['depth'])
  stops = next((r['depth'] for r in plain if not r['learns']), None)
  skipped = [r for r in rows if r['skip'] != 'none']
  worst_skip = min(skipped, key=lambda r: r['test_accuracy']) if skipped else None
  deepest = _saturated_plain(rows)
  return {
      'headline': {**{f"test_accuracy_{r['skip']}_depth{r['depth']}": r['test_accuracy']
                      for r in rows}, 'plain_stops_learning_at_depth': stops},
      'stops': (f'The plain network stops learning at depth {stops} (test accuracy below twice '
                'chance)' if stops else 'The plain network learned at every depth tried'),
      'skips': (f"; with a skip connection the worst run still reaches "
                f"{worst_skip['test_accuracy']:.1%} ({worst_skip['skip']}, depth "
                f"{worst_skip['depth']})" if worst_skip else ''),
      'saturation': saturation_finding(deepest) if deepest else ''}


def plot(results, findings, workdir) -> None:
  rows = results['rows']
  curves_plot(workdir / 'depth_training.png', rows,
              f"{results['activation']} MLPs on {results['data']}")
  deepest = _saturated_plain(rows)
  if deepest:
    s = deepest['saturation']
    report.plot_curves(workdir / 'saturation.png', {
        f"top hidden layer (hidden_{deepest['depth'] - 1})": (s['step'], s['top']),
        'first hidden layer (hidden_0)': (s['step'], s['bottom'])},
        'step', 'fraction saturated', title=f"plain depth {deepest['depth']}")


def render(results, findings) -> str:
  table = report.markdown_table(
      ['skip', 'depth', 'test accuracy', 'train accuracy (last 10%)', 'learns', 'seconds'],
      [[r['skip'], r['depth'], r['test_accuracy'], r['train_accuracy'],
        'yes' if r['learns'] else 'no', r['train_time_s']] for r in results['rows']])
  saturation = '![saturation](saturation.png)' if findings['saturation'] else ''
  return f"""{results['activation']} units, {results['weight_init']} initialisation, width
{results['width']}, Adam, {results['steps']} steps on {results['data']}. Each run is a `train` run
with its own directory under `runs/`.

{table}

![training loss](depth_training.png)
{saturation}

**Conclusion.** {findings['stops']}{findings['skips']}.{findings['saturation']}
"""
