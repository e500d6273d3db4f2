"""Section 2. Freeze depth: copy the first n layers, frozen or fine-tuned (Yosinski et al. 2014).

The notes (001 Q13-14): freeze the early layers, retrain the later ones; early features are
general, later ones specific. Yosinski et al. 2014 ("How transferable are features in deep
neural networks?") copied the first n layers of a network trained on half A of ImageNet's
classes into a network for half B, the rest re-initialised: frozen (AnB) or fine-tuned (AnB+),
with self-transfer controls from a network trained on B itself (BnB, BnB+). For every n, the
accuracy on B; does their shape appear here?
"""
from experiments.transfer import groups
from research import report, stats

TITLE = "Freeze depth: Yosinski's AnB, AnB+, BnB and BnB+ for every n"
VARIANTS = ('AnB', 'AnB+', 'BnB', 'BnB+')


def measure(cfg, context) -> dict:
  config = context.config
  sources = {'A': groups.source_run(context, 'source_A', config.classes_a),
             # BnB's source sees B's training examples the target runs see, no more.
             'B': groups.source_run(context, f'source_B_{cfg.examples or "all"}',
                                    config.classes_b, cfg.examples)}
  data = groups.half(context, config.classes_b, cfg.examples)
  layers = groups.layers(config, data.image_shape, data.num_classes)
  train = lambda name, start: groups.train(name, context, data, start, cfg.steps,
                                           cfg.batch_size, cfg.learning_rate)
  found = {'base': train('depth_base', groups.Start())}
  for n in range(1, len(layers)):
    copied, rest = tuple(layers[:n]), tuple(layers[n:])
    for variant in VARIANTS:
      start = groups.Start(init_from=sources[variant[0]], reinit=rest,
                           frozen=() if variant.endswith('+') else copied)
      found[f'{variant} n={n}'] = train(f'depth_{variant.replace("+", "plus")}_{n}', start)
  return {'runs': found, 'layers': layers, 'train_examples': len(data.train_labels),
          'steps': cfg.steps}


def analyze(results) -> dict:
  runs, depths = results['runs'], range(1, len(results['layers']))
  base = stats.over_seeds(runs['base']['test_accuracy'])
  curve = {v: [stats.over_seeds(runs[f'{v} n={n}']['test_accuracy']) for n in depths]
           for v in VARIANTS}
  below = lambda s: s['mean'] < base['mean'] and not stats.intervals_overlap(s, base)
  fine_never_below = not any(below(s) for s in curve['AnB+'])
  first, last = curve['AnB'][0], curve['AnB'][-1]
  frozen_falls = (last['mean'] < first['mean'] and not stats.intervals_overlap(last, first))
  verdict = ('fine-tuned transfer (AnB+) is never below the baseline outside the seed spread'
             if fine_never_below else
             'fine-tuned transfer (AnB+) falls below the baseline at some n, outside the spread')
  verdict += ('; frozen transfer (AnB) falls from the first to the last n, outside the spread: '
              "Yosinski's shape" + (' appears' if fine_never_below else ' appears in part')
              if frozen_falls else
              '; frozen transfer (AnB) does not fall with n outside the spread: Yosinski\'s '
              'shape does not appear here')
  return {'headline': {'base_accuracy': base['mean'],
                       **{f'{v}_n{n}': s['mean'] for v in VARIANTS
                          for n, s in zip(depths, curve[v])}},
          'base': base, 'curve': curve, 'depths': list(depths), 'verdict': verdict,
          'fine_never_below': fine_never_below, 'frozen_falls': frozen_falls}


def plot(results, findings, workdir) -> None:
  with report.figure(workdir / 'freeze_depth.png') as (_, (ax,)):
    for variant, style in zip(VARIANTS, ('o-', 'o--', 's-', 's--')):
      ax.plot(findings['depths'], [s['mean'] for s in findings['curve'][variant]], style,
              label=variant)
    ax.axhline(findings['base']['mean'], color='grey', ls=':', label='base (scratch on B)')
    ax.set_xticks(findings['depths'])
    ax.set_xlabel('layers copied, n')
    ax.set_ylabel('test accuracy on B (mean over seeds)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def render(results, findings) -> str:
  rows = [[n, *(f"{findings['curve'][v][i]['mean']:.1%}" for v in VARIANTS)]
          for i, n in enumerate(findings['depths'])]
  table = report.markdown_table(['n', *VARIANTS], rows)
  base = findings['base']
  return f"""Layers input to output: {', '.join(results['layers'])}. The first n are copied from
the network trained on A (AnB) or on B (BnB), frozen (no +) or fine-tuned (+); the rest are
re-initialised; about {results['steps']} Adam steps on B's {results['train_examples']} training
examples. Base: the same network from scratch, {base['mean']:.1%} (95% interval
{base['ci95_low']:.1%} to {base['ci95_high']:.1%}). Means over seeds. Departure from the paper:
small networks on small data; Yosinski et al. used an 8-layer ImageNet network (500 classes a
half).

{table}

![accuracy against the layers copied](freeze_depth.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
