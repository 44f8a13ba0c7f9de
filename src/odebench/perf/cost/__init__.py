"""The price of a budget: how many device-hours its training runs and studies take here.

For one budget, every job the pipeline runs for it comes from
:class:`~odebench.pipeline.plan.Plan` (its run directories per family, each with the
complete run config the rule would hand over) plus the one memory-scaling job. Jobs
whose cost per step is the same (they differ only in seed, or in a setting that does
not change a step's work) form an *arm*, and each arm is measured once, on this
machine, from a real trainer built from the run's own config in a temporary
directory:

- training runs (``mnist``, ``spirals``, ``cnf_density``, ``cnf_likelihood``): the median
  wall time of K training steps (:meth:`IterativeTrainer.train_step` on the trainer's
  own batches) after one warm-up step, times the steps the trainer runs
  (:meth:`IterativeTrainer.total_iterations`: epochs x ceil(training images / batch)
  for MNIST, ``iterations`` for the others), plus the evaluation passes, each timed
  once: MNIST's validation after every epoch and the final test pass, the spirals'
  validation every ``eval_every`` iterations and the test pass, the CNFs' final
  evaluation (samples, test points, the density grid and Figure 5's frames);
- probes of trained ODE-Nets (``probe``), on a freshly initialized ODE-Net: every part
  of the probe (solver sweep with its float64 reference solve, reversibility, per-image
  backward NFE) timed at two reduced sizes and extrapolated linearly in the number of
  images (time = fixed + per image x images; the NFE of a batch solve does not depend
  on its size);
- FFJORD's trace study (``cnf_trace``): per (D, estimator) case one log-density solve
  and one training step, times the solves and steps the study makes;
- memory scaling: every (method, depth) step timed in this process, plus the start-up
  of the fresh process each case gets (one such start measured).

Every job also pays the start-up of its own Python process (measured once: importing
the entry points). Costs are per job; the totals are the sum (one job after another,
the device-hours) and, on the CPU, the makespan when ``--cores`` cores run the jobs
side by side: each job takes the threads its rule asks for (``threads`` for MNIST
training and probes, 1 for the rest), jobs are placed longest first on the cores that
free up earliest, and each runs at its measured speed (so contention between jobs is
not modeled). On a GPU, packing jobs onto one device is not modeled: the sequential
sum is the GPU estimate. Probes, the trace study and memory scaling run on the CPU
whatever the device (as in the pipeline) and are timed there.

Not measured: data preparation (the MNIST download, the spirals generator: seconds),
the table, figure, claims and report rules (seconds each), checkpoint writes and
Snakemake's own scheduling. Per-step costs are those of freshly initialized models:
the NFE of an adaptive solve changes over training (Fig. 3d; a CNF's grows several
fold), so ODE arms can cost more (or less) per step later on. The table shows each
arm's NFE per step as timed, and where the budget's own runs exist under
``results/<budget>/runs`` (else the committed ``reference/<budget>/runs``), their NFE
late in training ("NFE/rec.") and their recorded ``wall_seconds`` ("rec. h"; without
process start-up) beside the estimate. The share of the CPUs busy with other work just
before and after timing is shown too: a busy machine inflates every timing.

    python -m odebench.perf.cost --budget paper [--device cpu|cuda|auto] [--threads N]
        [--steps K] [--cores N] [--family mnist ...] [--json PATH] [--quiet]

``--json PATH`` writes the same numbers: ``budget``, ``configfile``, ``device``,
``device_name``, ``torch``, ``date_utc``, ``threads``, ``cores``, ``steps``,
``startup_seconds``, ``other_cpu_use`` (the share of the CPUs busy with other work just
before and just after timing, None where unknown), ``arms``
(one object per arm: :data:`ARM_KEYS`), ``totals`` (:data:`TOTAL_KEYS`), ``not_costed``
(``family``, ``arm``, ``reason``) and ``excluded`` (what no estimate includes).

The modules, each importing only those above it:

- :mod:`~odebench.perf.cost.jobs`: the families, their Snakemake rules and threads
  (:data:`~odebench.perf.cost.jobs.RULES`), the plan's jobs grouped into arms
  (:class:`Arm`, :func:`enumerate_arms`), the config and data the estimate needs, and
  what the budget's own runs recorded;
- :mod:`~odebench.perf.cost.timing`: timing a call, training steps and a process
  start-up, extrapolating from two sizes, the CPUs' other use, the device's name;
- :mod:`~odebench.perf.cost.table`: the printed table;
- :mod:`~odebench.perf.cost.measure`: measuring one arm of each family;
- :mod:`~odebench.perf.cost.packing`: the totals, with the jobs packed onto cores (:func:`pack`);
- :mod:`~odebench.perf.cost.estimate`: measuring every arm (:func:`price`) and the
  whole result (:func:`cost`);
- :mod:`~odebench.perf.cost.cli`: the command line (:func:`main`), run by
  ``python -m odebench.perf.cost`` (:mod:`~odebench.perf.cost.__main__`).
"""

from odebench.perf.cost.cli import PROG, main
from odebench.perf.cost.estimate import EXCLUDED, cost, price
from odebench.perf.cost.jobs import (
    ARM_KEYS,
    FAMILIES,
    RULES,
    Arm,
    CostError,
    enumerate_arms,
    load_config,
)
from odebench.perf.cost.packing import TOTAL_KEYS, pack, totals
from odebench.perf.cost.table import report

__all__ = [
    "ARM_KEYS",
    "EXCLUDED",
    "FAMILIES",
    "PROG",
    "RULES",
    "TOTAL_KEYS",
    "Arm",
    "CostError",
    "cost",
    "enumerate_arms",
    "load_config",
    "main",
    "pack",
    "price",
    "report",
    "totals",
]
