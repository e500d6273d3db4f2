"""Section 2. Pooling, and the head between the features and the logits.

The notes (001 Q7-Q9): pooling shrinks the feature maps (max pooling keeps the strongest
response of each window, average pooling their mean), which cuts computation and adds some
invariance; then the maps are flattened and fully connected layers classify them. Two
alternatives question both parts: no pooling at all, the convolutions striding by 2 instead
(Springenberg et al. 2015, "Striving for simplicity: the all convolutional net"), and global
average pooling straight into the logits instead of flatten and dense layers (Lin et al. 2014,
"Network in network"), which removes most of the parameters. The reference CNN with each
pooling (and its usual head), then with max pooling and each head: test accuracy over seeds
(learning rate chosen on validation), parameters, XLA's FLOPs per example and training speed.
"""
from experiments.cnn import groups
from research import report, stats

TITLE = 'Max, average, sum or no pooling; flatten and dense layers or global average pooling'


def variants(cfg, config) -> dict[str, dict]:
  """{label: model options}: every pooling with the reference head, then every head with max
  pooling; 'none' pooling downsamples with stride-2 convolutions instead."""
  reference = groups.reference_options(config)
  width = config.dense[0] if config.dense else 128
  found = {f'pool {p}': dict(reference, pool=p, **({'stride': 2} if p == 'none' else {}))
           for p in cfg.pools}
  for n in cfg.dense_layers:
    found[f'flatten + {n} dense'] = dict(reference, dense=(width,) * n)
  if cfg.gap:
    found['global average pooling'] = dict(reference, head='gap', dense=())
  return found


def measure(cfg, context) -> dict:
  config, data = context.config, context.data()
  reference = groups.reference_options(config)
  trained, rows = {}, []
  for label, options in variants(cfg, config).items():
    # One network, one group: the reference is section 1's CNN, read back when it exists.
    if groups.same_network('cnn', options, reference, data):
      name, options = 'cnn', reference
    else:
      name = label.replace(' + ', '_').replace(' ', '_')
    if name not in trained:
      group = groups.train(name, context, data, 'cnn', options, epochs=config.epochs,
                           rates=config.rates)
      trained[name] = {**groups.chosen(group, config.rates, config.seeds),
                       'parameters': groups.parameters('cnn', options, data),
                       'flops': groups.forward_flops('cnn', options, data),
                       'examples_per_s': groups.throughput(group)}
    rows.append({'label': label, 'group': name,
                 **{k: v for k, v in trained[name].items() if k != 'members'}})
  return {'train_examples': len(data.train_labels), 'rates': list(config.rates),
          'pools': list(cfg.pools), 'rows': rows}


def _versus(a: dict, b: dict) -> str:
  if stats.intervals_overlap(a, b):
    return 'inside the seed spread, so inconclusive'
  return 'beyond the seed spread'


def analyze(results) -> dict:
  rows = [dict(r, test_stats=stats.over_seeds(r['test'])) for r in results['rows']]
  pools = [r for r in rows if r['label'].startswith('pool ')]
  heads = [r for r in rows if not r['label'].startswith('pool ')]
  parts = []
  for family, members in (('pooling', pools), ('head', heads)):
    if len(members) < 2:
      continue
    ranked = sorted(members, key=lambda r: -r['test_stats']['mean'])
    best, second = ranked[0], ranked[1]
    parts.append(f"the best {family} is {best['label']} ({best['test_stats']['mean']:.2%}), "
                 f"against {second['label']}'s {second['test_stats']['mean']:.2%}: "
                 + _versus(best['test_stats'], second['test_stats']))
  by_label = {r['label']: r for r in rows}
  gap, flat = by_label.get('global average pooling'), next(
      (r for r in heads if r['label'] != 'global average pooling'), None)
  if gap and flat:
    difference = gap['test_stats']['mean'] - flat['test_stats']['mean']
    parts.append(f"global average pooling has {gap['parameters'] / flat['parameters']:.1%} of "
                 f"the parameters of {flat['label']} and {difference * 100:+.2f} points of "
                 f"accuracy ({_versus(gap['test_stats'], flat['test_stats'])})")
  cheapest = min(rows, key=lambda r: r['flops'])
  parts.append(f"the cheapest network per example is {cheapest['label']} "
               f"({cheapest['flops'] / 1e6:.2f} MFLOPs)")
  headline = {f"test_{r['label'].replace(' ', '_')}": r['test_stats']['mean'] for r in rows}
  return {'headline': headline, 'rows': rows, 'verdict': '; '.join(parts)}


def plot(results, findings, workdir) -> None:
  rows = findings['rows']
  with report.figure(workdir / 'pooling_and_head.png') as (_, (ax,)):
    for row in rows:
      s = row['test_stats']
      half = 0 if s['n'] < 2 else s['ci95_high'] - s['mean']
      ax.errorbar(row['parameters'], s['mean'], yerr=half,
                  marker='o' if row['label'].startswith('pool') else 's', capsize=3,
                  label=row['label'])
    ax.set_xscale('log')
    ax.set_xlabel('parameters')
    ax.set_ylabel('test accuracy')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def render(results, findings) -> str:
  table = groups.cost_table(findings['rows'], [r['label'] for r in findings['rows']])
  return f"""The reference CNN trained on {results['train_examples']} examples with each pooling
(and its usual head), then with max pooling and each head; learning rate (of
{', '.join(f'{r:g}' for r in results['rates'])}) chosen on validation; test accuracy mean ±
95% half-width over seeds. FLOPs are XLA's count for one example's forward pass; the training
speed counts every seed's examples (the seeds train together, vmapped).

{table}

![accuracy against parameters](pooling_and_head.png)

**Conclusion.** {findings['verdict'][0].upper() + findings['verdict'][1:]}.
"""
