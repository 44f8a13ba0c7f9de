"""Spirals (Table 2, Figure 8): the data set, the latent ODE and RNN models, training.

``python -m odebench.spirals data|train|collect``. May import :mod:`odebench.core` and
:mod:`odebench.pipeline`'s config and paths.
"""
