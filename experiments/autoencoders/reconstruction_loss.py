"""Section 4. The reconstruction loss: squared error, absolute error or binary cross-entropy.

The notes (003 Q9): a reconstruction loss measures how well the network reproduces its input,
"typically MSE or MAE". For images whose pixels lie in [0, 1] a third choice is common (and is
the likelihood of a Bernoulli decoder): binary cross-entropy, with the decoder's outputs as
logits and the reconstruction their sigmoid. The same autoencoder is trained with each loss on
pixels scaled to [0, 1] (`normalize=unit`); each loss's learning rate is chosen by its own
objective on the validation split, and every model is then scored on the same test measures:
MSE and MAE per pixel. Does each loss win on its own measure, and does the choice matter
beyond the seed spread?
"""
import numpy as np

from experiments.autoencoders import groups
from research import losses, report, stats

TITLE = 'The reconstruction loss: MSE, MAE or binary cross-entropy'
SHOWN = 8  # test images in the reconstruction grid
NAMES = {'mse': 'MSE', 'mae': 'MAE', 'huber': 'Huber', 'binary_cross_entropy': 'binary CE'}
MEASURES = ('mse', 'mae')


def measure(cfg, context) -> dict:
  data = context.unit_data()
  test_x = groups.flat(data, 'test')
  shown = test_x[:SHOWN]
  results = {'code': cfg.code, 'encoder': list(cfg.encoder), 'rates': list(cfg.rates),
             'train_examples': len(data.train_labels), 'image_shape': list(data.image_shape),
             'originals': _rounded(shown), 'losses': []}
  for name in cfg.losses:
    group = groups.train(f'loss_{name}', context, data,
                         options=dict(encoder=tuple(cfg.encoder), code=cfg.code),
                         epochs=cfg.epochs, batch_size=cfg.batch_size, rates=cfg.rates,
                         loss=losses.LossConfig(name=name))
    choice = groups.chosen(group, cfg.rates, context.config.seeds, metric='loss')
    outputs = groups.apply(group, choice['members'][0], shown)
    results['losses'].append({
        'name': name, 'rate': choice['rate'], 'test_mse': choice['test_mse'],
        'test_mae': choice['test_mae'],
        'shown': _rounded(1 / (1 + np.exp(-outputs)) if name == 'binary_cross_entropy'
                          else outputs)})
  return results


def _rounded(x) -> list:
  return np.round(np.asarray(x, np.float64), 3).tolist()


def _ranking(rows: list, measure: str) -> dict:
  """The loss with the lowest mean test `measure`, the runner-up, and whether the best's 95%
  interval lies below the runner-up's ('better') or overlaps it ('inconclusive')."""
  ranked = sorted(rows, key=lambda r: r[measure]['mean'])
  best = ranked[0]
  if len(ranked) < 2:
    return {'best': best['name'], 'runner_up': None, 'verdict': 'inconclusive'}
  second = ranked[1]
  verdict = 'inconclusive' if stats.intervals_overlap(best[measure], second[measure]) else 'better'
  return {'best': best['name'], 'runner_up': second['name'], 'verdict': verdict}


def analyze(results) -> dict:
  rows = [{'name': m['name'], 'rate': m['rate'],
           **{key: stats.over_seeds(m[f'test_{key}']) for key in MEASURES}}
          for m in results['losses']]
  rankings = {key: _ranking(rows, key) for key in MEASURES}
  by_name = {r['name']: r for r in rows}
  parts = []
  for key, ranking in rankings.items():
    best = by_name[ranking['best']]
    text = (f"{NAMES[ranking['best']]} gives the lowest test {key.upper()} "
            f"({report.fmt(best[key]['mean'])})")
    if ranking['runner_up']:
      other = by_name[ranking['runner_up']]
      text += (f", against {NAMES[ranking['runner_up']]}'s {report.fmt(other[key]['mean'])}: "
               + ('beyond the seed spread' if ranking['verdict'] == 'better'
                  else 'inside the seed spread, so inconclusive'))
    parts.append(text)
  own = [key for key in MEASURES if key in by_name and len(rows) > 1]
  if own:
    parts.append(', '.join(
        f"{key.upper()} {'has' if rankings[key]['best'] == key else 'does not have'} the "
        'lowest mean on its own measure' for key in own))
  bce, mse = by_name.get('binary_cross_entropy'), by_name.get('mse')
  if bce and mse:
    verdict = ('inconclusive' if stats.intervals_overlap(bce['mse'], mse['mse']) else
               'lower' if bce['mse']['mean'] < mse['mse']['mean'] else 'higher')
    parts.append(f"binary cross-entropy's test MSE is {verdict} than training on MSE itself"
                 + (' (inside the seed spread)' if verdict == 'inconclusive' else ''))
  ends = (min(results['rates']), max(results['rates']))
  edge = [NAMES[r['name']] for r in rows if len(results['rates']) > 1 and r['rate'] in ends]
  if edge:
    parts.append(f"the rate chosen for {', '.join(edge)} lies at the edge of the grid, so a "
                 'wider grid might change these numbers')
  headline = {f'{key}_{r["name"]}': r[key]['mean'] for r in rows for key in MEASURES}
  return {'headline': headline, 'rows': rows, 'rankings': rankings,
          'verdict': '; '.join(parts)}


def plot(results, findings, workdir) -> None:
  rows = findings['rows']
  with report.figure(workdir / 'reconstruction_loss.png', panels=2) as (_, axes):
    x = np.arange(len(rows))
    for ax, key in zip(axes, MEASURES):
      ax.bar(x, [r[key]['mean'] for r in rows],
             yerr=[0 if r[key]['n'] < 2 else r[key]['ci95_high'] - r[key]['mean'] for r in rows],
             capsize=4, color='tab:blue')
      ax.set_xticks(x, [NAMES[r['name']] for r in rows])
      ax.set_ylabel(f'test {key.upper()} per pixel, pixels in [0, 1]')
      ax.set_xlabel('trained with')
      ax.grid(alpha=0.3, axis='y')
  as_images = lambda x: np.asarray(x).reshape(-1, *results['image_shape'])
  report.image_grid(workdir / 'loss_reconstructions.png',
                    [('original', as_images(results['originals']))]
                    + [(NAMES[m['name']], as_images(m['shown'])) for m in results['losses']])


def render(results, findings) -> str:
  interval = lambda s: (report.fmt(s['mean']) if s['n'] < 2 else
                        f"{report.fmt(s['mean'])} ± {report.fmt(s['ci95_high'] - s['mean'])}")
  table = report.markdown_table(
      ['trained with', 'learning rate', 'test MSE', 'test MAE'],
      [[NAMES[r['name']], f"{r['rate']:g}", interval(r['mse']), interval(r['mae'])]
       for r in findings['rows']])
  hidden = '-'.join(map(str, results['encoder'])) or 'no'
  return f"""One autoencoder ({hidden} hidden ReLU units, a {results['code']}-unit code, the
decoder mirrored), trained on {results['train_examples']} examples with pixels scaled to
[0, 1], once per loss. Binary cross-entropy reads the output as logits and reconstructs with
their sigmoid; the others output the pixels directly. Each loss's learning rate (of
{', '.join(f'{r:g}' for r in results['rates'])}) was chosen by its own loss on the validation
split. Test errors per pixel, mean ± 95% half-width over seeds:

{table}

![test errors per loss](reconstruction_loss.png)

![test images and their reconstructions under each loss](loss_reconstructions.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
