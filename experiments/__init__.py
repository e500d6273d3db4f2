"""Experiments, one module each: config, presets, run, report. The registry the CLI reads.

Modules are imported when asked for: a run pays only for its own experiment's imports.
"""
import importlib

NAMES = ('train', 'autodiff', 'vanishing_gradients', 'dropout', 'optimisation', 'losses',
         'transfer', 'autoencoders', 'gan', 'cnn', 'throughput')


def get(name: str):
  """The experiment module `name` (one of NAMES)."""
  return importlib.import_module(f'experiments.{name}')
