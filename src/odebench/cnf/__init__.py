"""Continuous normalizing flows (Figures 4 and 5, FFJORD's trace estimator): target
densities, planar NF and CNF, training, the trace study.

``python -m odebench.cnf train|trace|collect``. May import
:mod:`odebench.core` only (never another experiment, the products or the pipeline);
``family.py`` declares its run families, free of torch.
"""
