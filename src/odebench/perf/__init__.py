"""Performance: the solver benchmark cases behind asv (:mod:`~odebench.perf.bench`) and
the training-step comparison with torchdiffeq's example (:mod:`~odebench.perf.speedcheck`).

May import :mod:`odebench.core` and the families.
"""
