"""Continuous normalizing flows (Figures 4 and 5, FFJORD's trace estimator): target
densities, planar NF and CNF, training, the trace study.

``python -m odebench.cnf train|trace|collect``. May import :mod:`odebench.core` and
:mod:`odebench.pipeline`'s config and paths.
"""
