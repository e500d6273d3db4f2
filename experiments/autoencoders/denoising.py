"""Section 3. Denoising: corrupted inputs, clean targets, and what the codes are good for.

The notes (003 Q9, 004): a denoising autoencoder sees a corrupted input and must reconstruct the
clean one. Vincent et al. (2008) trained on masking noise (a fraction of the inputs set to
zero, here the mean) and found the codes more useful for classification than a plain
autoencoder's. Measured, for Gaussian noise and masking at several levels: the error on clean
test images, the error on corrupted test images against their clean originals (denoising
proper), and a linear probe's test accuracy on the codes, beside probes on the raw pixels and on
PCA codes of the same size.
"""
import numpy as np

from experiments import network_features
from experiments.autoencoders import groups
from research import report, stats, tasks

TITLE = 'Denoising autoencoders: corruption, reconstruction and useful codes'
EVAL_SEED = 1234  # the corruption of the test images, the same for every model


def corrupt(x: np.ndarray, kind: str, level: float) -> np.ndarray:
  """x with Gaussian noise of std `level`, or a fraction `level` of its values set to 0 (the
  training mean after normalisation), drawn from a fixed seed."""
  generator = np.random.default_rng(EVAL_SEED)
  if kind == 'gaussian':
    return (x + level * generator.standard_normal(x.shape)).astype(np.float32)
  return np.where(generator.random(x.shape) < level, 0.0, x).astype(np.float32)


def settings(cfg) -> list[tuple[str, float]]:
  """(kind, level) of every autoencoder trained: the plain one first."""
  return [('none', 0.0)] + [('gaussian', float(v)) for v in cfg.gaussian if v] + \
      [('mask', float(v)) for v in cfg.mask if v]


def measure(cfg, context) -> dict:
  data = context.data()
  train_x, test_x = groups.flat(data, 'train'), groups.flat(data, 'test')
  probe_rows = slice(None, cfg.probe_examples or None)
  train_y, test_y = data.train_labels[probe_rows], data.test_labels
  probe = lambda train_codes, test_codes: network_features.probe_accuracy(
      train_codes[probe_rows], train_y, test_codes, test_y, cfg.probe_max_iter)
  noisy = {'gaussian': corrupt(test_x, 'gaussian', cfg.eval_gaussian),
           'mask': corrupt(test_x, 'mask', cfg.eval_mask)}
  pca = groups.fit_pca(train_x, cfg.code)
  results = {'code': cfg.code, 'eval_gaussian': cfg.eval_gaussian, 'eval_mask': cfg.eval_mask,
             'probe_examples': len(train_y), 'train_examples': len(train_x),
             'probe_pixels': probe(train_x, test_x),
             'probe_pca': probe(pca.transform(train_x), pca.transform(test_x)),
             'models': []}
  for kind, level in settings(cfg):
    group = groups.train(f'{kind}_{level:g}', context, data,
                         options=dict(encoder=tuple(cfg.encoder), code=cfg.code),
                         epochs=cfg.epochs, batch_size=cfg.batch_size,
                         rates=(cfg.learning_rate,),
                         corruption=tasks.CorruptionConfig(kind=kind, level=level))
    found = {'kind': kind, 'level': level, 'clean_mse': [], 'gaussian_mse': [], 'mask_mse': [],
             'probe': []}
    for k in range(len(group['members'])):
      found['clean_mse'].append(group['members'][k]['test']['mse'])
      for name, x in noisy.items():
        found[f'{name}_mse'].append(float(((groups.apply(group, k, x) - test_x) ** 2).mean()))
      found['probe'].append(probe(groups.apply(group, k, train_x, codes_only=True),
                                  groups.apply(group, k, test_x, codes_only=True)))
    results['models'].append(found)
  return results


def _label(model) -> str:
  return 'plain' if model['kind'] == 'none' else f"{model['kind']} {model['level']:g}"


def _compare(best: dict, plain: dict, lower_is_better: bool) -> str:
  """'better', 'worse' or 'inconclusive' (overlapping 95% intervals) of best against plain."""
  if stats.intervals_overlap(best, plain):
    return 'inconclusive'
  return 'better' if (best['mean'] < plain['mean']) == lower_is_better else 'worse'


def analyze(results) -> dict:
  rows = [{'label': _label(m), 'kind': m['kind'], 'level': m['level'],
           **{key: stats.over_seeds(m[key])
              for key in ('clean_mse', 'gaussian_mse', 'mask_mse', 'probe')}}
          for m in results['models']]
  plain, corrupted = rows[0], rows[1:]
  parts, headline = [], {'probe_plain': plain['probe']['mean']}
  for key, kind in (('gaussian_mse', 'gaussian'), ('mask_mse', 'mask')):
    trained = [r for r in corrupted if r['kind'] == kind]
    if not trained:
      continue
    best = min(trained, key=lambda r: r[key]['mean'])
    verdict = _compare(best[key], plain[key], lower_is_better=True)
    headline[f'{kind}_denoising_gain'] = 1 - best[key]['mean'] / plain[key]['mean']
    parts.append(f"on {kind}-corrupted test images the best denoiser ({best['label']}) "
                 f"reconstructs the clean originals with {best[key]['mean']:.3g} against the "
                 f"plain autoencoder's {plain[key]['mean']:.3g}: {verdict}")
  if corrupted:
    best = max(corrupted, key=lambda r: r['probe']['mean'])
    verdict = _compare(best['probe'], plain['probe'], lower_is_better=False)
    headline['probe_best_denoiser'] = best['probe']['mean']
    parts.append(f"a linear probe on the codes reads {best['probe']['mean']:.1%} from the best "
                 f"denoiser's ({best['label']}) against {plain['probe']['mean']:.1%} from the "
                 f"plain autoencoder's: {verdict}"
                 + ({'better': ", so Vincent et al.'s more useful codes are reproduced",
                     'worse': ", the opposite of Vincent et al.'s finding",
                     'inconclusive': ' (inside the seed spread)'}[verdict])
                 + f"; raw pixels give {results['probe_pixels']:.1%} and PCA's "
                 f"{results['code']} components {results['probe_pca']:.1%}")
  return {'headline': headline, 'rows': rows, 'verdict': '; '.join(parts) or
          'only the plain autoencoder was trained: nothing to compare'}


def plot(results, findings, workdir) -> None:
  rows = findings['rows']
  with report.figure(workdir / 'denoising.png', panels=2) as (_, (errors, probes)):
    x = np.arange(len(rows))
    for offset, key, label in ((-0.25, 'clean_mse', 'clean test'),
                               (0.0, 'gaussian_mse', f"gaussian {results['eval_gaussian']:g}"),
                               (0.25, 'mask_mse', f"masked {results['eval_mask']:g}")):
      errors.bar(x + offset, [r[key]['mean'] for r in rows], width=0.25, label=label)
    errors.set_ylabel('MSE against the clean test images')
    probes.bar(x, [r['probe']['mean'] for r in rows], color='tab:green')
    probes.axhline(results['probe_pixels'], color='k', ls='--', label='raw pixels')
    probes.axhline(results['probe_pca'], color='grey', ls=':', label=f"PCA, {results['code']}")
    probes.set_ylabel('linear probe test accuracy on the codes')
    low = min([r['probe']['mean'] for r in rows] + [results['probe_pca']])
    probes.set_ylim(max(0.0, low - 0.1), 1.0)
    for ax in (errors, probes):
      ax.set_xticks(x, [r['label'] for r in rows], rotation=30, fontsize=8)
      ax.grid(alpha=0.3, axis='y')
      ax.legend(fontsize=8)


def render(results, findings) -> str:
  interval = lambda s: (report.fmt(s['mean']) if s['n'] < 2 else
                        f"{report.fmt(s['mean'])} ± {report.fmt(s['ci95_high'] - s['mean'])}")
  table = report.markdown_table(
      ['trained on', 'clean test MSE', f"gaussian {results['eval_gaussian']:g} test MSE",
       f"masked {results['eval_mask']:g} test MSE", 'probe accuracy on codes'],
      [[r['label'], interval(r['clean_mse']), interval(r['gaussian_mse']),
        interval(r['mask_mse']), report.percent_interval(r['probe'])]
       for r in findings['rows']])
  return f"""Autoencoders with a {results['code']}-unit code trained on
{results['train_examples']} examples whose inputs are corrupted afresh at every step (per
example, from the seed, step and position), always against the clean image. Test errors per
value on the normalised scale (mean ± 95% half-width over seeds): on clean test images, and on
test images with Gaussian noise of std {results['eval_gaussian']:g} or {results['eval_mask']:.0%}
of their values masked, against the clean originals. Probes: standardised logistic regression
(scikit-learn) on {results['probe_examples']} training codes, scored on the test codes; raw
pixels give {results['probe_pixels']:.1%}, PCA's {results['code']} components
{results['probe_pca']:.1%}.

{table}

![errors and probe accuracy per training corruption](denoising.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
