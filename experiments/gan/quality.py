"""Section 2. Quality: what the samples look like as the GAN trains, and whether it collapses.

The notes (004): the generator learns to produce samples the discriminator cannot tell from real
data. With no Inception network offline, the samples of the non-saturating GANs of section 1 are
scored in the feature space of a classifier trained here: their Fréchet distance to the real test
images over training, beside the distance between two sets of real images (the floor a finite
sample leaves), and the classifier's histogram of their classes: a generator that has collapsed
onto a few modes puts most of its samples in a few classes (Goodfellow 2016's "Helvetica
scenario"). Sample grids of the same latent codes over training show it by eye.
"""
import numpy as np

from experiments.gan import groups, losses
from research import metrics, report, stats

TITLE = 'Quality over training: Fréchet distance, class histogram and sample grids'
COLLAPSE_ENTROPY = 0.9  # a class histogram below this normalised entropy: modes dropped


def measure(cfg, context) -> dict:
  config, data = context.config, context.data()
  score = context.scorer()
  group = context.gan('non_saturating')
  train = groups.normalized(data, 'train')[:len(score.real_features)]
  samples = groups.generate(config, group['states'].params, data.image_shape, cfg.samples)
  run_dir = group['run_dir']
  return {'run': losses.summarize_group(group),
          'floor_fd': metrics.frechet_distance(score.features(train), score.real_features),
          'histograms': [score.score(s, data.num_classes)['histogram'] for s in samples],
          'snapshots': sorted(p.name for p in (run_dir / 'samples').glob('*.npy')),
          'samples_dir': str(run_dir.relative_to(context.workdir) / 'samples'),
          'image_shape': list(data.image_shape), 'classifier_accuracy': score.test_accuracy}


def analyze(results) -> dict:
  run = results['run']
  curve = run['fd_curve']['mean']
  final = stats.over_seeds(run['fd'])
  entropy = stats.over_seeds(run['entropy'])
  collapsed = entropy['mean'] < COLLAPSE_ENTROPY
  histogram = np.nanmean(results['histograms'], axis=0)  # a diverged member's is NaN
  parts = [f"the Fréchet distance falls from {curve[0]:.3g} (the untrained generator) to "
           f"{final['mean']:.3g} after training, {final['mean'] / results['floor_fd']:.1f}x "
           f"the {results['floor_fd']:.3g} between two sets of real images",
           (f"the samples' class histogram has normalised entropy {entropy['mean']:.2f} "
            f"(largest class {histogram.max():.0%} of the samples): "
            + ('modes are dropped (collapse)' if collapsed else
               'every class is generated, no collapse'))]
  if curve[-1] > min(curve):
    parts.append(f"the distance was lowest ({min(curve):.3g}) before the end: training "
                 'oscillates rather than converges')
  return {'headline': {'fd_start': curve[0], 'fd_final': final['mean'],
                       'fd_floor': results['floor_fd'], 'class_entropy': entropy['mean']},
          'final': final, 'collapsed': collapsed, 'histogram': histogram.tolist(),
          'verdict': '; '.join(parts)}


def plot(results, findings, workdir) -> None:
  run = results['run']
  with report.figure(workdir / 'gan_quality.png', panels=2) as (_, (fd, classes)):
    fd.plot(run['fd_curve']['steps'], run['fd_curve']['mean'], 'o-', label='samples')
    fd.axhline(results['floor_fd'], color='k', ls=':', label='real against real')
    fd.set(yscale='log', xlabel='step', ylabel='Fréchet distance (classifier features)')
    fd.legend(fontsize=8)
    histogram = findings['histogram']
    classes.bar(range(len(histogram)), histogram)
    classes.axhline(1 / len(histogram), color='k', ls=':', label='uniform')
    classes.set(xlabel='predicted class', ylabel='share of the samples')
    classes.legend(fontsize=8)
    for ax in (fd, classes):
      ax.grid(alpha=0.3)
  shape = results['image_shape']
  rows = [(f'step {int(name[:-4])}',
           np.load(workdir / results['samples_dir'] / name)[0].reshape(-1, *shape))
          for name in results['snapshots']]
  report.image_grid(workdir / 'gan_samples.png', rows)


def render(results, findings) -> str:
  run = results['run']
  table = report.markdown_table(
      ['step', 'Fréchet distance (mean over seeds)'],
      [[s, f'{v:.3g}'] for s, v in zip(run['fd_curve']['steps'], run['fd_curve']['mean'])])
  return f"""The non-saturating GANs of section 1; scores as there (the feature classifier's test
accuracy {results['classifier_accuracy']:.1%}; not the Inception-based FID). The floor is the
distance between real training and real test images, as many as the test set.

{table}

![Fréchet distance over training, and the samples' classes](gan_quality.png)

![the same latent codes over training (seed 0)](gan_samples.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
