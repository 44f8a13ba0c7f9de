"""Numerics and measurement shared by every experiment family.

- :mod:`~odebench.core.solving`: the ODE block, ``integrate``, gradient modes, NFE
  counting, solver settings; :mod:`~odebench.core.backends`: the table of solver
  backends as data; :mod:`~odebench.core.dynamics`: dynamics building blocks.
- :mod:`~odebench.core.measuring`: saved-tensor meter, RSS, parameters, provenance
  (:mod:`~odebench.core.provenance`: its torch-free part).
- :mod:`~odebench.core.run`: the run envelope (open a run, close it with metrics);
  :mod:`~odebench.core.status`: the status codes it ends with;
  :mod:`~odebench.core.training`: the resumable training loop;
  :mod:`~odebench.core.checkpoint`: its one checkpoint format.
- :mod:`~odebench.core.artifacts`: atomic files; :mod:`~odebench.core.cli`: subcommands.

May import: torch, torchdiffeq, numpy; :mod:`~odebench.core.paths` (every file name),
:mod:`~odebench.core.family` (what a run family is) and :mod:`~odebench.core.products`
(what a table and a figure are) are part of core. Never an experiment, the products or
the pipeline. ``artifacts``, ``backends``, ``family``, ``products``, ``paths``,
``status``, ``provenance`` and ``cli`` are free of torch, so the products and the
pipeline use them too.
"""
