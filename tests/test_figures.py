"""Results documents' figures are generated from runs (experiments/figures.py)."""
import json

from experiments import cli, figures

MANIFEST = {'command_line': ['python', '-m', 'experiments', 'run', 'dropout', '--quick'],
            'cpu_model': 'AMD EPYC', 'cpu_count': 2, 'device_kind': 'cpu', 'jax_backend': 'cpu',
            'packages': {'jax': '0.10.2'}, 'git_commit': 'abcdef0123456789', 'git_dirty': False,
            'created': '2026-12-02T00:00:00+00:00'}


def _run(tmp_path, headline):
  (tmp_path / 'manifest.json').write_text(json.dumps(MANIFEST))
  (tmp_path / 'results.json').write_text(json.dumps({'headline': headline,
                                                     'session_wall_s': 61.2}))
  return tmp_path


def test_the_block_names_command_machine_code_and_every_figure(tmp_path):
  text = figures.block(_run(tmp_path, {'mlp_variants': {'best': 'standard 0.5',
                                                        'gap': 0.012345678}}))
  assert text.startswith(figures.BEGIN) and text.endswith(figures.END)
  assert 'Command: `python -m experiments run dropout --quick`' in text
  assert 'Machine: AMD EPYC, 2 cores (cpu, JAX 0.10.2); code abcdef0123' in text
  assert '| mlp_variants | gap | 0.01235 |' in text
  assert '| mlp_variants | best | standard 0.5 |' in text


def test_into_replaces_only_the_generated_block(tmp_path):
  doc = tmp_path / 'doc.md'
  doc.write_text('# title\n\nprose\n')
  figures.into(doc, f'{figures.BEGIN}\nold\n{figures.END}')
  doc.write_text(doc.read_text() + '\nafter\n')
  figures.into(doc, f'{figures.BEGIN}\nnew\n{figures.END}')
  assert doc.read_text() == f'# title\n\nprose\n\n{figures.BEGIN}\nnew\n{figures.END}\n\nafter\n'


def test_figures_of_an_unfinished_run_is_one_line(tmp_path, capsys):
  assert cli.main(['figures', str(tmp_path)]) == 2
  assert 'is not a finished run directory' in capsys.readouterr().err
