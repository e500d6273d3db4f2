"""Section 4. The ResNet paper's CIFAR-10 experiment (He et al. 2015, Table 6 and Figure 6).

Plain networks of 20 and 56 layers against ResNets with the same layers plus identity
shortcuts, trained with the paper's recipe: batch 128, SGD with momentum 0.9, learning rate 0.1
divided by 10 at 32k and 48k iterations, 64k iterations, weight decay 1e-4, 4-pixel shifts and
horizontal flips, the per-pixel mean subtracted (`normalize=pixel_mean`; the scale is ours, the
paper gives none). For ResNet-110 the paper warms up at 0.01 for about 400 iterations:
`resnet_cifar.depths=110 resnet_cifar.warmup_steps=400` (warmup_factor 0.1). Where we differ:
the paper trains on 45k images and keeps 5k for validation, the full preset on all 50k. The
paper's finding: the deeper plain network has the *higher training*
error (degradation, not overfitting), while the deeper ResNet is better (test error ResNet-20
8.75%, ResNet-56 6.97%).
"""
from experiments.vanishing_gradients import runs
from research import report

TITLE = 'The ResNet paper on CIFAR-10: plain-20/56 against ResNet-20/56'
PAPER_TEST_ERROR = {20: 0.0875, 32: 0.0751, 44: 0.0717, 56: 0.0697, 110: 0.0643}  # Table 6


def settings(cfg, common, depth: int, block: str) -> dict:
  return {**common, 'model': 'resnet', 'data': cfg.data, 'data_dir': cfg.data_dir,
          'resnet.depth': depth,
          'resnet.block': block, 'steps': cfg.steps, 'batch_size': cfg.batch_size,
          'optim.name': 'momentum', 'optim.momentum': 0.9,
          'optim.learning_rate': cfg.learning_rate, 'optim.schedule': 'step',
          'optim.warmup_steps': cfg.warmup_steps, 'optim.warmup_factor': cfg.warmup_factor,
          'normalize': cfg.normalize,
          'optim.boundaries': tuple(cfg.boundaries), 'optim.decay_factor': 0.1,
          'optim.weight_decay': cfg.weight_decay, 'augment.flip': cfg.flip,
          'augment.translate': cfg.translate, 'log_every': cfg.log_every,
          'eval_every': cfg.eval_every, 'checkpoint_every': cfg.checkpoint_every}


def measure(cfg, context) -> dict:
  dataset = context.load(cfg.data, cfg.data_dir)
  rows = []
  for block in cfg.blocks:
    for depth in cfg.depths:
      run = runs.train_run(f'resnet{depth}_{block}', settings(cfg, context.common, depth, block),
                           context.workdir, dataset, context.manifest)
      records = run.pop('records')
      train = [r for r in records if r['split'] == 'train']
      rows.append({'depth': depth, 'block': block, 'params': run['num_params'],
                   'test_error': 1 - run['test']['accuracy'],
                   'train_error': 1 - runs.final_train_accuracy(records),
                   'train_time_s': run['train_time_s'],
                   'curve': {'step': [r['step'] for r in train],
                             'error': [1 - r['accuracy'] for r in train]}})
  return {'data': cfg.data, 'steps': cfg.steps, 'device': context.manifest['device_kind'],
          'rows': rows}


def _ordering(rows, block: str):
  """The (shallowest, deepest) rows of `block`, or None if fewer than two depths ran."""
  mine = sorted((r for r in rows if r['block'] == block), key=lambda r: r['depth'])
  return (mine[0], mine[-1]) if len(mine) >= 2 else None


def analyze(results) -> dict:
  rows = results['rows']
  headline = {f"{r['block']}{r['depth']}_{k}": r[k] for r in rows
              for k in ('train_error', 'test_error')}
  findings = []
  for block in ('plain', 'residual'):
    pair = _ordering(rows, block)
    if pair:
      shallow, deep = pair
      # Compared as the sentence shows them (to 0.01%): a pair that reads equal is the same.
      d, s = round(deep['train_error'], 4), round(shallow['train_error'], 4)
      worse = d > s
      order = 'higher' if worse else 'lower' if d < s else 'the same'
      headline[f'{block}_deeper_has_higher_train_error'] = worse
      findings.append(f"{block}-{deep['depth']} ends with {order} "
                      f"training error {'as' if order == 'the same' else 'than'} "
                      f"{block}-{shallow['depth']} "
                      f"({deep['train_error']:.2%} vs {shallow['train_error']:.2%})")
  plain, residual = _ordering(rows, 'plain'), _ordering(rows, 'residual')
  if plain and residual and plain[1]['depth'] == residual[1]['depth']:
    fixed = residual[1]['train_error'] < plain[1]['train_error']
    degraded = headline['plain_deeper_has_higher_train_error']
    headline['shortcuts_lower_deep_train_error'] = fixed
    findings.append(f"at depth {plain[1]['depth']} the shortcuts "
                    f"{'lower' if fixed else 'do not lower'} the training error "
                    f"({residual[1]['train_error']:.2%} vs {plain[1]['train_error']:.2%}): "
                    + ('the degradation problem and its cure, in the paper\'s order'
                       if degraded and fixed else 'NOT the paper\'s ordering'))
  return {'headline': headline, 'orderings': findings}


def plot(results, findings, workdir) -> None:
  report.plot_curves(workdir / 'resnet_cifar.png', {
      f"{r['block']}-{r['depth']}": (r['curve']['step'], r['curve']['error'])
      for r in results['rows']},
      'step', 'training error (augmented mini-batches)', logy=True,
      title=f"{results['data']}, {results['steps']} steps")


def render(results, findings) -> str:
  table = report.markdown_table(
      ['network', 'parameters', 'train error (last 10%)', 'test error', 'paper test error',
       'seconds'],
      [[f"{r['block']}-{r['depth']}", r['params'], f"{r['train_error']:.2%}",
        f"{r['test_error']:.2%}",
        f"{PAPER_TEST_ERROR[r['depth']]:.2%}" if r['block'] == 'residual'
        and r['depth'] in PAPER_TEST_ERROR else '-', r['train_time_s']]
       for r in results['rows']])
  data_note = ('CIFAR-10 is read from the binary batches found or downloaded; a copy re-encoded '
               'through JPEG (pixels differ from the official set) gives errors comparable to '
               'the paper\'s, not equal.'
               if results['data'] == 'cifar10' else
               f"This is the small-scale stand-in on {results['data']}, not the paper's setting; "
               'the full preset (CIFAR-10, 64k iterations) is a GPU run.')
  orderings = '; '.join(findings['orderings']) or \
      'Fewer than two depths ran; no ordering to report'
  return f"""{results['steps']} steps on {results['data']} ({results['device']}). {data_note}

{table}

![training error](resnet_cifar.png)

**Conclusion.** {orderings}.
"""
