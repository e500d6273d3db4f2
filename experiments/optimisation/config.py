"""The optimisation experiment's options: defaults (the full preset), types and descriptions."""
import dataclasses

from research.optim import OPTIMIZERS

SECTION_NAMES = ('convex', 'gd_variants', 'learning_rate', 'optimizers', 'activations',
                 'model_size')


@dataclasses.dataclass(frozen=True)
class Convex:
  kappa: float = 100.0            # the quadratic's condition number lambda_max / lambda_min
  dimension: int = 20             # its eigenvalues, log-spaced from 1 to kappa
  steps: int = 400                # iterations; the rate is read on the second half
  line_points: int = 50           # the line fit's data points (x uniform on [0, 4])
  line_noise: float = 0.3         # the std of the line's noise around y = 2x + 1
  threshold_steps: int = 200      # iterations after which a run has diverged or not
  bisections: int = 30            # halvings of the divergence threshold's bracket


@dataclasses.dataclass(frozen=True)
class GdVariants:
  batch_sizes: tuple[int, ...] = (0, 1, 16, 128)  # 0 = the whole training split (batch GD)
  epochs: int = 5                 # passes over the training split, for every batch size
  learning_rate: float = 0.02     # plain SGD's rate, the same for every batch size
  width: int = 128                # the one-hidden-layer MLP's width
  variance_examples: int = 2000   # the population the gradient variance is measured on
  variance_batches: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # its batch sizes
  variance_draws: int = 200       # mini-batches drawn per batch size


@dataclasses.dataclass(frozen=True)
class Sweep:
  optimizers: tuple[str, ...] = OPTIMIZERS  # compared in sections 3 and 4
  rates: tuple[float, ...] = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)
  epochs: int = 10                # passes over the training split per member
  batch_size: int = 128           # examples per step
  depth: int = 2                  # the MLP's hidden layers
  width: int = 256                # and their width
  target_val_loss: float = 0.0    # section 4's target; 0 = 1.25 x the best final val loss
  adamw_weight_decay: float = 1e-4  # AdamW's decoupled decay (optax's default)


@dataclasses.dataclass(frozen=True)
class Activations:
  activations: tuple[str, ...] = ('sigmoid', 'tanh', 'relu', 'leaky_relu', 'elu', 'selu',
                                  'gelu', 'swish', 'mish')  # compared in the same CNN
  channels: tuple[int, ...] = (32, 64)  # the CNN's convolution channels per stage
  dense: tuple[int, ...] = (128,)  # its fully connected units
  epochs: int = 10                # passes over the training split
  batch_size: int = 128           # examples per step
  learning_rate: float = 0.01     # momentum SGD's rate (as Krizhevsky et al. trained)
  # The paper's 25% is on CIFAR-10; Fashion-MNIST's CNNs pass that within one epoch.
  target_train_error: float = 0.1  # the training error whose first epoch is compared
  linear_depth: int = 3           # hidden layers of the deep linear network
  linear_width: int = 64          # and their width
  linear_epochs: int = 20         # its and logistic regression's passes
  linear_learning_rate: float = 0.01  # their Adam rate


@dataclasses.dataclass(frozen=True)
class ModelSize:
  depths: tuple[int, ...] = (1, 2, 3)        # MLP hidden layers
  widths: tuple[int, ...] = (16, 64, 256)    # hidden units per layer
  folds: int = 5                  # k of the k-fold cross-validation
  epochs: int = 10                # passes over the training split
  batch_size: int = 128           # examples per step
  learning_rate: float = 1e-3     # Adam's rate


@dataclasses.dataclass(frozen=True)
class OptimisationConfig:
  """Fashion-MNIST on a CPU (hours; docs/optimisation.md)."""
  seed: int = 0                   # the first seed; members use seed, seed + 1, ...
  seeds: int = 3                  # seeds per setting: means with 95% intervals
  sections: tuple[str, ...] = SECTION_NAMES  # which sections to run, in this order
  data: str = 'fashion_mnist'     # the dataset of the network sections
  data_dir: str = ''              # where its files are; '' = default places
  download: bool = True           # fetch missing files when a network exists
  fast_compile: bool = False      # compile with LLVM -O1: about half the compile time
  val_fraction: float = 0.1       # training examples held out for choosing (stratified)
  convex: Convex = Convex()       # quadratics where theory gives the numbers
  gd_variants: GdVariants = GdVariants()  # batch, stochastic and mini-batch descent
  sweep: Sweep = Sweep()          # optimizers x learning rates x seeds (sections 3 and 4)
  activations: Activations = Activations()  # linear collapse; activations in one CNN
  model_size: ModelSize = ModelSize()  # depth x width by k-fold cross-validation
