"""Section 5. Monte Carlo dropout: keeping dropout on at test time and averaging.

The usual test-time network replaces each random mask by its expectation (weight scaling).
Gal and Ghahramani (2016) read a dropout network as an approximate Bayesian model whose
predictive distribution is the average of the softmax over masks; averaging T stochastic
passes estimates it. That should cost little accuracy and improve calibration (expected
calibration error, ECE, 15 bins) and log loss, more so as T grows.
"""
import jax
import jax.numpy as jnp
import numpy as np

from experiments.dropout import groups, mlp_variants
from research import metrics, report, rng
from research.data import pipeline
from research.train import ensemble

TITLE = 'Monte Carlo dropout: accuracy and calibration against the number of samples'


def mc_probabilities(model, params, images, seed, samples: int):
  """Softmax outputs of `samples` dropout passes over `images`, one key per pass."""
  def one(t):
    logits = model.apply({'params': params}, images, train=True,
                         rngs={'dropout': rng.stream_key(seed, 'mc_dropout', t)})
    return jax.nn.softmax(logits)
  return jax.lax.map(one, jnp.arange(samples))


def summarize(probs_BxC, labels_B) -> dict:
  logits = jnp.log(jnp.maximum(probs_BxC, 1e-12))
  stats = metrics.classification_stats(logits, labels_B, jnp.zeros(labels_B.shape))
  s = metrics.summarize(jax.device_get(stats))
  return {'confidence': float(probs_BxC.max(-1).mean()),
          **{k: s[k] for k in ('accuracy', 'log_loss', 'ece')}}


def measure(cfg, context) -> dict:
  mlp_cfg = context.config.mlp_variants
  dataset = groups.subset(context.dataset, mlp_cfg.train_examples, context.config.seed)
  # Section 1's group of this variant (trained now if section 1 has not run).
  group = groups.train_group(
      f'mlp_{cfg.variant}', mlp_variants.ensemble_config(mlp_cfg, cfg.variant,
                                   context.config.fast_compile), dataset,
      mlp_variants.plan(mlp_cfg)[cfg.variant], context, keep_states=True)
  model = group['ensemble'].model(cfg.rate)
  images = pipeline.normalize(dataset.test_images, dataset.mean, dataset.std)
  labels = jnp.asarray(dataset.test_labels)
  sample = jax.jit(lambda params, seed: mc_probabilities(model, params, images, seed,
                                                         max(cfg.samples)))
  predict = jax.jit(lambda params: model.apply({'params': params}, images, train=False))
  rows = []
  for k, m in enumerate(group['members']):
    if m['rate'] != cfg.rate:
      continue
    params = ensemble.member(group['states'], k).params
    det = predict(params)
    probs_TxBxC = sample(params, m['seed'])
    running = jnp.cumsum(probs_TxBxC, 0)
    rows.append({'seed': m['seed'],
                 'weight_scaling': summarize(jax.nn.softmax(det), labels),
                 'mc': {t: summarize(running[t - 1] / t, labels) for t in cfg.samples}})
  return {'data': dataset.name, 'variant': cfg.variant, 'rate': cfg.rate,
          'samples': list(cfg.samples), 'members': rows}


def _pm(values) -> tuple[float, float]:
  values = np.asarray(values)
  return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _rows(results) -> list[tuple[str, dict]]:
  """(label, {metric: (mean, std) over members}) for weight scaling, then each T."""
  members = results['members']
  getters = [('weight scaling', lambda m: m['weight_scaling'])] + [
      (f'MC, T = {t}', lambda m, t=t: m['mc'][str(t)] if str(t) in m['mc'] else m['mc'][t])
      for t in results['samples']]
  return [(label, {name: _pm([get(m)[name] for m in members])
                   for name in ('accuracy', 'confidence', 'log_loss', 'ece')})
          for label, get in getters]


def analyze(results) -> dict:
  rows = _rows(results)
  det = {name: mean for name, (mean, _) in rows[0][1].items()}
  last = {name: mean for name, (mean, _) in rows[-1][1].items()}
  t_max = results['samples'][-1]
  side = lambda d: 'underconfident' if d['confidence'] < d['accuracy'] else 'overconfident'
  return {'headline': {'ece_weight_scaling': det['ece'], f'ece_mc_{t_max}': last['ece'],
                       'accuracy_weight_scaling': det['accuracy'],
                       f'accuracy_mc_{t_max}': last['accuracy']},
          'weight_scaling': det, 'mc': last,
          'mc_better_on': [name for name in ('log_loss', 'ece') if last[name] < det[name]],
          'lean': {'weight_scaling': side(det), 'mc': side(last)}}


def plot(results, findings, workdir) -> None:
  rows, samples = _rows(results), results['samples']
  with report.figure(workdir / 'mc_dropout.png', panels=3) as (fig, axes):
    for ax, name in zip(axes, ('accuracy', 'log_loss', 'ece')):
      mc = [stats[name] for _, stats in rows[1:]]
      ax.errorbar(samples, [m for m, _ in mc], yerr=[s for _, s in mc], marker='o',
                  capsize=3, label='MC dropout')
      det, det_std = rows[0][1][name]
      ax.axhline(det, color='k', lw=1, label='weight scaling')
      ax.axhspan(det - det_std, det + det_std, color='k', alpha=0.1)
      ax.set(xscale='log', xlabel='samples T', ylabel=name)
    axes[0].legend()


def render(results, findings) -> str:
  table = report.markdown_table(
      ['prediction', 'test accuracy', 'mean confidence', 'log loss', 'ECE'],
      [[label] + [f'{stats[name][0]:.4f} ± {stats[name][1]:.4f}'
                  for name in ('accuracy', 'confidence', 'log_loss', 'ece')]
       for label, stats in _rows(results)])
  det, last, lean = findings['weight_scaling'], findings['mc'], findings['lean']
  better = findings['mc_better_on']
  better = ('it is better on ' + ' and '.join(better) if better
            else 'it does not improve calibration here')
  return f"""The {results['variant']}-dropout MLPs of section 1 at rate {results['rate']} (every
seed), evaluated on the {results['data']} test set with the expected network (weight scaling)
and with the softmax averaged over T dropout passes; mean ± std over seeds.

{table}

![accuracy, log loss and ECE against T](mc_dropout.png)

**Conclusion.** With T = {results['samples'][-1]}, MC dropout's test accuracy is
{last['accuracy']:.2%} against {det['accuracy']:.2%} for weight scaling, its log loss
{last['log_loss']:.4f} against {det['log_loss']:.4f} and its ECE {last['ece']:.4f} against
{det['ece']:.4f}: {better}. Weight scaling is {lean['weight_scaling']} (mean confidence
{det['confidence']:.3f} at accuracy {det['accuracy']:.3f}), MC dropout {lean['mc']}
({last['confidence']:.3f} at {last['accuracy']:.3f}).
"""
