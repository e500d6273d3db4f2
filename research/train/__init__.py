"""Training: the state, the per-device step, the parallel backends, checkpoints and the loop."""
