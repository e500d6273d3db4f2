"""Section 4. Stochastic depth: dropping whole residual branches of a CIFAR ResNet.

Huang et al. (2016) train a ResNet with each residual branch dropped at random, with
probability rising linearly with depth to p_L = 0.5 at the last block, and test the full
network: an implicit ensemble of shallower networks, with shorter gradient paths in training.
On CIFAR-10 with standard augmentation their ResNet-110's test error drops from 6.41% to
5.25%. Here the branch is dropped per example (the issue's choice: masks stay a function of
the example, so results do not depend on the device count); the paper drops per mini-batch,
which also saves the dropped branches' compute. This saves none: every branch is computed,
and the BatchNorm layers inside a branch update their running statistics from the whole
batch, the examples that drop the branch included; in the paper a dropped branch is not run,
so its statistics see only the batches that keep it.
"""
from experiments.dropout import groups
from research import losses, optim, report
from research.data import augment as augment_lib
from research.data import pipeline
from research.train import metrics_log
from research.train import ensemble

TITLE = 'Stochastic depth on a CIFAR ResNet'
HUANG_RESNET110_CIFAR10 = {'constant depth': 6.41, 'stochastic depth': 5.25}


def ensemble_config(cfg, train_examples: int, fast_compile: bool) -> ensemble.EnsembleConfig:
  per_epoch = pipeline.steps_per_epoch(train_examples, cfg.batch_size)
  return ensemble.EnsembleConfig(
      model='resnet', options=dict(depth=cfg.depth, block='residual', activation='relu',
                                   weight_init='he', norm='batch'),
      rate_field='stochastic_depth', epochs=cfg.epochs, batch_size=cfg.batch_size,
      epochs_per_call=cfg.epochs_per_call,
      vmap_members=cfg.vmap_members, fast_compile=fast_compile,
      optim=optim.OptimConfig(
          name='nesterov', learning_rate=cfg.learning_rate, momentum=0.9,
          weight_decay=cfg.weight_decay, schedule='step', decay_factor=0.1,
          boundaries=tuple(int(f * cfg.epochs) * per_epoch for f in cfg.decay_at)),
      loss=losses.LossConfig(),
      augment=augment_lib.AugmentConfig(flip=cfg.flip, translate=cfg.translate))


def measure(cfg, context) -> dict:
  dataset = groups.subset(context.load(cfg.data, cfg.data_dir), cfg.train_examples,
                          context.config.seed)
  name = f'resnet{cfg.depth}'
  group = groups.train_group(name, ensemble_config(cfg, len(dataset.train_labels),
                                                 context.config.fast_compile), dataset,
                             tuple(cfg.rates), context)
  records = [r for r in metrics_log.read_records(context.workdir / 'runs' / name)
             if r['split'] == 'test']
  curves = {}
  for k, m in enumerate(group['members']):
    curves.setdefault(str(m['rate']), []).append([1 - r[f'accuracy/{k}'] for r in records])
  return {'data': dataset.name, 'train_examples': len(dataset.train_labels),
          'depth': cfg.depth, 'epochs': cfg.epochs, 'steps': group['steps'],
          'seconds': group['seconds'], 'rows': groups.by_rate(group, name),
          'curve_steps': [r['step'] for r in records], 'test_error_curves': curves}


def analyze(results) -> dict:
  rows = results['rows']
  base = next((r for r in rows if r['rate'] == 0), None)
  others = [r for r in rows if r['rate'] > 0]
  return {'headline': {f"test_error_p{r['rate']}": 1 - r['test_accuracy'] for r in rows},
          'against_constant_depth': [
              f"p_L = {r['rate']}: test error {_error(r, 'test_accuracy')} against "
              f"{_error(base, 'test_accuracy')} at constant depth, "
              f"{groups.versus(r, base)}" for r in others] if base else []}


def plot(results, findings, workdir) -> None:
  with report.figure(workdir / 'stochastic_depth.png') as (fig, (ax,)):
    for rate, curves in results['test_error_curves'].items():
      for i, curve in enumerate(curves):
        ax.plot(results['curve_steps'], curve, color='C0' if float(rate) == 0 else 'C1',
                alpha=0.8, label=f'p_L = {rate}' if i == 0 else None)
    ax.set(xlabel='step', ylabel='test error', yscale='log',
           title=f"ResNet-{results['depth']} on {results['data']}, one line per seed")
    ax.legend()


def render(results, findings) -> str:
  table = report.markdown_table(
      ['p_L', 'train error', 'test error', 'test ECE'],
      [[r['rate'], _error(r, 'train_accuracy'), _error(r, 'test_accuracy'),
        groups.pm(r, 'test_ece', percent=False)] for r in results['rows']])
  anchor = ', '.join(f'{k} {v}%' for k, v in HUANG_RESNET110_CIFAR10.items())
  note = ' CIFAR-10 here is the shared JPEG re-encoding.' if results['data'] == 'cifar10' else ''
  conclusion = ('; '.join(findings['against_constant_depth'])
                or 'Run p_L = 0 and a positive p_L to compare.')
  return f"""ResNet-{results['depth']} (option-A shortcuts, BatchNorm) on
{results['train_examples']} {results['data']} training images, {results['epochs']} epochs
({results['steps']} steps) of Nesterov SGD with the paper's step schedule, flips and shifts
where configured; p_L is the drop probability of the last block (linear decay rule), 0 being
the usual ResNet. {results['seconds']:.0f} s for all members.{note} Unlike the paper, branches
are dropped per example and always computed, so BatchNorm inside a dropped branch still
updates its running statistics from that example.

{table}

![test error during training](stochastic_depth.png)

Anchor (Huang et al. 2016, ResNet-110, CIFAR-10, test error): {anchor}.

**Conclusion.** {conclusion}.
"""


def _error(row: dict, name: str) -> str:
  return f"{(1 - row[name]) * 100:.2f} ± {row[f'{name}_std'] * 100:.2f}%"
