"""Experiments, one module each: config, presets, run, report. The registry the CLI reads."""
from experiments import train

EXPERIMENTS = {'train': train}
