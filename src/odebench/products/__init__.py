"""Products: tables, figures, claims, the report and its PDF.

They read only the runs' files and the aggregated tables, never a model. Every table
and figure is declared once, in its family's ``family.py``, and looked up in
:mod:`~odebench.products.registry`. Modules here import neither torch nor matplotlib at
module level (figures load matplotlib when they draw), and no family module, only
torch-free ones (:mod:`odebench.mnist.arms`, the ``family.py`` descriptors).
"""
