"""Building blocks shared by the models: activations, initialisers, normalisation, dropout."""
