"""Section 1. Unit dropout, Gaussian dropout, DropConnect and alpha dropout on an MLP.

With few training examples a wide MLP memorises them: training accuracy reaches 100% while
test accuracy stalls. Dropout should shrink that gap and raise test accuracy, and its variants
(Gaussian noise of the same variance, dropped weights instead of units, SELU-preserving alpha
dropout) should behave alike at matched rates. Anchor: Srivastava et al. (2014), Table 2, on
all 60,000 MNIST digits, test error: a standard logistic net with 2 hidden layers of 800 units
(Simard et al. 2003) 1.60%; dropout nets with 3 hidden layers of 1024 ReLU units 1.25%, and
1.06% with dropout and max-norm. The first number and the other two are different
architectures, so their difference is not dropout's effect alone.
"""
import dataclasses

from experiments.dropout import groups
from research import losses, optim
from research.train import ensemble

TITLE = 'MLP: none, standard, Gaussian, DropConnect and alpha dropout'
VARIANTS = ('none', 'standard', 'gaussian', 'dropconnect', 'alpha')
# Architecture and setting of each quoted test error, as the paper's Table 2 lists them.
SRIVASTAVA_TABLE2 = {
    'standard net, logistic, 2 x 800 units (Simard et al. 2003)': 1.60,
    'dropout, ReLU, 3 x 1024 units': 1.25,
    'dropout + max-norm, ReLU, 3 x 1024 units': 1.06,
}


def ensemble_config(cfg, variant: str, fast_compile: bool) -> ensemble.EnsembleConfig:
  selu = variant == 'alpha'
  options = dict(depth=cfg.depth, width=cfg.width, activation='selu' if selu else 'relu',
                 weight_init='lecun' if selu else 'he', norm='none', skip='none',
                 dropout_kind='standard' if variant == 'none' else variant)
  return ensemble.EnsembleConfig(
      model='mlp', options=options, rate_field='dropout', epochs=cfg.epochs,
      batch_size=cfg.batch_size, epochs_per_call=cfg.epochs_per_call,
      vmap_members=cfg.vmap_members, fast_compile=fast_compile,
      optim=optim.OptimConfig(name='adam', learning_rate=cfg.learning_rate),
      loss=losses.LossConfig())


def plan(cfg) -> dict[str, tuple]:
  # SELU networks get their own no-dropout baseline: the activation differs from the others'.
  return groups.plan(cfg.variants, cfg.rates, 'standard', own_baseline=('alpha',))


def time_vmap(cfg, dataset, context, trained: dict) -> dict:
  """The standard-dropout group trained both ways, each freshly compiled: as one vmapped
  batch of members and one member at a time (a loop inside one compiled program). Whichever
  way `trained` (the group as trained above) went is not timed again."""
  ecfg = ensemble_config(cfg, 'standard', context.config.fast_compile)
  seeds, rates = groups.members(plan(cfg)['standard'], context.config.seeds,
                                context.config.seed)
  timings = {'members': len(seeds)}
  for mode, vmap_members in (('vmapped', 0), ('one_at_a_time', 1)):
    if (vmap_members or len(seeds)) == (trained['vmap_members'] or len(seeds)):
      timings[mode] = {k: trained[k] for k in ('compile_s', 'run_s')}
    else:
      group = ensemble.Ensemble(dataclasses.replace(ecfg, vmap_members=vmap_members), dataset,
                                seeds, rates)
      timings[mode] = group.timed_fit()
  return timings


def measure(cfg, context) -> dict:
  dataset = groups.subset(context.dataset, cfg.train_examples, context.config.seed)
  rows, trained = groups.train_variants(
      'mlp', plan(cfg), lambda v: ensemble_config(cfg, v, context.config.fast_compile), dataset,
      context, 'standard', cfg.variants)
  return {'data': dataset.name, 'train_examples': len(dataset.train_labels),
          'test_examples': len(dataset.test_labels), 'depth': cfg.depth, 'width': cfg.width,
          'epochs': cfg.epochs, 'rows': rows,
          'vmap': time_vmap(cfg, dataset, context, trained['standard'])
          if cfg.time_vmap and 'standard' in trained else None}


def analyze(results) -> dict:
  rows = results['rows']
  baseline = next((r for r in rows if r['variant'] == 'none'), None)
  dropped = [r for r in rows if r['rate'] > 0]
  headline = {f"test_accuracy_{r['variant']}_{r['rate']}": r['test_accuracy'] for r in rows}
  lines = []
  if baseline and dropped:
    top = groups.best(dropped)
    headline['best'] = f"{top['variant']} {top['rate']}"
    lines.append(f"The best dropout setting, {top['variant']} at rate {top['rate']}, reaches "
                 f"{groups.pm(top, 'test_accuracy')} against {groups.pm(baseline, 'test_accuracy')}"
                 f" without dropout: {groups.versus(top, baseline)}. Its generalisation gap is "
                 f"{groups.pm(top, 'gap')} against {groups.pm(baseline, 'gap')}.")
    for variant in dict.fromkeys(r['variant'] for r in dropped):
      v = groups.best([r for r in dropped if r['variant'] == variant])
      lines.append(f"Best {variant}: rate {v['rate']}, {groups.pm(v, 'test_accuracy')} "
                   f"({groups.versus(v, baseline)}).")
  selu0 = next((r for r in rows if r['variant'] == 'alpha' and r['rate'] == 0), None)
  if selu0:
    lines.append(f"The SELU network without dropout (the alpha row at rate 0) reaches "
                 f"{groups.pm(selu0, 'test_accuracy')}; alpha dropout is compared with that.")
  vmap = results.get('vmap')
  if vmap:
    v, o = vmap['vmapped'], vmap['one_at_a_time']
    headline['vmap_speedup'] = o['run_s'] / v['run_s']
    lines.append(f"Training the {vmap['members']} members of the standard-dropout group as one "
                 f"vmapped batch ran in {v['run_s']:.2f} s (compile {v['compile_s']:.1f} s), one "
                 f"member at a time in {o['run_s']:.2f} s (compile {o['compile_s']:.1f} s): "
                 f"vmap made the training {headline['vmap_speedup']:.2f}x faster and saved "
                 f"{o['run_s'] + o['compile_s'] - v['run_s'] - v['compile_s']:+.1f} s in all.")
  return {'headline': headline, 'findings': lines}


def plot(results, findings, workdir) -> None:
  groups.rate_plot(workdir / 'mlp_variants.png', results['rows'],
                   f"MLP {results['width']}x{results['depth']}, "
                   f"{results['train_examples']} {results['data']} examples")


def render(results, findings) -> str:
  anchor = ', '.join(f'{k} {v:.2f}%' for k, v in SRIVASTAVA_TABLE2.items())
  conclusion = ' '.join(findings['findings']) or 'Run with variants none and at least one dropout.'
  return f"""{results['train_examples']} training examples of {results['data']} (a fixed subset),
{results['test_examples']} test examples; MLP with {results['depth']} hidden layers of
{results['width']} ReLU units (SELU and LeCun init for alpha dropout), Adam, {results['epochs']}
epochs; mean ± standard deviation over seeds (each seed: its own initialisation and data order,
shared by every variant). Train accuracy is measured in test mode on the training subset.
DropConnect here is the simple variant: one weight mask per step shared by the batch, the bias
kept, and the mean weights at test time; Wan et al. (2013) mask weights and bias per example
and infer by Gaussian moment matching (`mlp.dropconnect_per_example`,
`mlp.dropconnect_samples`).

{groups.rate_table(results['rows'])}

![test accuracy and gap against rate](mlp_variants.png)

Anchor (Srivastava et al. 2014, Table 2, MNIST test error with all 60,000 training images):
{anchor}. The first is another architecture than the other two, so the gap between them is not
dropout's alone. Our setting differs on purpose (a small subset, where overfitting shows).

{groups.TEST_SELECTION}

**Conclusion.** {conclusion}
"""
