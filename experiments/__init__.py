"""Experiments, one module each: config, presets, run, report. The registry the CLI reads."""
from experiments import autodiff, dropout, train, vanishing_gradients

EXPERIMENTS = {'train': train, 'autodiff': autodiff, 'vanishing_gradients': vanishing_gradients,
               'dropout': dropout}
