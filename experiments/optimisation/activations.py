"""Section 5. Activation functions: why a non-linearity at all, and which trains fastest.

Without a non-linearity a stack of linear layers is one linear map: does the trained deep
linear network compute exactly the product of its layers, and classify no better than
logistic regression? With one, which activation reaches a target training error in the fewest
epochs in the same CNN, and how many units end dead (ReLU) or saturated (sigmoid, tanh)?
Krizhevsky et al. (2012, Fig. 1) report a four-layer ReLU CNN reaching 25% training error on
CIFAR-10 six times faster than the same network with tanh.
"""
import jax
import jax.numpy as jnp
import numpy as np

from experiments.optimisation import groups
from research import diagnostics, losses, optim, report, stats, tasks
from research.data import pipeline
from research.train import ensemble

TITLE = 'Activations: the linear collapse, and speed in one CNN'
# The initialiser each activation is usually paired with (He for the ReLU family).
INIT = {'sigmoid': 'glorot', 'tanh': 'glorot', 'selu': 'lecun', 'linear': 'glorot'}
PROBE_EXAMPLES = 256


def collapse(params: dict) -> tuple[np.ndarray, np.ndarray]:
  """The one linear map (A, c) a linear MLP computes: x A + c, layer by layer."""
  layers = sorted((k for k in params if k.startswith('hidden_')), key=lambda k: int(k[7:]))
  a, c = None, None
  for name in (*layers, 'output'):
    w, b = np.asarray(params[name]['kernel'], np.float64), np.asarray(params[name]['bias'])
    a, c = (w, b) if a is None else (a @ w, c @ w + b)
  return a, c


def linear_collapse(cfg, context) -> dict:
  """The deep linear MLP against its collapsed map and against logistic regression."""
  common = dict(model='mlp', optim_cfg=optim.OptimConfig(name='adam',
                                                         learning_rate=cfg.linear_learning_rate),
                epochs=cfg.linear_epochs, batch_size=cfg.batch_size)
  deep = groups.train('linear_deep', context, options=dict(
      depth=cfg.linear_depth, width=cfg.linear_width, activation='linear',
      weight_init='glorot'), keep_states=True, **common)
  logistic = groups.train('linear_logistic', context, options=dict(depth=0), **common)
  images, labels = context.dataset.split('test')
  x = pipeline.normalize(images, context.dataset.mean, context.dataset.std)
  model = deep['ensemble'].model(deep['members'][0]['rate'])
  gaps, agree = [], []
  for k in range(len(deep['members'])):
    params = ensemble.member(deep['states'], k).params
    logits = np.asarray(model.apply({'params': params}, x, train=False), np.float64)
    a, c = collapse(jax.device_get(params))
    direct = np.asarray(x, np.float64).reshape(len(x), -1) @ a + c
    gaps.append(float(np.abs(direct - logits).max() / np.abs(logits).max()))
    agree.append(float((direct.argmax(1) == logits.argmax(1)).mean()))
  accuracy = lambda g: stats.over_seeds([groups.member_value(m, 'test', 'accuracy')
                                         for m in g['members']])
  return {'max_relative_gap': max(gaps), 'prediction_agreement': min(agree),
          'deep_accuracy': accuracy(deep), 'logistic_accuracy': accuracy(logistic),
          'depth': cfg.linear_depth, 'width': cfg.linear_width, 'epochs': cfg.linear_epochs,
          'learning_rate': cfg.linear_learning_rate}


def unit_fractions(group: dict, name: str, dataset, states) -> dict:
  """Mean over layers of the fraction of dead (ReLU) or saturated (sigmoid, tanh) units on
  the first training examples, for seed 0; {} for an activation with neither measure."""
  model = group['ensemble'].model(group['members'][0]['rate'])
  probe = jax.jit(diagnostics.make_diagnostics(model, name, losses.LossConfig(),
                                               tasks.Classification()))
  images = pipeline.normalize(dataset.train_images[:PROBE_EXAMPLES], dataset.mean, dataset.std)
  labels = jnp.asarray(dataset.train_labels[:PROBE_EXAMPLES])
  state = ensemble.member(states, 0)
  found = probe(state.params, state.batch_stats, images, labels, jax.random.key(0))
  out = {}
  for kind in ('dead', 'saturated'):
    values = [float(v) for k, v in found.items() if k.startswith(f'{kind}/')]
    if values:
      out[kind] = float(np.mean(values))
  return out


def activation_row(cfg, context, name: str) -> dict:
  group = groups.train(f'activation_{name}', context, model='cnn', options=dict(
      channels=tuple(cfg.channels), dense=tuple(cfg.dense), activation=name,
      weight_init=INIT.get(name, 'he')), optim_cfg=optim.OptimConfig(
          name='momentum', learning_rate=cfg.learning_rate), epochs=cfg.epochs,
      batch_size=cfg.batch_size, keep_states=True)
  members = range(len(group['members']))
  errors = [[1.0 - a for a in groups.curve(group['records'], 'train', 'accuracy', k)]
            for k in members]
  epochs = [groups.first_epoch_at(e, cfg.target_train_error) for e in errors]
  return {
      'activation': name,
      'epochs_to_target': stats.over_seeds([np.nan if e is None else e for e in epochs]),
      'train_error_curve': [float(v) for v in np.mean(errors, 0)],
      'test_accuracy': stats.over_seeds([groups.member_value(m, 'test', 'accuracy')
                                         for m in group['members']]),
      'at_init': unit_fractions(group, name, context.dataset, group['ensemble'].init()[0]),
      'trained': unit_fractions(group, name, context.dataset, group['states'])}


def measure(cfg, context) -> dict:
  return {'linear': linear_collapse(cfg, context),
          'rows': [activation_row(cfg, context, name) for name in cfg.activations],
          'target_train_error': cfg.target_train_error, 'epochs': cfg.epochs,
          'data': context.dataset.name, 'channels': list(cfg.channels),
          'dense': list(cfg.dense), 'learning_rate': cfg.learning_rate}


def _speed_verdict(rows: dict) -> tuple[str, float | None, bool]:
  """Which activation reaches the target first; ReLU's speed-up over tanh, and whether the two
  are inside each other's seed spread."""
  reached = {n: r['epochs_to_target'] for n, r in rows.items()
             if r['epochs_to_target']['n'] and not r['epochs_to_target']['n_nonfinite']}
  if not reached:
    return 'no activation reached the target error with every seed', None, True
  order = sorted(reached, key=lambda n: reached[n]['mean'])
  ties = [n for n in order[1:] if stats.intervals_overlap(reached[order[0]], reached[n])]
  text = (f'{order[0]} reaches it first' + (f", inside the seed spread of {', '.join(ties)}"
                                            if ties else ', outside every other\'s seed spread'))
  ratio = None
  if 'relu' in reached and 'tanh' in reached:
    ratio = reached['tanh']['mean'] / reached['relu']['mean']
    text_inside = stats.intervals_overlap(reached['tanh'], reached['relu'])
    return text, ratio, text_inside
  return text, ratio, True


def analyze(results) -> dict:
  lin = results['linear']
  exact = lin['max_relative_gap'] < 1e-4 and lin['prediction_agreement'] == 1.0
  same = stats.intervals_overlap(lin['deep_accuracy'], lin['logistic_accuracy'])
  rows = {r['activation']: r for r in results['rows']}
  speed, ratio, inside = _speed_verdict(rows)
  krizhevsky = ('not measured (ReLU or tanh did not reach the target with every seed, or did '
                'not run)' if ratio is None else
                f'tanh needs {ratio:.2f}x the epochs ReLU needs here, against 6x in the paper'
                + (': inconclusive, inside the seed spread' if inside else
                   '' if ratio > 1 else ': ReLU is not faster here'))
  return {
      'headline': {'linear_collapse_gap': lin['max_relative_gap'],
                   **{f"epochs_to_target_{n}": r['epochs_to_target']['mean']
                      for n, r in rows.items()},
                   **({'tanh_over_relu_epochs': ratio} if ratio is not None else {})},
      'collapse': ('the deep linear network computes its collapsed single map exactly (to '
                   'float rounding), so it is a linear model' if exact else
                   'the collapsed map does not reproduce the deep linear network'),
      'versus_logistic': ('its test accuracy is inside logistic regression\'s seed spread'
                          if same else 'its test accuracy differs from logistic regression\'s '
                          'outside the seed spread'),
      'speed': speed, 'krizhevsky': krizhevsky}


def plot(results, findings, workdir) -> None:
  series = {r['activation']: (list(range(1, len(r['train_error_curve']) + 1)),
                              r['train_error_curve']) for r in results['rows']}
  report.plot_curves(workdir / 'activations.png', series, 'epoch',
                     'training error (epoch mean, over seeds)', 'one CNN, each activation',
                     logy=True)


def _fractions(r: dict) -> str:
  parts = [f"{kind} {r['at_init'][kind]:.1%} -> {r['trained'][kind]:.1%}"
           for kind in ('dead', 'saturated') if kind in r['trained']]
  return '; '.join(parts) or '-'


def render(results, findings) -> str:
  lin = results['linear']
  table = report.markdown_table(
      ['activation', 'epochs to target', 'test accuracy %', 'dead / saturated (init -> end)'],
      [[r['activation'], groups.interval(r['epochs_to_target'], digits=1, none='not reached'),
        groups.interval(r['test_accuracy'], 100), _fractions(r)] for r in results['rows']])
  return f"""**The linear collapse.** A {lin['depth']}-hidden-layer linear MLP (width
{lin['width']}) against logistic regression (no hidden layer), both Adam at
{lin['learning_rate']} for {lin['epochs']} epochs. The product of the
deep network's layers reproduces its logits on the test set to a relative
{lin['max_relative_gap']:.2e}, and agrees on {lin['prediction_agreement']:.2%} of its
predictions. Test
accuracy: deep linear {groups.interval(lin['deep_accuracy'], 100)}%, logistic regression
{groups.interval(lin['logistic_accuracy'], 100)}%.

**Activations in one CNN** (channels {results['channels']}, dense {results['dense']}, on
{results['data']}; momentum SGD at {results['learning_rate']}, {results['epochs']} epochs; He
initialisation for the ReLU family, Glorot for sigmoid and tanh, LeCun for SELU). Epochs until
the epoch's mean training error first falls to {results['target_train_error']:.0%}; dead and
saturated units on {PROBE_EXAMPLES} training images, seed 0. The CPU preset runs this on
{results['data']}, not the paper's CIFAR-10 network.

{table}

![training error](activations.png)

**Conclusion.** {findings['collapse'][0].upper() + findings['collapse'][1:]};
{findings['versus_logistic']}. Speed: {findings['speed']}.
Krizhevsky et al. 2012: {findings['krizhevsky']}.
"""
