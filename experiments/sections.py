"""Experiments made of sections: each measured once, cached, and written into one report.

A section module has TITLE, a docstring whose first line names it and whose rest states its
question, and three steps from its measurement to its report:

- `analyze(results) -> findings`: pure, numbers in and findings out (the headline figures under
  'headline', every verdict the conclusion states), so that tests feed it contrary numbers;
- `plot(results, findings, workdir)`, where it has figures: writes them;
- `render(results, findings) -> markdown`: the prose, which formats and computes nothing new.

Its measurement is saved as WORKDIR/sections/NAME.json when it finishes, so a rerun of an
interrupted experiment reuses every finished section and resumes at the first unfinished one;
the report is always made from that file, in its order, so a rerun writes the same report.
"""
import json
import pathlib
import time
from typing import Callable

from experiments import rundir
from research import checks


def validate_shared(c, modules: dict) -> None:
  """The options the section experiments share, checked one way: `sections` (names of
  `modules`) and, where an experiment has them, `seeds` (1 or more), `seed` (0 or more),
  `val_fraction` (in (0, 1)) and `epochs_per_call` (0 or more)."""
  checks.subset('sections', c.sections, modules)
  if 'seeds' in c:
    checks.at_least('seeds', c.seeds, 1)
  if 'seed' in c:
    checks.at_least('seed', c.seed, 0)
  if 'val_fraction' in c:
    checks.greater_than_zero('val_fraction', c.val_fraction)
    checks.rate('val_fraction', c.val_fraction)
  if 'epochs_per_call' in c:
    checks.at_least('epochs_per_call', c.epochs_per_call, 0)


def measured(name: str, measure: Callable[[], dict], workdir: pathlib.Path) -> dict:
  saved = workdir / 'sections' / f'{name}.json'
  if saved.exists():
    print(f'  {name}: measured before, reusing {saved}', flush=True)
    return json.loads(saved.read_text())
  print(f'  {name}: measuring', flush=True)
  start = time.perf_counter()
  results = measure()
  results['measured_s'] = time.perf_counter() - start
  saved.parent.mkdir(exist_ok=True)
  rundir.write_json(saved, results, sort_keys=False)
  print(f'  {name}: measured in {results["measured_s"]:.1f} s', flush=True)
  return json.loads(saved.read_text())  # as a rerun reads it: the same report either way


def write(module, results: dict, workdir: pathlib.Path) -> tuple[str, dict]:
  """(the section's markdown, its headline figures), its plots written to workdir."""
  findings = module.analyze(results)
  if hasattr(module, 'plot'):
    module.plot(results, findings, workdir)
  return module.render(results, findings), findings['headline']


def run_sections(modules: dict, names, measures: dict[str, Callable[[], dict]],
                 workdir: pathlib.Path, title: str, intro: str, manifest: dict) -> dict:
  """Measures (or reuses) each named section, writes report.md, returns results.json's body."""
  sections, headlines, texts = {}, {}, []
  for number, name in enumerate(names, 1):
    module = modules[name]
    sections[name] = measured(name, measures[name], workdir)
    text, headlines[name] = write(module, sections[name], workdir)
    question = module.__doc__.strip().split('\n', 1)[1].strip()  # past the title line
    texts.append(f'## {number}. {module.TITLE}\n\n{question}\n\n### Measurement\n\n{text}')
  (workdir / 'report.md').write_text(
      f'# {title}\n\n{intro}\n\nMachine: {manifest["device_kind"]} ({manifest["jax_backend"]}), '
      f'JAX {manifest["packages"]["jax"]}; config in `config.json`, versions in '
      '`manifest.json`, every figure in `results.json`.\n\n' + '\n\n'.join(texts))
  return {'headline': headlines, 'sections': sections}
