"""Section 3. GAN samples as data augmentation: does a small labelled set gain from them?

The notes (003 Q9, 004) name GAN samples as a way to augment scarce data. Here the labelled
set is small (the first few examples of each class); a class-conditional GAN (Mirza and
Osindero 2014) is trained on it alone, and the same MLP classifier is trained on the real
examples only, and on them plus the GAN's samples of every class. Each seed has its own GAN and
its own classifiers; the comparison is over seeds, on the test split.
"""
import dataclasses

import jax
import numpy as np

from experiments import ensemble_runs
from experiments.gan import groups
from research import optim, report, stats
from research.data import splits
from research.models import build_model
from research.train import ensemble

TITLE = 'GAN samples as data augmentation for a small labelled set'


def _classifier_cfg(context, cfg, data) -> ensemble.EnsembleConfig:
  c = context.config.classifier
  return ensemble.EnsembleConfig(
      model='mlp', options=dict(depth=c.depth, width=c.width),
      rate_field='optim.learning_rate', epochs=cfg.classifier_epochs,
      batch_size=min(cfg.batch_size, len(data.train_labels)),
      optim=optim.OptimConfig(name='adam', learning_rate=c.learning_rate),
      fast_compile=context.config.fast_compile)


def conditional_samples(config, params, data, per_class: int, seed: int):
  """(images in the data's stored units, labels): `per_class` samples of every class."""
  options = {**groups.gan_options(config), 'conditional': True}
  model = build_model('gan', options, data.num_classes)
  labels = np.repeat(np.arange(data.num_classes), per_class)
  z = jax.random.normal(jax.random.key(seed), (len(labels), config.latent))
  normalized = model.apply({'params': params}, z, data.image_shape, labels, method='generate')
  return np.asarray(normalized) * data.std + data.mean, labels


def measure(cfg, context) -> dict:
  config = context.config
  small = splits.per_class(context.data(), cfg.examples_per_class)
  gan = groups.train_gan(context, 'non_saturating', data=small, name='conditional_gan',
                         conditional=True, epochs=cfg.gan_epochs)
  lr = config.classifier.learning_rate
  real = ensemble_runs.train_group('real_only', _classifier_cfg(context, cfg, small), small,
                                   (lr,), context, kept=('accuracy', 'loss'))
  augmented = []
  for k in range(config.seeds):
    seed = config.seed + k
    images, labels = conditional_samples(config, ensemble.member(gan['states'], k).params,
                                         small, cfg.generated_per_class, seed)
    mixed = dataclasses.replace(
        small, train_images=np.concatenate([small.train_images.astype(np.float32),
                                            images.astype(np.float32)]),
        train_labels=np.concatenate([small.train_labels, labels.astype(np.int32)]))
    one_seed = groups.one_seed_context(context, seed)
    group = ensemble_runs.train_group(f'augmented_seed_{seed}',
                                      _classifier_cfg(context, cfg, mixed), mixed, (lr,),
                                      one_seed, kept=('accuracy', 'loss'))
    augmented.append(group['members'][0]['test']['accuracy'])
  return {'examples_per_class': cfg.examples_per_class, 'classes': small.num_classes,
          'generated_per_class': cfg.generated_per_class, 'train_examples': len(small.train_labels),
          'real_only': [m['test']['accuracy'] for m in real['members']],
          'augmented': augmented, 'gan_d_accuracy': [m['test']['d_accuracy']
                                                     for m in gan['members']]}


def analyze(results) -> dict:
  real, mixed = stats.over_seeds(results['real_only']), stats.over_seeds(results['augmented'])
  if stats.intervals_overlap(real, mixed):
    verdict = 'inside the seed spread: inconclusive'
  elif mixed['mean'] > real['mean']:
    verdict = "better beyond the seed spread: the notes' claim holds here"
  else:
    verdict = "worse beyond the seed spread: the samples hurt, against the notes' claim"
  sentence = (f"with {results['examples_per_class']} labelled examples per class, the "
              f"classifier reaches {mixed['mean']:.1%} test accuracy with "
              f"{results['generated_per_class']} GAN samples per class added, against "
              f"{real['mean']:.1%} on the real examples alone: {verdict}")
  return {'headline': {'real_only': real['mean'], 'augmented': mixed['mean'],
                       'gain': mixed['mean'] - real['mean']},
          'real': real, 'mixed': mixed, 'verdict': sentence}


def render(results, findings) -> str:
  table = report.markdown_table(
      ['training set', 'examples', 'test accuracy (mean ± 95%)', 'per seed'],
      [['real only', results['train_examples'], report.percent_interval(findings['real']),
        ', '.join(f'{a:.1%}' for a in results['real_only'])],
       ['real + GAN samples',
        results['train_examples'] + results['generated_per_class'] * results['classes'],
        report.percent_interval(findings['mixed']),
        ', '.join(f'{a:.1%}' for a in results['augmented'])]])
  return f"""The first {results['examples_per_class']} training examples of each class; a conditional
GAN per seed trained on them alone (its discriminator's test accuracy
{np.mean(results['gan_d_accuracy']):.1%}), then {results['generated_per_class']} of its samples per
class added to them. The classifier is the feature classifier's MLP, trained the same number of
epochs on either set.

{table}

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
