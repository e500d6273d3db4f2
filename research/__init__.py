"""research: a JAX library for the fundamentals of deep learning.

Pure functions and Flax (linen) modules; no global state. See DESIGN.md-style layout in README.md.
"""
