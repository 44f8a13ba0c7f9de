"""Figures as code: one function per figure, each drawing only from aggregated tables.

A figure builder is called ``builder(tables)`` with the tables it reads (data frames keyed
by product name, as declared in :mod:`odebench.products.registry`, which names it as
``"module:function"``) and returns a matplotlib figure; :mod:`odebench.products.build`
draws and saves it with :func:`~odebench.products.figures.style.save`. matplotlib is
imported when a figure is drawn, not with these modules; its theme is seaborn's, written
out in :mod:`~odebench.products.figures.style` (seaborn itself is not imported).

The builders sit in one module per experiment family, as the tables do:
:mod:`~odebench.products.figures.solver_studies` (Figure 3a-d),
:mod:`~odebench.products.figures.solver_costs` (``memory_scaling``, ``work_precision``),
:mod:`~odebench.products.figures.spirals` (Figure 8) and
:mod:`~odebench.products.figures.cnf` (Figures 4 and 5); Table 1 has no figure. What they
share (pyplot and its theme, saving, the seeds and failures texts, the empty panel) is in
:mod:`~odebench.products.figures.style`.

Every figure names the paper's figure it reproduces (or says it is not in the paper),
says over how many seeds its means and stds are taken, keeps its legend off the data,
and still draws from the smoke budget's tables: one seed (std empty), one training
tolerance, failed runs.
"""
