"""The transfer experiment's options: defaults (the full preset), types and descriptions."""
import dataclasses

SECTION_NAMES = ('strategies', 'freeze_depth', 'domain_shift', 'features')


@dataclasses.dataclass(frozen=True)
class Source:
  steps: int = 4000               # the pre-training run's steps (a `train` run)
  batch_size: int = 128           # its batch
  learning_rate: float = 1e-3     # its Adam rate


@dataclasses.dataclass(frozen=True)
class Strategies:
  examples: tuple[int, ...] = (10, 50, 250, 0)  # per class of B; 0 = every one
  steps: int = 2000               # the budget of every run, whatever its training-set size
  batch_size: int = 64            # examples per step (at most the training-set size)
  learning_rate: float = 1e-3     # Adam's rate, for every strategy
  head_fraction: float = 0.5      # two_stage: the share of the steps that trains the head only


@dataclasses.dataclass(frozen=True)
class FreezeDepth:
  examples: int = 0               # per class of B; 0 = every one
  steps: int = 2000               # the budget of every run
  batch_size: int = 64            # examples per step
  learning_rate: float = 1e-3     # Adam's rate


@dataclasses.dataclass(frozen=True)
class DomainShift:
  fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)  # of the source's positions shuffled
  examples: int = 50              # per class of B; 0 = every one
  steps: int = 2000               # the budget of every run on B
  batch_size: int = 64            # examples per step
  learning_rate: float = 1e-3     # Adam's rate


@dataclasses.dataclass(frozen=True)
class Features:
  examples: int = 0               # per class of B the probes train on; 0 = every one
  random_seeds: int = 3           # randomly initialised networks probed for comparison
  max_iter: int = 500             # the logistic regression's iterations (scikit-learn)


@dataclasses.dataclass(frozen=True)
class TransferConfig:
  """CIFAR-10 halves, a small CNN (hours on a CPU; a GPU run)."""
  seed: int = 0                   # the first seed; members use seed, seed + 1, ...
  seeds: int = 3                  # seeds per setting: means with 95% intervals
  sections: tuple[str, ...] = SECTION_NAMES  # which sections to run, in this order
  data: str = 'cifar10'           # split into two halves of its classes, A and B
  data_dir: str = ''              # where its files are; '' = default places
  download: bool = True           # fetch missing files when a network exists
  fast_compile: bool = False      # compile with LLVM -O1: about half the compile time
  classes_a: tuple[int, ...] = (0, 1, 2, 3, 4)  # the source task's classes
  classes_b: tuple[int, ...] = (5, 6, 7, 8, 9)  # the target task's (as many as A's)
  val_fraction: float = 0.1       # of B's training examples, held out for choosing
  model: str = 'cnn'              # mlp or cnn
  depth: int = 3                  # mlp: hidden layers
  width: int = 256                # mlp: their width
  channels: tuple[int, ...] = (32, 64)  # cnn: convolution channels per stage
  dense: tuple[int, ...] = (128,)  # cnn: fully connected units
  records: int = 20               # evaluations per run (for steps-to-target)
  source: Source = Source()       # pre-training on A (and on B, for the BnB control)
  strategies: Strategies = Strategies()  # scratch, probe, fine-tune, two stages
  freeze_depth: FreezeDepth = FreezeDepth()  # Yosinski's AnB, AnB+, BnB, BnB+
  domain_shift: DomainShift = DomainShift()  # sources ever further from the target
  features: Features = Features()  # linear probes of every layer, trained against random
