"""The continuous normalizing flow tables: density matching (Figure 4), maximum
likelihood (Figure 5) and FFJORD's trace estimator."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from odebench.core.artifacts import read_json
from odebench.core.paths import TRACE_CSV
from odebench.products.aggregate import load_runs, summarise
from odebench.products.curves import arm_convergence
from odebench.products.tables.formatting import (
    fmt,
    latex_table,
    markdown_document,
    mean_std,
    metrics_table,
    write_product,
)

#: Rezende & Mohamed (2015)'s names of the target energies.
ENERGY_NAMES = {"ring": "U1", "wave": "U2", "split_wave": "U3", "step_wave": "U4"}
FLOW_LABELS = {"nf": "planar NF (K layers)", "cnf": "planar CNF (M units)"}
FLOW_METRICS = ("kl", "test_nll", "nfe_forward", "nfe_backward", "test_nfe",
                "seconds_per_iteration", "params", "wall_seconds")  # fmt: skip

#: The convergence rule of the flows (:mod:`odebench.core.convergence`), in nats for a
#: loss below 1 and relative above: a run converged when the least-squares line through
#: its last quarter's validation losses falls by at most FALL_LIMIT across that quarter
#: and it ends at most EXCESS_LIMIT above its best validation loss. 0.01 nats is about the
#: sampling error of a 4096-sample KL estimate; the claims resolve gaps of 0.05-0.5 nats.
FALL_LIMIT, EXCESS_LIMIT = 0.01, 0.02


def _flow_summary(
    metrics_files: Sequence[Path], by: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = load_runs(metrics_files)
    summary = summarise(runs, by, FLOW_METRICS)
    summary["iterations"] = runs.groupby(by, sort=False)["config_iterations"].first().values
    curves = arm_convergence(runs, by, FALL_LIMIT, EXCESS_LIMIT)
    return runs, summary.merge(curves, on=by, how="left")


def _trained(r: Any) -> str:
    """``1000 it., converged (3/3)``: how long an arm trained and whether it converged."""
    status = r.convergence if isinstance(r.convergence, str) else "unjudged"
    converged = int(r.n_converged) if pd.notna(r.n_converged) else 0
    return f"{int(r.iterations)} it., {status.replace('_', ' ')} ({converged}/{r.n_seeds})"


def _rule_note() -> str:
    return (
        "Trained: iterations, the arm's convergence and how many of its seeds converged. A "
        "seed converged when its validation loss (recorded `validations` times a run, 20 by "
        f"default) neither falls by more than {FALL_LIMIT:g} across the last quarter of "
        "training (least-squares line; in units of max(|best|, 1) nats) nor ends more than "
        f"{EXCESS_LIMIT:g} above its best (`odebench.core.convergence`). An arm is as converged "
        "as its worst seed: unstable, then still improving, then unjudged (fewer than 4 "
        "validation losses in the last quarter, as in runs that recorded none)."
    )


def _training_note(runs: pd.DataFrame, tol_name: str) -> str:
    parts = []
    for model, group in runs.groupby("model"):
        first = group.iloc[0]
        iterations, optimizer = int(first["config_iterations"]), first["config_optimizer"]
        schedule = first.get("config_lr_schedule", "constant")
        schedule = "cosine decay to 0" if schedule == "cosine" else "constant"
        text = (f"{model.upper()}: {iterations} {optimizer} iterations, lr {first['config_lr']:g} "
                f"({schedule})")  # fmt: skip
        anneal = first.get("config_anneal", 0)
        if isinstance(anneal, (int, float)) and anneal > 0:
            text += f", energy weight annealed from 0.01 to 1 over {int(anneal)} iterations"
        parts.append(text)
    first = runs.iloc[0]
    return (
        f"Budget `{first['config_budget']}`, batch {int(first['config_batch_size'])}. "
        + "; ".join(parts)
        + f". CNF solves: torchdiffeq `{first['config_solver']}` at rtol = atol = "
        f"{first['config_tol']:g} ({tol_name}), gradients by `{first['config_gradient']}`."
    )


def cnf_density_matching(
    metrics_files: Sequence[Path], reference: dict[str, Any], out: Path
) -> pd.DataFrame:
    """One row per (target, model, capacity): KL(q‖p) over seeds (Figure 4)."""
    runs, summary = _flow_summary(metrics_files, ["target", "model", "capacity"])
    table = summary[["target", "model", "capacity", "n_seeds", "kl_mean", "kl_std", "n_failed",
                   "failure", "nfe_forward_mean", "seconds_per_iteration_mean", "params_mean",
                   "wall_seconds_mean", "iterations", "convergence", "n_converged",
                   "val_fall_max", "val_excess_max"]]  # fmt: skip
    table = table.sort_values(["target", "model", "capacity"]).reset_index(drop=True)
    header = ["Target", "Model", "K / M", "n", "KL(q‖p) (nats)", "Trained", "NFE-F", "s / iter",
              "Params"]  # fmt: skip
    rows = [[r.target, FLOW_LABELS[r.model], f"{r.capacity}",
             f"{r.n_seeds}" + (f" (+{r.n_failed} failed)" if r.n_failed else ""),
             mean_std(r.kl_mean, r.kl_std, 3), _trained(r), fmt(r.nfe_forward_mean, 1),
             fmt(r.seconds_per_iteration_mean, 3), fmt(r.params_mean, 0)]
            for r in table.itertuples()]  # fmt: skip
    paper = reference["cnf"]
    notes = [
        _training_note(
            runs, f"the paper's density tolerance is {reference['tolerances']['density']:g}"
        ),
        "KL(q‖p) = E_q[log q + U] + log Z on held-out flow samples, with log Z of each target "
        "computed on a grid, so 0 is a perfect fit; mean ± std (ddof=1) over n seeds. The "
        "validation KL takes other flow samples, on a seed of its own.",
        _rule_note(),
        "Targets: the energies "
        + ", ".join(f"{ENERGY_NAMES[t]} ({t})" for t in dict.fromkeys(table["target"]))
        + " of Rezende & Mohamed (2015); the waves are confined by a soft wall (z1/4)^8.",
        f"The paper ({paper['source']}) shows Figure 4 as images only: "
        + paper["density_training"].strip(),
    ]
    failures = [f"{r.target} {r.model}{r.capacity}: {r.failure}" for r in table.itertuples()
                if r.failure]  # fmt: skip
    markdown = markdown_document("Figure 4: density matching, KL(q‖p)", header, rows, notes,
                                 failures)  # fmt: skip
    latex = latex_table(header[:5], [row[:5] for row in rows], "Density matching: KL(q‖p).")
    return write_product(table, out, markdown, latex)


def cnf_max_likelihood(
    metrics_files: Sequence[Path], reference: dict[str, Any], out: Path
) -> pd.DataFrame:
    """One row per (data set, model): held-out NLL over seeds (Figure 5)."""
    runs, summary = _flow_summary(metrics_files, ["dataset", "model"])
    summary["capacity"] = runs.groupby(["dataset", "model"])["capacity"].first().values
    table = summary.rename(columns={"nfe_forward_mean": "nfe_forward"})[
        ["dataset", "model", "n_seeds", "test_nll_mean", "test_nll_std", "nfe_forward",
         "capacity", "n_failed", "failure", "test_nfe_mean", "seconds_per_iteration_mean",
         "params_mean", "wall_seconds_mean", "iterations", "convergence", "n_converged",
         "val_fall_max", "val_excess_max"]
    ]  # fmt: skip
    table = table.sort_values(["dataset", "model"]).reset_index(drop=True)
    header = ["Data set", "Model", "n", "Test NLL (nats)", "Trained", "NFE-F (training)",
              "s / iter", "Params"]  # fmt: skip
    rows = [[r.dataset, f"{FLOW_LABELS[r.model]}, {r.capacity}",
             f"{r.n_seeds}" + (f" (+{r.n_failed} failed)" if r.n_failed else ""),
             mean_std(r.test_nll_mean, r.test_nll_std, 3), _trained(r), fmt(r.nfe_forward, 1),
             fmt(r.seconds_per_iteration_mean, 3), fmt(r.params_mean, 0)]
            for r in table.itertuples()]  # fmt: skip
    notes = [
        _training_note(
            runs, f"the paper's density tolerance is {reference['tolerances']['density']:g}"
        ),
        "Test NLL: mean negative log-likelihood of held-out samples (the same for every run), "
        "nats per point, lower is better; mean ± std (ddof=1) over n seeds. NFE-F: dynamics "
        "evaluations per training iteration, last tenth of training (0 for planar flows). "
        "The validation NLL takes other samples of the data set.",
        _rule_note(),
        "The NF maps data to noise (exact, differentiable log-likelihood); it is sampled "
        "through its layers' inverses, solved by bisection.",
        f"The paper ({reference['cnf']['source']}) reports Figure 5 as images only.",
    ]
    failures = [f"{r.dataset} {r.model}: {r.failure}" for r in table.itertuples() if r.failure]
    markdown = markdown_document("Figure 5: maximum likelihood, held-out NLL", header, rows,
                                 notes, failures)  # fmt: skip
    latex = latex_table(header[:4], [row[:4] for row in rows], "Held-out NLL of NF and CNF.")
    return write_product(table, out, markdown, latex)


TRACE_METRICS = ("seconds_per_step", "nfe", "nfe_backward", "seconds_per_nfe", "variance",
                 "bias")  # fmt: skip


def trace_estimator(
    metrics_files: Sequence[Path], reference: dict[str, Any], out: Path
) -> pd.DataFrame:
    """One row per (dim, estimator): the trace study's per-seed rows, over seeds."""
    frames = []
    for path in map(Path, metrics_files):
        frame = pd.read_csv(path.parent / TRACE_CSV)
        detail = frame.get("detail", pd.Series("", frame.index)).fillna("").astype(str)
        status = frame["status"].where(detail == "", frame["status"] + ": " + detail)
        frames.append(frame.assign(seed=read_json(path)["seed"], status_detail=status))
    runs = pd.concat(frames, ignore_index=True)
    summary = summarise(runs, ["dim", "estimator"], TRACE_METRICS)
    table = pd.DataFrame({"dim": summary["dim"], "estimator": summary["estimator"]})
    for metric in TRACE_METRICS:
        table[metric] = summary[f"{metric}_mean"]
        table[f"{metric}_std"] = summary[f"{metric}_std"]
    table["n_seeds"], table["n_failed"] = summary["n_seeds"], summary["n_failed"]
    table["failure"] = summary["failure"]
    spec = read_json(Path(metrics_files[0]))["config"]
    header = ["D", "Estimator", "n", "s / step", "ms / evaluation", "NFE-F", "NFE-B",
              "Var of log p(x)", "Bias of log p(x)"]  # fmt: skip
    rows = [[f"{r.dim}", r.estimator,
             f"{r.n_seeds}" + (f" (+{r.n_failed} failed)" if r.n_failed else ""),
             mean_std(r.seconds_per_step, r.seconds_per_step_std, 3),
             fmt(1e3 * r.seconds_per_nfe, 2), fmt(r.nfe, 1), fmt(r.nfe_backward, 1),
             f"{r.variance:.2e}" if pd.notna(r.variance) else "–",
             f"{r.bias:+.1e}" if pd.notna(r.bias) else "–"]
            for r in table.itertuples()]  # fmt: skip
    notes = [
        f"Budget `{spec['budget']}`: a planar CNF of width {spec['width']} on {spec['batch_size']} "
        f"points of a two-component Gaussian mixture in D dimensions; torchdiffeq "
        f"`{spec['solver']}` at rtol = atol = {spec['tol']:g}, gradients by `{spec['gradient']}`, "
        f"step budget {spec['max_num_steps']}. s / step: median of {spec['steps']} training "
        "steps after a warm-up step, mean ± std over seeds; compare only within this table.",
        "exact: D backward passes per evaluation. hutchinson: one vector-Jacobian product with "
        "Rademacher noise drawn once per solve (FFJORD). hutchinson_fresh: new noise at every "
        "evaluation, which makes the right-hand side discontinuous (torchdiffeq issue #120).",
        f"Var / Bias of log p(x): over {spec['noise_draws']} noise draws per point, mean over "
        "points; bias against the exact trace's log p(x) from the same weights.",
    ]
    failures = [f"D={r.dim} {r.estimator}: {r.failure}" for r in table.itertuples() if r.failure]
    markdown = markdown_document("FFJORD: exact trace against Hutchinson's estimator", header,
                                 rows, notes, failures)  # fmt: skip
    latex = latex_table(header[:6], [row[:6] for row in rows], "Cost of the CNF's trace.")
    return write_product(table, out, markdown, latex)


# Builders in :mod:`odebench.products.registry`.
build_density_matching = metrics_table(cnf_density_matching)
build_max_likelihood = metrics_table(cnf_max_likelihood)
build_trace_estimator = metrics_table(trace_estimator)
