"""Experiments, one module each: config, presets, run, report. The registry the CLI reads."""
from experiments import autodiff, train

EXPERIMENTS = {'train': train, 'autodiff': autodiff}
