"""Section 1. A linear autoencoder learns the PCA subspace.

Baldi and Hornik (1989): a linear autoencoder with a k-unit bottleneck trained on squared error
has no local minima other than its global one, where the decoder spans the top k principal
components (not the components themselves: any basis of that subspace will do). Measured: the
principal angles between each trained decoder's column space and PCA's top k components
(scikit-learn), and its test reconstruction error against PCA's (which is the least any rank-k
linear map can reach on the training split). The angles of the last directions depend on how far
the k-th eigenvalue stands from the next: a small gap leaves them weakly determined, at little
cost in error, so the table gives that ratio.
"""
import numpy as np
import scipy.linalg

from experiments.autoencoders import groups
from research import report, stats

TITLE = 'A linear autoencoder learns the PCA subspace (Baldi and Hornik 1989)'
ERROR_TOLERANCE = 0.01  # the "equal within 1%"
ANGLE_TOLERANCE_DEG = 10.0  # "near 0": each principal direction within 10 degrees


def principal_angles_deg(basis_KxD: np.ndarray, components_KxD: np.ndarray) -> list[float]:
  """The principal angles between the row spaces of two k x D matrices, in degrees,
  smallest first."""
  angles = scipy.linalg.subspace_angles(basis_KxD.T, components_KxD.T)
  return sorted(float(a) for a in np.degrees(angles))


def measure(cfg, context) -> dict:
  data = context.data()
  train_x, test_x = groups.flat(data, 'train'), groups.flat(data, 'test')
  pca = groups.fit_pca(train_x, max(cfg.codes) + 1)
  rows = []
  for k in cfg.codes:
    group = groups.train(f'linear_{k}', context, data, options=dict(encoder=(), code=k,
                                                                    linear=True),
                         epochs=cfg.epochs, batch_size=cfg.batch_size, rates=cfg.rates)
    choice = groups.chosen(group, cfg.rates, context.config.seeds)
    rows.append({
        'code': k, 'rate': choice['rate'], 'ae_test_mse': choice['test_mse'],
        'pca_test_mse': groups.pca_mse(pca, test_x, k),
        'pca_train_mse': groups.pca_mse(pca, train_x, k),
        'eigenvalue_ratio': float(pca.explained_variance_[k - 1] / pca.explained_variance_[k]),
        'angles_deg': [principal_angles_deg(groups.decoder_basis(group, m),
                                            pca.components_[:k]) for m in choice['members']]})
  return {'rows': rows, 'values': int(train_x.shape[1]), 'train_examples': len(train_x)}


def analyze(results) -> dict:
  rows = []
  for r in results['rows']:
    ae = stats.over_seeds(r['ae_test_mse'])
    largest = stats.over_seeds([max(a) for a in r['angles_deg']])
    excess = ae['mean'] / r['pca_test_mse'] - 1
    rows.append({'code': r['code'], 'rate': r['rate'], 'ae': ae, 'pca': r['pca_test_mse'],
                 'excess': excess, 'largest_angle': largest,
                 'mean_angles': np.mean(r['angles_deg'], axis=0).tolist(),
                 'eigenvalue_ratio': r['eigenvalue_ratio'],
                 'error_matches': bool(abs(excess) <= ERROR_TOLERANCE),
                 'subspace_matches': bool(largest['mean'] <= ANGLE_TOLERANCE_DEG)})
  both = [r['code'] for r in rows if r['error_matches'] and r['subspace_matches']]
  error_only = [r['code'] for r in rows if r['error_matches'] and not r['subspace_matches']]
  neither = [r['code'] for r in rows if not r['error_matches']]
  parts = []
  if both:
    parts.append(f'at k = {_codes(both)} the linear autoencoder reached PCA\'s test error '
                 f'within {ERROR_TOLERANCE:.0%} and its decoder spans PCA\'s subspace (every '
                 f'principal angle under {ANGLE_TOLERANCE_DEG:.0f} degrees): Baldi and Hornik\'s '
                 'result reproduced')
  if error_only:
    parts.append(f'at k = {_codes(error_only)} it reached PCA\'s error but not its subspace '
                 '(a direction with a nearly equal eigenvalue stands in for a principal one)')
  if neither:
    parts.append(f'at k = {_codes(neither)} it did not reach PCA\'s error within '
                 f'{ERROR_TOLERANCE:.0%} in this budget')
  return {'headline': {**{f'excess_k{r["code"]}': r['excess'] for r in rows},
                       **{f'largest_angle_k{r["code"]}': r['largest_angle']['mean']
                          for r in rows}},
          'rows': rows, 'verdict': '; '.join(parts)}


def _codes(codes) -> str:
  return ', '.join(str(k) for k in codes)


def plot(results, findings, workdir) -> None:
  rows = findings['rows']
  with report.figure(workdir / 'linear_vs_pca.png', panels=2) as (_, (errors, angles)):
    codes = [r['code'] for r in rows]
    errors.plot(codes, [r['pca'] for r in rows], 's--', label='PCA (top k components)')
    errors.errorbar(codes, [r['ae']['mean'] for r in rows],
                    yerr=[0 if r['ae']['n'] < 2 else r['ae']['ci95_high'] - r['ae']['mean']
                          for r in rows], fmt='o-', capsize=3, label='linear autoencoder')
    errors.set_xscale('log', base=2)
    errors.set_xlabel('code size k')
    errors.set_ylabel('test reconstruction MSE (normalised)')
    errors.legend(fontsize=8)
    for r in rows:
      angles.plot(range(1, r['code'] + 1), r['mean_angles'], 'o-', ms=3, label=f'k = {r["code"]}')
    angles.set_xlabel('principal angle, smallest first')
    angles.set_ylabel('degrees (mean over seeds)')
    angles.legend(fontsize=8)
    for ax in (errors, angles):
      ax.grid(alpha=0.3)


def render(results, findings) -> str:
  table = report.markdown_table(
      ['k', 'rate (chosen on val)', 'autoencoder test MSE', 'PCA test MSE', 'excess',
       'largest angle (deg)', 'lambda_k / lambda_k+1'],
      [[r['code'], f"{r['rate']:g}", report.fmt(r['ae']['mean']), report.fmt(r['pca']),
        f"{r['excess']:+.2%}", f"{r['largest_angle']['mean']:.1f}",
        f"{r['eigenvalue_ratio']:.3f}"] for r in findings['rows']])
  return f"""Linear autoencoders (no activation, biases kept) with a k-unit code on
{results['values']}-value inputs, trained with Adam and a cosine decay on
{results['train_examples']} examples; the learning rate chosen on the validation split. PCA
fitted on the same training split. Errors per value, on the normalised scale; angles between the
decoder's output weights' row space and the top k components, the largest averaged over seeds.

{table}

![error against code size, and principal angles](linear_vs_pca.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
