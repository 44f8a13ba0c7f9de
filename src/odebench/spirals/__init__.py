"""Spirals (Table 2, Figure 8): the data set, the latent ODE and RNN models, training.

``python -m odebench.spirals data|train|collect``. May import
:mod:`odebench.core` only (never another experiment, the products or the pipeline);
``family.py`` declares its run families, free of torch.
"""
