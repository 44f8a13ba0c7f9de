"""Table 2: extrapolation RMSE of a latent ODE and RNNs on irregularly sampled spirals."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from odebench.products.aggregate import load_runs, summarise
from odebench.products.tables.formatting import (
    fmt,
    latex_table,
    markdown_document,
    mean_std,
    metrics_table,
    write_product,
)

TABLE2_METRICS = ("rmse", "rmse_window", "nfe_forward", "nfe_backward", "seconds_per_iteration",
                  "params", "final_loss")  # fmt: skip
TABLE2_LABELS = {"rnn": "RNN", "rnn_dt": "RNN + time gaps", "latent_ode": "Latent ODE"}


def table2_frame(metrics_files: Sequence[Path], reference: dict[str, Any]) -> pd.DataFrame:
    """One row per (model, n_obs): extrapolation RMSE over seeds beside the paper's."""
    runs = load_runs(metrics_files)
    table = summarise(runs, ["model", "n_obs"], TABLE2_METRICS)
    paper = reference["table2_spirals"]
    paper_n = list(paper["n_obs"])

    def paper_rmse(row) -> float:
        values = paper["rmse"].get(row["model"])
        n = int(row["n_obs"])
        return values[paper_n.index(n)] if values is not None and n in paper_n else math.nan

    table["label"] = table["model"].map(TABLE2_LABELS)
    table["paper_rmse"] = table.apply(paper_rmse, axis=1)
    table["rmse_diff"] = table["rmse_mean"] - table["paper_rmse"]
    for key in ("tol", "solver", "gradient", "iterations", "budget", "lr"):
        table[key] = runs[f"config_{key}"].iloc[0]
    # Settings older runs did not record read as the defaults they ran with.
    for key, default in (("lr_schedule", "constant"), ("grad_clip", None)):
        column = f"config_{key}"
        table[key] = runs[column].iloc[0] if column in runs else default
    table["n_train"] = runs["n_train"].iloc[0]
    table["n_test"] = runs["n_test"].iloc[0]
    return table


#: What NFE-B means under each gradient mode of the latent ODE.
BACKWARD_NOTES = {
    "direct": "Gradients backpropagate through the solver's operations, so the backward pass "
    "calls the dynamics 0 times.",
    "adjoint": "The adjoint's backward pass solves between every pair of consecutive output "
    "times, hence many more evaluations than the forward pass.",
}


def _schedule(first: pd.Series) -> str:
    """``cosine decay, gradient norm clipped at 10``: the schedule the runs trained with."""
    schedule = f"{first['lr_schedule']} learning-rate schedule"
    if first["lr_schedule"] == "cosine":
        schedule = "cosine decay of the learning rate to 0"
    clip = first["grad_clip"]
    clipped = "no gradient clipping" if pd.isna(clip) else f"gradient norm clipped at {clip:g}"
    return f"{schedule}, {clipped}"


def table2_markdown(table: pd.DataFrame, reference: dict[str, Any]) -> str:
    header = ["Model", "n obs", "n", "RMSE (ours)", "RMSE (paper)", "Δ", "RMSE on window",
              "NFE-F", "NFE-B", "s / iter"]  # fmt: skip
    rows = [
        [
            r.label, f"{r.n_obs}",
            f"{r.n_seeds}" + (f" (+{r.n_failed} failed)" if r.n_failed else ""),
            mean_std(r.rmse_mean, r.rmse_std, 4), fmt(r.paper_rmse, 4), fmt(r.rmse_diff, 4),
            mean_std(r.rmse_window_mean, r.rmse_window_std, 4),
            fmt(r.nfe_forward_mean, 1), fmt(r.nfe_backward_mean, 1),
            fmt(r.seconds_per_iteration_mean, 3),
        ]
        for r in table.itertuples()
    ]  # fmt: skip
    first = table.iloc[0]
    sequences_tol = reference["tolerances"]["sequences"]
    notes = [
        f"Budget `{first['budget']}`: {first['n_train']} training and {first['n_test']} held-out "
        f"spirals, {first['iterations']} full-batch Adam iterations (lr {first['lr']}, "
        f"{_schedule(first)}); mean ± std (ddof=1) over n seeds. Seeds also redraw which "
        "points each trajectory keeps.",
        "RMSE: root mean squared error of the 100 points after the observed window "
        "(extrapolation), against the noise-free trajectory, over every held-out spiral. "
        "RMSE on window: the latent ODE's reconstruction of all 100 window points, the RNNs' "
        "one-step-ahead predictions of the observed points, against the noise-free truth.",
        f"Latent ODE solver: torchdiffeq `{first['solver']}`, rtol = atol = {first['tol']:g}, "
        f"gradients by `{first['gradient']}`; the paper used {sequences_tol:g}"
        + (" (this budget loosens it to fit its time)." if first["tol"] != sequences_tol else "."),
        "NFE-F / NFE-B: dynamics evaluations per training iteration (last tenth of training). "
        + BACKWARD_NOTES.get(first["gradient"], ""),
        "RNN + time gaps has no paper value. The paper's numbers: "
        + reference["table2_spirals"]["source"]
        + ".",
    ]
    failures = [f"{r.label} n={r.n_obs}: {r.failure}" for r in table.itertuples() if r.failure]
    title = "Table 2: extrapolation RMSE on irregularly sampled spirals"
    return markdown_document(title, header, rows, notes, failures)


def table2_latex(table: pd.DataFrame) -> str:
    header = ["Model", "n obs", "RMSE (ours)", "RMSE (paper)"]
    rows = [
        [r.label, f"{r.n_obs}", mean_std(r.rmse_mean, r.rmse_std, 4), fmt(r.paper_rmse, 4)]
        for r in table.itertuples()
    ]
    caption = "Spiral extrapolation RMSE (mean ± std over seeds) beside Table 2."
    return latex_table(header, rows, caption)


def table2(metrics_files: Sequence[Path], reference: dict[str, Any], out: Path) -> pd.DataFrame:
    table = table2_frame(metrics_files, reference)
    return write_product(table, out, table2_markdown(table, reference), table2_latex(table))


#: Table 2's builder in :mod:`odebench.products.registry`.
build = metrics_table(table2)
