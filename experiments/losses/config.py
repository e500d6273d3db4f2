"""The losses experiment's options: defaults (the full preset), types and descriptions."""
import dataclasses

SECTION_NAMES = ('regression', 'classification_losses', 'imbalance', 'binary_decisions',
                 'metrics_that_mislead')


@dataclasses.dataclass(frozen=True)
class Regression:
  outlier_fractions: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2)  # training targets corrupted
  outlier_scale: float = 10.0     # an outlier: the clean target plus this many target stds
  examples: int = 1000            # synthetic training (and, clean, test) examples
  features: int = 8               # their dimension; the clean target is linear in them
  noise: float = 0.5              # the std of the clean target's noise
  diabetes: bool = True           # also scikit-learn's diabetes data (no outliers added)
  depth: int = 0                  # MLP hidden layers (0: linear regression)
  epochs: int = 100               # passes over the training split
  batch_size: int = 64            # examples per step
  learning_rate: float = 0.01     # Adam's rate
  huber_delta: float = 1.0        # Huber's corner, on the standardised target's scale
  constant_examples: int = 1001   # the exact check's sample (odd: its median is one value)


@dataclasses.dataclass(frozen=True)
class ClassificationLosses:
  losses: tuple[str, ...] = ('cross_entropy', 'mse', 'mae')  # the last two on softmax outputs
  rates: tuple[float, ...] = (1e-3, 3e-3, 1e-2)  # Adam's rates: each loss's chosen on val
  epochs: int = 10                # passes over the training split
  batch_size: int = 128           # examples per step
  depth: int = 2                  # the MLP's hidden layers
  width: int = 256                # and their width
  probabilities: int = 41         # points of the gradient-against-p curve


@dataclasses.dataclass(frozen=True)
class Imbalance:
  datasets: tuple[str, ...] = ('fashion_mnist', 'cifar10')  # made long-tailed
  ratios: tuple[float, ...] = (10.0, 100.0)  # largest / smallest class, training split only
  gammas: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0)  # the focal loss's exponents
  model: str = ''                 # mlp or cnn; '' = cnn for images, mlp for feature vectors
  epochs: int = 10                # passes over the (long-tailed) training split
  batch_size: int = 128           # examples per step
  learning_rate: float = 1e-3     # Adam's rate, the same for every method


@dataclasses.dataclass(frozen=True)
class BinaryDecisions:
  # breast_cancer (scikit-learn), and/or cat_dog: CIFAR-10's cats (3) against its dogs (5).
  datasets: tuple[str, ...] = ('breast_cancer', 'cat_dog')
  target_recall: float = 0.95     # the threshold is the highest with this val recall
  model: str = ''                 # mlp or cnn; '' = cnn for images, mlp for feature vectors
  epochs: int = 20                # passes over the training split
  batch_size: int = 32            # examples per step
  learning_rate: float = 1e-3     # Adam's rate


@dataclasses.dataclass(frozen=True)
class LossesConfig:
  """Fashion-MNIST and CIFAR-10 on a CPU (hours; docs/losses.md)."""
  seed: int = 0                   # the first seed; members use seed, seed + 1, ...
  seeds: int = 3                  # seeds per setting: means with 95% intervals
  sections: tuple[str, ...] = SECTION_NAMES  # which sections to run, in this order
  data: str = 'fashion_mnist'     # the dataset of classification_losses
  data_dir: str = ''              # where the data files are; '' = default places
  download: bool = True           # fetch missing files when a network exists
  fast_compile: bool = False      # compile with LLVM -O1: about half the compile time
  epochs_per_call: int = 1        # epochs per compiled call and checkpoint; 0 = all in one
  val_fraction: float = 0.1       # training examples held out for choosing (stratified)
  regression: Regression = Regression()  # MSE, MAE and Huber against outliers
  classification_losses: ClassificationLosses = ClassificationLosses()  # CE against MSE, MAE
  imbalance: Imbalance = Imbalance()  # CE, weighted CE, focal, re-sampling on long tails
  binary_decisions: BinaryDecisions = BinaryDecisions()  # ROC, PR and a chosen threshold
