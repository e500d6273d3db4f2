"""Section 3. Normalisation as the other remedy: the same deep networks with BatchNorm or LayerNorm.

Normalising each layer's pre-activations keeps them in the sigmoid's steep middle, so the
factor each layer applies to the backward gradient stays near its best; BatchNorm (Ioffe and
Szegedy 2015) does it with batch statistics, LayerNorm (Ba et al. 2016) per example.
"""
from experiments.vanishing_gradients import depth_training, runs
from research import report

TITLE = 'Normalisation: BatchNorm and LayerNorm on the same deep MLPs'


def measure(cfg, context) -> dict:
  train_cfg = context.config.depth_training
  rows = []
  for norm in cfg.norms:
    for skip in cfg.skips:
      for depth in cfg.depths:
        name = depth_training.run_name(depth, skip, norm)
        run = runs.train_run(name, depth_training.settings(train_cfg, context.common, depth,
                                                           skip, norm),
                             context.workdir, context.dataset, context.manifest)
        rows.append(depth_training.summarize(run, depth, skip, norm,
                                             context.dataset.num_classes))
  return {'activation': train_cfg.activation, 'data': context.dataset.name, 'rows': rows}


def analyze(results) -> dict:
  rows = results['rows']
  plain = [r for r in rows if r['skip'] == 'none']
  return {
      'headline': {f"test_accuracy_{r['norm']}_{r['skip']}_depth{r['depth']}":
                   r['test_accuracy'] for r in rows},
      'plain_results': [f"{r['norm']} at depth {r['depth']}: {r['test_accuracy']:.1%}"
                        for r in plain],
      'verdict': ('no plain network ran' if not plain else
                  'every plain network learns once normalised' if all(r['learns'] for r in plain)
                  else 'normalisation alone does not rescue every plain network')}


def plot(results, findings, workdir) -> None:
  depth_training.curves_plot(workdir / 'normalisation.png', results['rows'],
                             f"{results['activation']} MLPs with normalisation")


def render(results, findings) -> str:
  table = report.markdown_table(
      ['norm', 'skip', 'depth', 'test accuracy', 'train accuracy (last 10%)', 'learns'],
      [[r['norm'], r['skip'], r['depth'], r['test_accuracy'], r['train_accuracy'],
        'yes' if r['learns'] else 'no'] for r in results['rows']])
  lines = '; '.join(findings['plain_results']) or 'none run'
  return f"""The settings of section 2, with `mlp.norm` set. Compare with the plain rows there.

{table}

![training loss](normalisation.png)

**Conclusion.** Plain networks with normalisation: {lines}: {findings['verdict']}.
"""
