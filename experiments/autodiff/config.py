"""The autodiff experiment's options: defaults (the full preset), types and descriptions."""
import dataclasses

from research import checks
from research.errors import UserError

SECTION_NAMES = ('jacobian', 'cheap_gradient', 'memory', 'hvp', 'accuracy', 'swell',
                 'manual_backprop', 'implicit', 'hybrid')


@dataclasses.dataclass(frozen=True)
class Jacobian:
  sizes: tuple[int, ...] = (1, 4, 16, 64, 256, 1024)  # the n and m of f: R^n -> R^m, a grid
  corner: tuple[int, ...] = (4, 1024)  # the (few, many) pair the conclusion names
  hidden: int = 256                    # hidden width of f


@dataclasses.dataclass(frozen=True)
class CheapGradient:
  widths: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)  # MLP widths, one model each
  depth: int = 4                       # hidden layers
  batch: int = 128                     # examples per loss
  inputs: int = 784                    # input features


@dataclasses.dataclass(frozen=True)
class Memory:
  depths: tuple[int, ...] = (4, 8, 16, 32, 64, 128)  # MLP depths (at least two)
  width: int = 128                     # hidden width
  batch: int = 512                     # examples per loss


@dataclasses.dataclass(frozen=True)
class Hvp:
  widths: tuple[int, ...] = (4, 8, 16, 32, 128, 512)  # hidden widths: the sizes P
  inputs: int = 16                     # input features
  batch: int = 256                     # examples per loss
  max_hessian_params: int = 2000       # the full Hessian is formed up to this many parameters


@dataclasses.dataclass(frozen=True)
class Accuracy:
  x: float = 1.5                       # where the test function's derivative is taken
  min_exponent: int = 1                # the largest step, h = 10^-min_exponent
  max_exponent: int = 20               # the smallest step, h = 10^-max_exponent
  spsa_dim: int = 16                   # inputs of the Rosenbrock function SPSA differentiates
  spsa_samples: tuple[int, ...] = (1, 10, 100, 1000, 10000, 100000)  # SPSA sample counts
  spsa_trials: int = 9                 # independent SPSA trials; the median error is reported


@dataclasses.dataclass(frozen=True)
class Swell:
  max_nesting: int = 11                # the logistic map nested 1..max_nesting times


@dataclasses.dataclass(frozen=True)
class ManualBackprop:
  hidden_layers: tuple[tuple[int, ...], ...] = ((32,), (128, 128), (256, 256, 256, 256))  # nets
  batch: int = 256                     # digits images per gradient


@dataclasses.dataclass(frozen=True)
class Implicit:
  width: int = 64                      # units of the fixed-point layer z = tanh(z W + x)
  batch: int = 64                      # examples x
  spectral_norm: float = 0.95          # of W, below 1: the layer is a contraction
  input_scale: float = 0.2             # std of x (small: tanh stays near linear, slow contraction)
  iterations: tuple[int, ...] = (10, 30, 100, 300, 1000)  # unrolled solver lengths
  tolerances: tuple[float, ...] = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)  # implicit solver tolerances
  max_iter: int = 10000                # the implicit solver's cap


@dataclasses.dataclass(frozen=True)
class Hybrid:
  inputs: int = 8                      # network inputs
  width: int = 16                      # the hidden layer, the simulator's n
  batch: int = 64                      # examples per gradient
  simulator_steps: int = 5             # Euler steps inside the black box
  steps: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4)  # central-difference steps h
  spsa_samples: tuple[int, ...] = (1, 10, 100, 1000)  # SPSA directions per example
  spsa_step: float = 1e-2              # SPSA's perturbation size


@dataclasses.dataclass(frozen=True)
class AutodiffConfig:
  seed: int = 0                        # of the random functions, parameters and SPSA draws
  sections: tuple[str, ...] = SECTION_NAMES  # which sections to run, in this order
  repeats: int = 7                     # timed repeats per measurement; the median is reported
  min_repeat_s: float = 0.02           # each repeat runs the function this long at least
  jacobian: Jacobian = Jacobian()      # forward against reverse mode over (n, m)
  cheap_gradient: CheapGradient = CheapGradient()  # cost of grad(loss) over loss
  memory: Memory = Memory()            # temporary memory against depth
  hvp: Hvp = Hvp()                     # Hessian-vector products
  accuracy: Accuracy = Accuracy()      # error against step size
  swell: Swell = Swell()               # expression swell of symbolic differentiation
  manual_backprop: ManualBackprop = ManualBackprop()  # the delta rule against jax.grad
  implicit: Implicit = Implicit()      # implicit function theorem against unrolling
  hybrid: Hybrid = Hybrid()            # estimated VJPs of a black box inside a network


def validate(c: AutodiffConfig) -> None:
  checks.subset('sections', c.sections, SECTION_NAMES)
  checks.at_least('seed', c.seed, 0)
  checks.at_least('repeats', c.repeats, 1)
  checks.greater_than_zero('min_repeat_s', c.min_repeat_s)
  for key, values in (('jacobian.sizes', c.jacobian.sizes),
                      ('cheap_gradient.widths', c.cheap_gradient.widths),
                      ('memory.depths', c.memory.depths), ('hvp.widths', c.hvp.widths),
                      ('accuracy.spsa_samples', c.accuracy.spsa_samples),
                      *(('manual_backprop.hidden_layers', h)
                        for h in c.manual_backprop.hidden_layers),
                      ('implicit.iterations', c.implicit.iterations),
                      ('hybrid.spsa_samples', c.hybrid.spsa_samples)):
    checks.positive_ints(key, values)
  if len(c.jacobian.corner) != 2 or not set(c.jacobian.corner) <= set(c.jacobian.sizes):
    raise UserError(f'jacobian.corner={c.jacobian.corner!r} must be two of jacobian.sizes')
  if len(c.memory.depths) < 2:
    raise UserError('memory.depths needs at least two depths to show a growth')
  if not 1 <= c.accuracy.min_exponent <= c.accuracy.max_exponent <= 300:
    raise UserError('accuracy.min_exponent and accuracy.max_exponent must satisfy '
                    '1 <= min_exponent <= max_exponent <= 300 (steps h = 10^-exponent)')
  checks.at_least('accuracy.spsa_dim', c.accuracy.spsa_dim, 2)
  checks.at_least('accuracy.spsa_trials', c.accuracy.spsa_trials, 1)
  checks.at_least('swell.max_nesting', c.swell.max_nesting, 2)
  for key, value in (('cheap_gradient.depth', c.cheap_gradient.depth),
                     ('cheap_gradient.batch', c.cheap_gradient.batch),
                     ('cheap_gradient.inputs', c.cheap_gradient.inputs),
                     ('jacobian.hidden', c.jacobian.hidden), ('memory.width', c.memory.width),
                     ('memory.batch', c.memory.batch), ('hvp.inputs', c.hvp.inputs),
                     ('hvp.batch', c.hvp.batch), ('manual_backprop.batch', c.manual_backprop.batch)):
    checks.at_least(key, value, 1)
  if not 1 <= c.manual_backprop.batch <= 1437:
    raise UserError('manual_backprop.batch must be in [1, 1437], the digits training set')
  for key, value in (('implicit.width', c.implicit.width), ('implicit.batch', c.implicit.batch),
                     ('implicit.max_iter', c.implicit.max_iter),
                     ('hybrid.inputs', c.hybrid.inputs), ('hybrid.width', c.hybrid.width),
                     ('hybrid.batch', c.hybrid.batch),
                     ('hybrid.simulator_steps', c.hybrid.simulator_steps)):
    checks.positive(key, value)
  if not 0 < c.implicit.spectral_norm < 1:
    raise UserError(f'implicit.spectral_norm={c.implicit.spectral_norm} must be in (0, 1): '
                    'the fixed-point layer must be a contraction')
  for key, values in (('implicit.tolerances', c.implicit.tolerances),
                      ('hybrid.steps', c.hybrid.steps)):
    if not values or any(not 0 < v < 1 for v in values):
      raise UserError(f'{key}={tuple(values)!r} is not allowed; it takes values in (0, 1)')
  checks.greater_than_zero('implicit.input_scale', c.implicit.input_scale)
  checks.greater_than_zero('hybrid.spsa_step', c.hybrid.spsa_step)
