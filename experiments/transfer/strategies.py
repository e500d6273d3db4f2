"""Section 1. Strategies: from scratch, a linear probe, fine-tuning, and head first then all.

The notes (000 Q1, 001 Q10, 002 Q13-14): a network trained on a large task is reused for a small
one, as a frozen feature extractor or by fine-tuning, and saves data and time. A network
pre-trained on the classes of half A is transferred to the other half B with 10, 50, 250 and
all examples per class: a new head on frozen features (linear probe), everything fine-tuned, or
the head alone for the first part of the budget and then everything (two stages), against the
same network from scratch. Accuracy over seeds, and the steps and seconds each needs to reach
the from-scratch network's final validation accuracy.
"""
import numpy as np

from experiments.transfer import groups
from research import report, stats

TITLE = 'Transfer strategies against training from scratch, with few and many labels'
STRATEGIES = ('scratch', 'linear_probe', 'fine_tune', 'two_stage')


def starts(source: str, layers: list[str], head_fraction: float) -> dict[str, groups.Start]:
  body, head = tuple(layers[:-1]), (layers[-1],)
  return {'scratch': groups.Start(),
          'linear_probe': groups.Start(init_from=source, reinit=head, frozen=body),
          'fine_tune': groups.Start(init_from=source, reinit=head),
          'two_stage': groups.Start(init_from=source, reinit=head, frozen=body,
                                    frozen_share=head_fraction)}


def measure(cfg, context) -> dict:
  config = context.config
  source = groups.source_run(context, 'source_A', config.classes_a)
  found = {}
  for examples in cfg.examples:
    data = groups.half(context, config.classes_b, examples)
    layers = groups.layers(config, data.image_shape, data.num_classes)
    label = str(examples) if examples else 'all'
    found[label] = {'train_examples': len(data.train_labels), **{
        name: groups.train(f'strategy_{name}_{label}', context, data, start, cfg.steps,
                           cfg.batch_size, cfg.learning_rate)
        for name, start in starts(source, layers, cfg.head_fraction).items()}}
  return {'per_examples': found, 'source': source, 'steps': cfg.steps,
          'head_fraction': cfg.head_fraction}


def to_target(run: dict, target: float) -> dict:
  """The first evaluation at or above `target` (mean over seeds): its step and, by the run's
  steady pace, its seconds; None when never."""
  step = next((s for s, v in zip(run['curve_steps'], run['val_curve']) if v >= target), None)
  return {'step': step, 'seconds': None if step is None else
          run['seconds'] * step / max(run['steps'], 1)}


def analyze_examples(found: dict) -> dict:
  scratch = stats.over_seeds(found['scratch']['test_accuracy'])
  target = found['scratch']['val_curve'][-1] if found['scratch']['val_curve'] else np.nan
  rows = {}
  for name in STRATEGIES:
    s = stats.over_seeds(found[name]['test_accuracy'])
    gain = s['mean'] - scratch['mean']
    rows[name] = {'test_accuracy': s, 'gain': gain, 'to_target': to_target(found[name], target),
                  'verdict': ('baseline' if name == 'scratch' else 'inconclusive'
                              if stats.intervals_overlap(s, scratch) else
                              'better' if gain > 0 else 'worse (negative transfer)')}
  best = max(STRATEGIES, key=lambda n: rows[n]['test_accuracy']['mean'])
  return {'rows': rows, 'target': target, 'best': best,
          'train_examples': found['train_examples']}


def analyze(results) -> dict:
  per = {label: analyze_examples(found) for label, found in results['per_examples'].items()}
  helped = [label for label, p in per.items()
            if any(p['rows'][n]['verdict'] == 'better' for n in STRATEGIES[1:])]
  hurt = [label for label, p in per.items()
          if all(p['rows'][n]['verdict'].startswith('worse') for n in STRATEGIES[1:])]
  verdict = (f"transfer beats training from scratch outside the seed spread with "
             f"{', '.join(helped)} examples per class" if helped else
             'no transfer strategy beats training from scratch outside the seed spread')
  if hurt:
    verdict += f"; every strategy is worse than scratch with {', '.join(hurt)}"
  return {'headline': {
      **{f'best_{label}': p['best'] for label, p in per.items()},
      **{f'gain_{n}_{label}': p['rows'][n]['gain'] for label, p in per.items()
         for n in STRATEGIES[1:]}}, 'per_examples': per, 'verdict': verdict}


def plot(results, findings, workdir) -> None:
  labels = list(findings['per_examples'])
  with report.figure(workdir / 'strategies.png') as (_, (ax,)):
    for name in STRATEGIES:
      means = [findings['per_examples'][k]['rows'][name]['test_accuracy']['mean']
               for k in labels]
      ax.plot(range(len(labels)), means, marker='o', label=name)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel('training examples per class of B')
    ax.set_ylabel('test accuracy on B (mean over seeds)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)



def render(results, findings) -> str:
  rows = []
  for label, p in findings['per_examples'].items():
    for name in STRATEGIES:
      r = p['rows'][name]
      t = r['to_target']
      rows.append([f"{label} ({p['train_examples']})", name,
                   report.percent_interval(r['test_accuracy']),
                   f"{r['gain']:+.1%}" if name != 'scratch' else '', r['verdict'],
                   'never' if t['step'] is None else f"{t['step']} ({t['seconds']:.1f} s)"])
  table = report.markdown_table(
      ['examples per class (training set)', 'strategy', 'test accuracy', 'over scratch',
       'verdict', "steps (seconds) to scratch's final val accuracy"], rows)
  return f"""Source: a `train` run on half A of the classes, in `{results['source']}` (reusable
with `init_from=`). Every run on B: about {results['steps']} Adam steps, whatever its
training-set size; the head is always new. linear_probe: the body frozen; fine_tune: all
trained from the source weights; two_stage: the body frozen for the first
{results['head_fraction']:.0%} of the steps, then all trained. Means over seeds; "inconclusive"
is a difference inside the seed spread.

{table}

![test accuracy against examples per class](strategies.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
