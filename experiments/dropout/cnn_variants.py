"""Section 2. Dropout on convolutional features: per unit, per feature map, or in blocks.

Neighbouring pixels of a feature map are strongly correlated, so dropping single units leaves
their neighbours to carry the same information: standard dropout should barely regularise
convolutional features, while dropping whole feature maps (spatial dropout, Tompson et al.
2015) or contiguous blocks (DropBlock, Ghiasi et al. 2018) should. The dense layer is left
without dropout, so only the convolutional features are regularised.
"""
import math

from experiments.dropout import groups
from research import losses, optim
from research.train import ensemble

TITLE = 'CNN: none, standard, spatial and DropBlock dropout on convolutional features'
VARIANTS = ('none', 'standard', 'spatial', 'dropblock')


def ensemble_config(cfg, variant: str, fast_compile: bool) -> ensemble.EnsembleConfig:
  options = dict(channels=tuple(cfg.channels), kernel_size=3, dense=tuple(cfg.dense),
                 activation='relu', weight_init='he', norm='none', pool='max', dropout=0.0,
                 conv_dropout_kind='standard' if variant == 'none' else variant,
                 dropblock_size=cfg.dropblock_size)
  return ensemble.EnsembleConfig(
      model='cnn', options=options, rate_field='conv_dropout', epochs=cfg.epochs,
      batch_size=cfg.batch_size, epochs_per_call=cfg.epochs_per_call,
      vmap_members=cfg.vmap_members, fast_compile=fast_compile,
      optim=optim.OptimConfig(name='adam', learning_rate=cfg.learning_rate),
      loss=losses.LossConfig())


def measure(cfg, context) -> dict:
  dataset = groups.subset(context.load(cfg.data, cfg.data_dir), cfg.train_examples,
                          context.config.seed)
  rows, _ = groups.train_variants(
      'cnn', groups.plan(cfg.variants, cfg.rates, 'standard'),
      lambda v: ensemble_config(cfg, v, context.config.fast_compile), dataset, context,
      'standard', cfg.variants)
  return {'data': dataset.name, 'train_examples': len(dataset.train_labels),
          'channels': list(cfg.channels), 'epochs': cfg.epochs,
          'dropblock_size': cfg.dropblock_size, 'rows': rows}


def tompson_verdict(best: dict, baseline: dict) -> str:
  """Tompson et al.'s claim, spatial dropout regularises convolutional features better than
  standard dropout, judged on the best rate of each: supported or contradicted only when the
  difference of their accuracies is beyond two standard deviations of the seed spread."""
  if 'standard' not in best or 'spatial' not in best:
    return ''
  spatial, standard = best['spatial'], best['standard']
  diff = spatial['test_accuracy'] - standard['test_accuracy']
  spread = math.hypot(spatial['test_accuracy_std'], standard['test_accuracy_std'])
  outcome = ('inconclusive' if abs(diff) <= 2 * spread else
             'supported' if diff > 0 else 'contradicted')
  gains = ', '.join(f"{v} {(best[v]['test_accuracy'] - baseline['test_accuracy']) * 100:+.2f}"
                    for v in ('spatial', 'standard'))
  return (f" Tompson et al.'s claim, that spatial dropout regularises convolutional features "
          f"better than standard dropout, is {outcome} here: spatial minus standard "
          f"{diff * 100:+.2f} points against a two-standard-deviation spread of "
          f"{2 * spread * 100:.2f} (gain over none: {gains} points).")


def analyze(results) -> dict:
  rows = results['rows']
  baseline = next((r for r in rows if r['variant'] == 'none'), None)
  best = {v: groups.best([r for r in rows if r['variant'] == v])
          for v in dict.fromkeys(r['variant'] for r in rows if r['variant'] != 'none')}
  return {'headline': {f"test_accuracy_{r['variant']}_{r['rate']}": r['test_accuracy']
                       for r in rows},
          'baseline': groups.pm(baseline, 'test_accuracy') if baseline else 'not run',
          'against_none': [f"best {v} (rate {r['rate']}): {groups.pm(r, 'test_accuracy')}, "
                           f"{groups.versus(r, baseline)}" for v, r in best.items()]
                          if baseline else [],
          'tompson': tompson_verdict(best, baseline) if baseline else ''}


def plot(results, findings, workdir) -> None:
  groups.rate_plot(workdir / 'cnn_variants.png', results['rows'],
                   f"CNN {results['channels']}, {results['train_examples']} "
                   f"{results['data']} examples")


def render(results, findings) -> str:
  data = results['data']
  note = ' CIFAR-10 here is the shared JPEG re-encoding.' if data == 'cifar10' else ''
  against = '; '.join(findings['against_none']) or 'nothing to compare'
  return f"""{results['train_examples']} training examples of {data}; conv channels
{results['channels']} with 3x3 kernels, ReLU, 2x2 max pooling, dropout after each conv
activation (DropBlock: blocks of {results['dropblock_size']}, rate ramped linearly over
training as in the paper); Adam, {results['epochs']} epochs; mean ± std over seeds.{note}

{groups.rate_table(results['rows'])}

![test accuracy and gap against rate](cnn_variants.png)

{groups.TEST_SELECTION}

**Conclusion.** Against no dropout ({findings['baseline']}):
{against}.{findings['tompson']}
"""
