"""Section 3. Dropout in a recurrent network: a fresh mask per time step, or one for all.

Gal and Ghahramani (2016) read dropout as approximate Bayesian inference, which asks for the
same mask at every time step (the weights are what is random), and then the recurrent
connections can be dropped too; a fresh mask per step on the recurrent state injects noise
that compounds over time, which is why earlier work (Zaremba et al. 2014) dropped only the
non-recurrent connections. Anchor: on Penn Treebank their medium LSTM's test perplexity goes
from 82.7 (naive dropout) to 79.7 (variational). Here: an LSTM reads each image row by row and
classifies it, a sequence task that fits the same code and the CPU.
"""
from experiments.dropout import groups
from research import losses, optim
from research.train import ensemble

TITLE = 'LSTM: none, naive per-step and variational dropout'
VARIANTS = ('none', 'naive', 'variational')
GAL_PTB_MEDIUM = {'naive dropout': 82.7, 'variational': 79.7}


def ensemble_config(cfg, variant: str, fast_compile: bool) -> ensemble.EnsembleConfig:
  options = dict(hidden=cfg.hidden, layers=cfg.layers,
                 dropout_kind='variational' if variant == 'none' else variant)
  return ensemble.EnsembleConfig(
      model='lstm', options=options, rate_field='dropout', epochs=cfg.epochs,
      batch_size=cfg.batch_size, epochs_per_call=cfg.epochs_per_call,
      vmap_members=cfg.vmap_members, fast_compile=fast_compile,
      optim=optim.OptimConfig(name='adam', learning_rate=cfg.learning_rate, grad_clip=1.0),
      loss=losses.LossConfig())


def measure(cfg, context) -> dict:
  dataset = groups.subset(context.dataset, cfg.train_examples, context.config.seed)
  rows, _ = groups.train_variants(
      'lstm', groups.plan(cfg.variants, cfg.rates, 'naive'),
      lambda v: ensemble_config(cfg, v, context.config.fast_compile), dataset, context,
      'naive', cfg.variants)
  return {'data': dataset.name, 'train_examples': len(dataset.train_labels),
          'hidden': cfg.hidden, 'layers': cfg.layers, 'epochs': cfg.epochs,
          'sequence': list(dataset.image_shape), 'rows': rows}


def analyze(results) -> dict:
  rows = results['rows']
  baseline = next((r for r in rows if r['variant'] == 'none'), None)
  lines = []
  for variant in ('naive', 'variational'):
    vs = [r for r in rows if r['variant'] == variant]
    if vs and baseline:
      b = groups.best(vs)
      lines.append(f"best {variant} (rate {b['rate']}): {groups.pm(b, 'test_accuracy')}, "
                   f"{groups.versus(b, baseline)}")
  naive = {r['rate']: r for r in rows if r['variant'] == 'naive'}
  vari = {r['rate']: r for r in rows if r['variant'] == 'variational'}
  return {'headline': {f"test_accuracy_{r['variant']}_{r['rate']}": r['test_accuracy']
                       for r in rows},
          'baseline': groups.pm(baseline, 'test_accuracy') if baseline else 'not run',
          'against_none': lines,
          'paired': [f"rate {rate}: variational {groups.versus(vari[rate], naive[rate])} "
                     "against naive" for rate in sorted(set(naive) & set(vari))]}


def plot(results, findings, workdir) -> None:
  groups.rate_plot(workdir / 'lstm_variants.png', results['rows'],
                   f"LSTM {results['hidden']}x{results['layers']}, "
                   f"{results['train_examples']} {results['data']} examples")


def render(results, findings) -> str:
  h, w, c = results['sequence']
  anchor = ', '.join(f'{k} {v}' for k, v in GAL_PTB_MEDIUM.items())
  against = '; '.join(findings['against_none']) or 'nothing to compare'
  paired = '; '.join(findings['paired']) or 'no pairs'
  return f"""Each {results['data']} image is a sequence of {h} rows of {w * c} features;
{results['train_examples']} training examples; LSTM with {results['layers']} layer(s) of
{results['hidden']} units, dropout on each layer's inputs and on the last output (variational:
also on the recurrent state), Adam with gradient clipping at norm 1, {results['epochs']} epochs;
mean ± std over seeds.

{groups.rate_table(results['rows'])}

![test accuracy and gap against rate](lstm_variants.png)

Anchor (Gal and Ghahramani 2016, Penn Treebank, medium LSTM, test perplexity): {anchor}. A
language model is not what runs here; the comparison is of the same two dropout schemes.

{groups.TEST_SELECTION}

**Conclusion.** Against no dropout ({findings['baseline']}): {against}. Paired by rate: {paired}.
"""
