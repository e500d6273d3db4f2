"""Section 2. Depth and bottleneck: deep autoencoders against PCA at the same code size.

The notes (004): an autoencoder compresses its input into a code and reconstructs it. PCA is the
best a linear code can do (section 1); hidden layers with non-linearities can bend the code
around the data. Does depth buy a lower reconstruction error at the same code size, and where:
at small codes, where a curved map has most to gain, or everywhere?
"""
import numpy as np

from experiments.autoencoders import groups
from research import report, stats

TITLE = 'Depth and bottleneck: deep autoencoders against PCA'
SHOWN = 8  # test images in the reconstruction grid


def network_name(encoder) -> str:
  return 'linear' if not encoder else 'hidden ' + '-'.join(str(w) for w in encoder)


def measure(cfg, context) -> dict:
  data = context.data()
  train_x, test_x = groups.flat(data, 'train'), groups.flat(data, 'test')
  pca = groups.fit_pca(train_x, max(cfg.codes))
  shown = test_x[:SHOWN]
  results = {'codes': list(cfg.codes), 'pca_test_mse': [groups.pca_mse(pca, test_x, k)
                                                        for k in cfg.codes],
             'networks': [], 'image_shape': list(data.image_shape),
             'train_examples': len(train_x), 'originals': _rounded(shown),
             'pca_shown': {str(k): _rounded(_pca_reconstruct(pca, shown, k))
                           for k in (min(cfg.codes), max(cfg.codes))}}
  for encoder in cfg.encoders:
    network = {'name': network_name(encoder), 'encoder': list(encoder), 'by_code': []}
    for k in cfg.codes:
      name = f"{network['name'].replace(' ', '_')}_code_{k}"
      group = groups.train(name, context, data, options=dict(encoder=tuple(encoder), code=k),
                           epochs=cfg.epochs, batch_size=cfg.batch_size, rates=cfg.rates)
      choice = groups.chosen(group, cfg.rates, context.config.seeds)
      found = {'code': k, 'rate': choice['rate'], 'test_mse': choice['test_mse']}
      if k in (min(cfg.codes), max(cfg.codes)):
        found['shown'] = _rounded(groups.apply(group, choice['members'][0], shown))
      network['by_code'].append(found)
    results['networks'].append(network)
  return results


def _pca_reconstruct(pca, x, k: int) -> np.ndarray:
  basis = pca.components_[:k]
  return (x - pca.mean_) @ basis.T @ basis + pca.mean_


def _rounded(x) -> list:
  return np.round(np.asarray(x, np.float64), 3).tolist()


def analyze(results) -> dict:
  """Per code size, each network's error over seeds against PCA's; a network beats PCA where
  its whole 95% interval lies below PCA's error (PCA has no seed)."""
  rows, gains = [], {}
  for i, k in enumerate(results['codes']):
    pca = results['pca_test_mse'][i]
    row = {'code': k, 'pca': pca, 'networks': {}}
    for network in results['networks']:
      found = stats.over_seeds(network['by_code'][i]['test_mse'])
      high = found['ci95_high'] if found['n'] > 1 else found['mean']
      low = found['ci95_low'] if found['n'] > 1 else found['mean']
      row['networks'][network['name']] = {
          **found, 'gain': 1 - found['mean'] / pca,
          'vs_pca': 'better' if high < pca else 'worse' if low > pca else 'inconclusive'}
      gains.setdefault(network['name'], []).append(1 - found['mean'] / pca)
    rows.append(row)
  deep = [n['name'] for n in results['networks'] if n['encoder']]
  parts = []
  for name in deep:
    better = [r['code'] for r in rows if r['networks'][name]['vs_pca'] == 'better']
    g = gains[name]
    parts.append(f"the {name} autoencoder beats PCA beyond the seed spread at "
                 + (f"k = {', '.join(map(str, better))}" if better else 'no code size')
                 + f" (its error {-g[0]:+.0%} from PCA's at k = {results['codes'][0]}, "
                 f"{-g[-1]:+.0%} at k = {results['codes'][-1]})")
  shrinking = [name for name in deep if gains[name][0] > gains[name][-1]]
  if deep:
    parts.append(('its advantage is largest at the smallest code, where a curved map has most '
                  'to gain' if len(shrinking) == len(deep) else
                  'the advantage does not shrink with the code size for '
                  + ', '.join(n for n in deep if n not in shrinking)))
  return {'headline': {f"gain_{name.replace(' ', '_')}_k{k}": gains[name][i]
                       for name in gains for i, k in enumerate(results['codes'])},
          'rows': rows, 'verdict': '; '.join(parts) or 'no deep network was trained'}


def plot(results, findings, workdir) -> None:
  codes = results['codes']
  with report.figure(workdir / 'depth_and_bottleneck.png') as (_, (ax,)):
    ax.plot(codes, results['pca_test_mse'], 'ks--', label='PCA')
    for network in results['networks']:
      found = [findings_row['networks'][network['name']] for findings_row in findings['rows']]
      ax.errorbar(codes, [f['mean'] for f in found],
                  yerr=[0 if f['n'] < 2 else f['ci95_high'] - f['mean'] for f in found],
                  fmt='o-', capsize=3, label=network['name'])
    ax.set_xscale('log', base=2)
    ax.set_yscale('log')
    ax.set_xlabel('code size k')
    ax.set_ylabel('test reconstruction MSE (normalised)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  shape = results['image_shape']
  as_images = lambda x: np.asarray(x).reshape(-1, *shape)
  rows = [('original', as_images(results['originals']))]
  for k in sorted(results['pca_shown'], key=int):
    rows.append((f'PCA, k={k}', as_images(results['pca_shown'][k])))
    for network in results['networks']:
      found = next(f for f in network['by_code'] if f['code'] == int(k))
      rows.append((f"{network['name']}, k={k}", as_images(found['shown'])))
  report.image_grid(workdir / 'reconstructions.png', rows)


def render(results, findings) -> str:
  names = [n['name'] for n in results['networks']]
  table = report.markdown_table(
      ['k', 'PCA', *names],
      [[r['code'], report.fmt(r['pca']),
        *(f"{report.fmt(r['networks'][n]['mean'])} ({r['networks'][n]['vs_pca']})"
          for n in names)] for r in findings['rows']])
  return f"""Autoencoders with ReLU hidden layers (the decoder mirrors the encoder; code and output
linear) and PCA, trained and fitted on {results['train_examples']} examples. Test
reconstruction MSE per value on the normalised scale, mean over seeds, each network's learning
rate chosen on the validation split; in brackets whether its 95% interval lies below PCA's
error (better), above it (worse) or around it (inconclusive).

{table}

![error against code size](depth_and_bottleneck.png)

![test images and their reconstructions at the smallest and largest code](reconstructions.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
