"""Numerics and measurement shared by every experiment family.

Solving (:mod:`~odebench.core.solving`), dynamics building blocks
(:mod:`~odebench.core.dynamics`), measuring (:mod:`~odebench.core.measuring`), atomic
files (:mod:`~odebench.core.artifacts`), checkpoints (:mod:`~odebench.core.checkpoint`)
and the resumable training loop (:mod:`~odebench.core.training`).

May import: torch, torchdiffeq, numpy, and :mod:`odebench.pipeline.paths` (the one
module that knows every file name). Never a family, the products or the pipeline's
plan. :mod:`~odebench.core.artifacts` is free of torch, so the products and the
pipeline use it too.
"""
