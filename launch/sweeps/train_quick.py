"""Which learning rate, for an MLP and a CNN on digits? 2 models x 3 learning rates x 2 seeds
of `train --quick` (600 steps each); 37 s on a 2-core CPU with a warm compilation cache.

    python -m launch.sweep run launch/sweeps/train_quick.py
    python -m launch.sweep aggregate launch/sweeps/train_quick.py
"""
SWEEP = dict(
    experiment='train',
    quick=True,
    fixed=['data=digits', 'split.val_fraction=0.2'],
    grid={'model': ['mlp', 'cnn'], 'optim.learning_rate': [3e-4, 1e-3, 3e-3]},
    seeds=[0, 1],
    metric='val.accuracy',    # chosen on the validation split; test.accuracy is reported
)
