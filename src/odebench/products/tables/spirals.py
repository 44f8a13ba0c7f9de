"""Table 2: extrapolation RMSE of a latent ODE and RNNs on irregularly sampled spirals."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from odebench.core.paths import HISTORY_CSV
from odebench.core.status import COMPLETED
from odebench.products.aggregate import load_runs, summarise
from odebench.products.curves import arm_convergence
from odebench.products.stats import Difference, Summary, welch_difference
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
TABLE2_LABELS = {
    "rnn": "RNN", "rnn_dt": "RNN + time", "latent_ode": "Latent ODE",
    "hold_last": "Hold the last observation (reference)",
    "linear": "Extend the last motion (reference)",
}  # fmt: skip
#: The model every other row is compared with.
LATENT_ODE = "latent_ode"


def _per_seed(runs: pd.DataFrame, metric: str) -> pd.Series:
    """``seed:value`` of every completed run, joined by ``;``, per (model, n_obs)."""
    done = runs[runs["status"] == COMPLETED].sort_values("seed")
    return done.groupby(["model", "n_obs"], sort=False).apply(
        lambda g: ";".join(f"{int(s)}:{v:.6g}" for s, v in zip(g["seed"], g[metric], strict=True)),
        include_groups=False,
    )


#: The convergence rule of the spirals models (:mod:`odebench.core.convergence`), relative
#: to the best validation loss (a negative ELBO or squared error of tens to thousands): a
#: run converged when the least-squares line through its last quarter's validation losses
#: falls by at most FALL_LIMIT of it across that quarter, and it ends at most EXCESS_LIMIT
#: above it. 2% is the earlier rule's bound on a still-falling loss; 5% above the best
#: is a loss the run had and lost, not evaluation noise (the validation spirals are fixed).
FALL_LIMIT, EXCESS_LIMIT = 0.02, 0.05


def _convergence(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (model, n_obs): :data:`odebench.products.curves.CONVERGENCE_COLUMNS` over the
    runs that trained (the reference predictors record no curve and get none)."""
    trained = runs[[_has_curve(Path(d)) for d in runs["run_dir"]]]
    return arm_convergence(trained, ["model", "n_obs"], FALL_LIMIT, EXCESS_LIMIT)


def _has_curve(run_dir: Path) -> bool:
    """Whether a run recorded validation losses (a trained model, not a reference one)."""
    path = run_dir / HISTORY_CSV
    if not path.is_file():
        return False
    history = pd.read_csv(path)
    return "val_loss" in history and bool(history["val_loss"].notna().any())


def _against_latent_ode(table: pd.DataFrame) -> pd.DataFrame:
    """Latent ODE minus each other row's RMSE at the same n, with its 95% Welch interval."""
    columns = {"latent_ode_minus": [], "latent_ode_minus_low": [], "latent_ode_minus_high": []}
    ode = table[table["model"] == LATENT_ODE].set_index("n_obs")
    for r in table.itertuples():
        if r.model == LATENT_ODE or r.n_obs not in ode.index:
            diff = Difference(math.nan, math.nan, math.nan)
        else:
            o = ode.loc[r.n_obs]
            diff = welch_difference(Summary(o["rmse_mean"], o["rmse_std"], int(o["n_seeds"])),
                                    Summary(r.rmse_mean, r.rmse_std, int(r.n_seeds)))  # fmt: skip
        columns["latent_ode_minus"].append(diff.estimate)
        columns["latent_ode_minus_low"].append(diff.low)
        columns["latent_ode_minus_high"].append(diff.high)
    return table.assign(**columns)


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

    table["label"] = table["model"].map(TABLE2_LABELS).fillna(table["model"])
    table["paper_rmse"] = table.apply(paper_rmse, axis=1)
    table["rmse_diff"] = table["rmse_mean"] - table["paper_rmse"]
    table["rmse_ratio"] = table["rmse_mean"] / table["paper_rmse"]
    seeds = _per_seed(runs, "rmse")
    table["rmse_seeds"] = [seeds.get((m, n), "") for m, n in zip(table["model"], table["n_obs"],
                                                                 strict=True)]  # fmt: skip
    table = _against_latent_ode(table)
    table = table.merge(_convergence(runs), on=["model", "n_obs"], how="left")
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


def _trained(r: Any) -> str:
    """``converged (3/3)``: an arm's convergence and how many of its seeds converged."""
    if not isinstance(r.convergence, str):
        return "–"
    converged = int(r.n_converged) if pd.notna(r.n_converged) else 0
    return f"{r.convergence.replace('_', ' ')} ({converged}/{r.n_seeds})"


def _convergence_note(table: pd.DataFrame) -> str:
    """The convergence rule, and which trained arms it did not find converged."""
    text = (
        f"Trained: each seed's validation loss, by `odebench.core.convergence`: converged "
        f"when the least-squares line through the last quarter of training falls by at most "
        f"{FALL_LIMIT:.0%} of its best value across that quarter and the run ends at most "
        f"{EXCESS_LIMIT:.0%} above its best; still improving if it falls more, unstable if "
        "it ends higher (the run had a better model and lost it). An arm is as converged as "
        "its worst seed; the largest fall and excess are in the csv (`val_fall_max`, "
        "`val_excess_max`). "
    )
    trained = table[table["convergence"].notna()]
    open_ = trained[trained["convergence"] != "converged"]
    if open_.empty:
        return text + "Every trained arm converged."
    return (
        text
        + "Not converged: "
        + ", ".join(
            f"{r.label} n = {r.n_obs} {r.convergence.replace('_', ' ')} (fall "
            f"{100 * r.val_fall_max:.0f}%, end above best {100 * r.val_excess_max:.0f}%)"
            for r in open_.itertuples()
        )
        + "."
    )


def _interval(r: Any) -> str:
    """``-0.41 [-0.52, -0.30]``, or ``–`` where there is no comparison."""
    if pd.isna(r.latent_ode_minus):
        return "–"
    if pd.isna(r.latent_ode_minus_low):
        return f"{r.latent_ode_minus:.3f} (no interval)"
    return f"{r.latent_ode_minus:.3f} [{r.latent_ode_minus_low:.3f}, {r.latent_ode_minus_high:.3f}]"


def table2_markdown(table: pd.DataFrame, reference: dict[str, Any]) -> str:
    header = ["Model", "n obs", "n", "RMSE (ours)", "RMSE (paper)", "× paper",
              "Latent ODE − this (95% CI)", "RMSE on window", "NFE-F", "NFE-B",
              "s / iter", "Trained"]  # fmt: skip
    rows = [
        [
            r.label, f"{r.n_obs}",
            f"{r.n_seeds}" + (f" (+{r.n_failed} failed)" if r.n_failed else ""),
            mean_std(r.rmse_mean, r.rmse_std, 4), fmt(r.paper_rmse, 4), fmt(r.rmse_ratio, 1),
            _interval(r), mean_std(r.rmse_window_mean, r.rmse_window_std, 4),
            fmt(r.nfe_forward_mean, 1), fmt(r.nfe_backward_mean, 1),
            fmt(r.seconds_per_iteration_mean, 3), _trained(r),
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
        "(extrapolation), against the noise-free trajectory, over every held-out spiral; "
        "× paper is our mean over the paper's. Latent ODE − this: the latent ODE's mean RMSE "
        "minus the row's at the same n, with the 95% Welch interval over seeds (below zero: "
        "the latent ODE extrapolates better). RMSE on window: the latent ODE's reconstruction "
        "of all 100 window points, the others' one-step-ahead predictions of the observed "
        "points, against the noise-free truth. Per-seed values are in the csv (`rmse_seeds`).",
        "Reference rows need no training and see the same noisy observations as the models: "
        "hold the last observation, or extend the last observed motion (the velocity between "
        "the last two observations) in a straight line. They show what an RMSE means here.",
        "Every run keeps the iterate with the lowest loss on validation spirals (a share of "
        "the training spirals, the same for every model and seed), not the last one. Test "
        "spirals extrapolate only over angles that training windows of their direction "
        "observed (see `odebench.spirals.data`).",
        _convergence_note(table),
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
