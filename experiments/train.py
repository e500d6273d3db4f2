"""train: any model on any dataset with any optimizer.

Question: how well does this configuration learn? The generic experiment every other one builds
on; `python -m experiments run train model=cnn data=fashion_mnist steps=2000` and so on.
"""
import pathlib

import ml_collections

from experiments import rundir
from research import metrics, report
from research.data import load_dataset
from research.train import config as config_lib
from research.train import distributed, driver, loop, metrics_log, transfer


DESCRIPTION = 'train any model on any dataset with any optimizer (the generic experiment)'
MULTI_PROCESS = True  # runs under jax.distributed: see research/train/distributed.py


def get_config() -> ml_collections.ConfigDict:
  """The command line's view of research/train/config.py's TrainConfig, its one home."""
  return config_lib.to_config_dict(config_lib.TrainConfig())


def quick(c: ml_collections.ConfigDict) -> None:
  """The demo preset: 600 steps, which take the MLP on digits past 95% test accuracy."""
  c.steps, c.log_every, c.eval_every, c.checkpoint_every = 600, 50, 50, 200


def validate(c: ml_collections.ConfigDict) -> None:
  config_lib.validate(config_lib.from_config_dict(c))


def describe(c: ml_collections.ConfigDict) -> list[tuple[str, str, object, str]]:
  """(key, type, value, description) of every key, from TrainConfig's field comments."""
  return config_lib.describe(config_lib.from_config_dict(c))


def _write_report(workdir: pathlib.Path, config, results: dict) -> None:
  records = metrics_log.read_records(workdir)
  evaluated = [split for split in ('val', 'test') if split in results]
  report.plot_curves(workdir / 'loss.png', {
      f'{split} loss': ([r['step'] for r in records if r['split'] == split],
                        [r['loss'] for r in records if r['split'] == split])
      for split in ('train', *evaluated)},
      'step', 'loss', title=f'{config.model} on {config.data}', logy=True)
  t = results['test']
  names = {'val': 'validation', 'test': 'test'}
  table = report.markdown_table(
      ['metric', *(f'{names[split]} ({results[split]["count"]} examples)'
                   for split in evaluated)],
      [[k, *(results[split][k] for split in evaluated)] for k in REPORTED[config.task]])
  curves = _curves_section(workdir, results.get('test_curves'))
  classes = _per_class_section(workdir, t)
  probes = _diagnostics_section(workdir, records)
  (workdir / 'report.md').write_text(f"""# train: {config.model} on {config.data}

## Question
How well does a {config.model} learn {config.data} ({config.task}) with {config.optim.name}
(lr {config.optim.learning_rate}, {config.optim.schedule}) in {config.steps} steps of batch
{config.batch_size}?

## Setup
{results['num_params']:,} parameters; {results['devices']} device(s), backend {config.backend};
seed {config.seed}; {_training(config, results, records)} Full config: `config.json`; versions
and machine: `manifest.json`.

## Measurement
{table}

![loss curves](loss.png)
{classes}{curves}{probes}
## Conclusion
After {results['final_step']} steps{_stopped(results)} {_outcome(config.task, t)}. Final state
fingerprint
`{results['state_fingerprint']}`.
""")


def _training(config, results: dict, records: list[dict]) -> str:
  """The training set, time and speed, and the last logged training accuracy, in words."""
  timing = results.get('timing') or {}
  speed = (f", {timing['steady_steps'] * config.batch_size / timing['steady_s']:,.0f} "
           'examples/s after the first call' if timing.get('steady_s') else '')
  train = [r for r in records if r['split'] == 'train' and 'accuracy' in r]
  last = (f"; training-batch accuracy over the last log interval {train[-1]['accuracy']:.2%}"
          if train else '')
  return (f"{results['train_examples']:,} training examples; this session trained "
          f"{results['steps_run']} steps in {results['train_time_s']:.1f} s{speed}{last}.")


def _diagnostics_section(workdir: pathlib.Path, records: list[dict]) -> str:
  """Per-layer gradient norms over training, when diagnostics_every probed them."""
  probes = [r for r in records if r['split'] == 'diagnostics']
  layers = sorted({k.split('/', 1)[1] for r in probes for k in r if k.startswith('grad_norm/')})
  if not layers:
    return ''
  report.plot_curves(workdir / 'diagnostics.png', {
      layer: ([r['step'] for r in probes], [r.get(f'grad_norm/{layer}') for r in probes])
      for layer in layers}, 'step', 'gradient norm (per layer)', logy=True)
  return ('\nPer-layer gradient norms on the fixed probe batch (all the probes are in '
          '`metrics.jsonl`, split "diagnostics"):\n\n![gradient norms](diagnostics.png)\n')


def _per_class_section(workdir: pathlib.Path, test: dict) -> str:
  """A classifier's test confusion matrix as a heat map, and each class's precision, recall,
  F1 and support."""
  if 'confusion_matrix' not in test:
    return ''
  with report.figure(workdir / 'confusion.png', panel_size=(5, 4.5)) as (_, (ax,)):
    report.confusion_heatmap(ax, test['confusion_matrix'], 'test confusion matrix')
  classes = metrics.per_class(test['confusion_matrix'])
  table = report.markdown_table(
      ['class', 'precision', 'recall', 'F1', 'support'],
      [[c, f'{p:.4f}', f'{r:.4f}', f'{f:.4f}', int(n)] for c, (p, r, f, n) in enumerate(zip(
          classes['precision'], classes['recall'], classes['f1'], classes['support']))])
  return f"\nPer class, on the test set:\n\n{table}\n\n![confusion matrix](confusion.png)\n"


def _curves_section(workdir: pathlib.Path, curves: dict | None) -> str:
  """The binary task's exact test ROC and precision-recall curves: plotted, and their areas."""
  if not curves:
    return ''
  roc, pr = curves['roc'], curves['precision_recall']
  with report.figure(workdir / 'curves.png', panels=2, panel_size=(4.5, 4)) as (_, (a, b)):
    a.plot(roc['fpr'], roc['tpr'], drawstyle='steps-post')
    a.plot([0, 1], [0, 1], 'k:', lw=1)
    a.set(xlabel='false positive rate', ylabel='true positive rate',
          title=f"ROC (AUC {curves['roc_auc']:.4f})")
    b.plot(pr['recall'], pr['precision'], drawstyle='steps-post')
    b.set(xlabel='recall', ylabel='precision',
          title=f"precision-recall (AP {curves['average_precision']:.4f})")
  return (f"\nOn the test set, over every threshold (scikit-learn): ROC AUC "
          f"{curves['roc_auc']:.4f}, average precision {curves['average_precision']:.4f}.\n\n"
          "![ROC and precision-recall curves](curves.png)\n")


# The test metrics each task's report tabulates.
REPORTED = {
    'classification': ('accuracy', 'loss', 'log_loss', 'precision_macro', 'recall_macro',
                       'f1_macro', 'roc_auc_macro', 'ece'),
    'binary': ('accuracy', 'loss', 'precision_macro', 'recall_macro', 'f1_macro',
               'roc_auc_macro', 'ece'),
    'regression': ('r2', 'rmse', 'mae', 'loss'),
    'reconstruction': ('mse', 'mae', 'loss'),
    'adversarial': ('d_accuracy', 'd_real', 'd_fake', 'loss'),
}


def _stopped(results: dict) -> str:
  stopping = results.get('early_stopping') or {}
  if stopping.get('stopped_at_step') is None:
    return ''
  return (f" (stopped early: {stopping['metric']} was best, {stopping['best_value']:.4g}, at "
          f"step {stopping['best_step']})")


def _outcome(task: str, test: dict) -> str:
  """The run's result in words: what its summary line and report say."""
  if task == 'regression':
    return f"the test R^2 is {test['r2']:.3f} (RMSE {test['rmse']:.4g}, MAE {test['mae']:.4g})"
  if task == 'adversarial':
    return (f"the discriminator tells test images from generated ones {test['d_accuracy']:.1%} "
            f"of the time (mean D(x) {test['d_real']:.3f} on real, {test['d_fake']:.3f} on "
            "generated; 50% and 0.5 each at the game's equilibrium)")
  if task == 'reconstruction':
    return (f"the test reconstruction error is {test['mse']:.4f} per value (MSE, in units of "
            f"the normalised input; MAE {test['mae']:.4f})")
  return (f"the test accuracy is {test['accuracy']:.2%} (log loss {test['log_loss']:.4f}, "
          f"ECE {test['ece']:.4f})")


def run(config, workdir: pathlib.Path, manifest: dict) -> dict:
  config = config_lib.from_config_dict(config)
  dataset = load_dataset(config.data, config.data_dir, config.download)
  if config.init_from:  # the source run's directory, step and weights, for the record
    manifest['init_from'] = transfer.provenance(config.init_from)
    if distributed.is_main():
      rundir.write_json(workdir / 'manifest.json', manifest)
  timing = driver.Timing()
  results = loop.train_and_evaluate(config, workdir, dataset, manifest, timing)
  # When the first step ran and the loop's steady time: what the throughput experiment reads.
  results['timing'] = timing.results(results['steps_run'])
  if distributed.is_main():
    _write_report(workdir, config, results)
  return results


def summary(results: dict) -> str:
  test = results['test']
  if 'r2' in test:
    headline = f'test R^2 {test["r2"]:.4f}, RMSE {test["rmse"]:.4g}'
  elif 'accuracy' in test:
    headline = f'test accuracy {test["accuracy"]:.4f}'
  elif 'd_accuracy' in test:
    headline = f'discriminator test accuracy {test["d_accuracy"]:.4f}'
  else:
    headline = f'test reconstruction MSE {test["mse"]:.4f}'
  return f'{headline}, fingerprint {results["state_fingerprint"][:16]}'
