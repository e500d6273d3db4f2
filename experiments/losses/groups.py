"""What the losses sections share: data with a fixed validation split, the model a dataset gets,
and groups of seeds (and one varied hyperparameter) trained as one vmapped ensemble each."""
from experiments import ensemble_runs
from research import losses, optim
from research.data import splits
from research.data.dataset import Dataset, with_normalization
from research.train import ensemble

# What each member keeps of every evaluated split (classification).
KEPT = ('accuracy', 'loss', 'log_loss', 'ece', 'recall_macro', 'precision_macro', 'f1_macro',
        'roc_auc_macro', 'confusion_matrix')
REGRESSION_KEPT = ('loss', 'rmse', 'mae', 'r2')
CNN_OPTIONS = dict(channels=(32, 64), dense=(128,))
MLP_OPTIONS = dict(depth=2, width=256)


def prepare(dataset: Dataset, val_fraction: float) -> Dataset:
  """The dataset normalised by its training statistics, with a fixed stratified validation
  split (the same for every seed); a regression set's split is a fixed random one."""
  return splits.apply(with_normalization(dataset, 'channel'),
                      splits.SplitConfig(val_fraction=val_fraction))


def model_for(dataset: Dataset, model: str = '') -> tuple[str, dict]:
  """(model, options): `model` if named, else a CNN for images and an MLP for feature vectors."""
  model = model or ('cnn' if len(dataset.image_shape) == 3 else 'mlp')
  return model, dict(CNN_OPTIONS if model == 'cnn' else MLP_OPTIONS)


def train(name: str, context, dataset: Dataset, *, model: str, options: dict, epochs: int,
          batch_size: int, learning_rate: float, loss: losses.LossConfig = losses.LossConfig(),
          task: str = 'classification', rate_field: str = 'optim.learning_rate', rates=None,
          keep_states: bool = False, epochs_per_call: int | None = None) -> dict:
  """One group: every seed at every value of `rate_field` in `rates` (default: the learning
  rate alone), Adam at `learning_rate`; diverged members kept as NaN. Its results
  (ensemble_runs.train_group); `epochs_per_call` defaults to the experiment's."""
  optim_cfg = optim.OptimConfig(name='adam', learning_rate=learning_rate)
  cfg = ensemble.EnsembleConfig(
      model=model, options=options, rate_field=rate_field, epochs=epochs,
      batch_size=min(batch_size, len(dataset.train_labels)), optim=optim_cfg, loss=loss,
      task=task,
      epochs_per_call=(context.config.epochs_per_call if epochs_per_call is None
                       else epochs_per_call), stop_on_divergence=False,
      fast_compile=context.config.fast_compile)
  kept = REGRESSION_KEPT if task == 'regression' else KEPT
  return ensemble_runs.train_group(name, cfg, dataset, tuple(rates or (learning_rate,)),
                                   context, keep_states=keep_states, kept=kept)
