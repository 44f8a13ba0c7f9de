"""Tables as code: one function per product, reading only the runs' metrics.

Each product writes ``<prefix>.csv`` (tidy, raw numbers, one row per arm),
``<prefix>.md`` (readable on its own, with notes) and ``<prefix>.tex``.

Entry point::

    python -m odebench.products.tables table1 --out results/cpu/tables/table1_mnist \\
        --reference paper/reference.yaml results/cpu/runs/mnist/*/seed*/metrics.json
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from odebench.core import artifacts
from odebench.core.artifacts import read_json
from odebench.mnist.arms import ARMS as MODELS
from odebench.mnist.arms import CROP_PADDING
from odebench.pipeline.paths import TRACE_CSV
from odebench.products.aggregate import load_runs, summarise

MIB = 2**20

TABLE1_METRICS = (
    "test_error_pct",
    "best_val_error_pct",
    "params",
    "activation_bytes",
    "activation_nfe_forward",
    "nfe_forward",
    "nfe_backward",
    "test_nfe_forward",
    "epoch_seconds",
    "train_examples_per_s",
    "peak_rss_bytes",
    "wall_seconds",
)


def load_reference(path: Path) -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f)


# -- formatting ---------------------------------------------------------------------


def fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def mean_std(mean: float, std: float, digits: int = 2) -> str:
    if isinstance(mean, float) and math.isnan(mean):
        return "–"
    if isinstance(std, float) and math.isnan(std):
        return fmt(mean, digits)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def markdown_document(
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    notes: Sequence[str],
    failures: Sequence[str] = (),
) -> str:
    """A table's .md: title, the table, then its notes as a list (failed runs last)."""
    notes = list(notes)
    if failures:
        notes.append("Failed runs (excluded from the statistics): " + "; ".join(failures))
    text = f"# {title}\n\n" + markdown_table(header, rows) + "\n"
    return text + "\n".join(f"- {note}" for note in notes) + "\n"


def latex_table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str) -> str:
    def esc(text: str) -> str:
        for a, b in (
            ("%", r"\%"),
            ("_", r"\_"),
            ("±", r"$\pm$"),
            ("~", r"$\sim$"),
            ("–", "--"),
            ("‖", r"$\|$"),
        ):
            text = text.replace(a, b)
        return text

    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{esc(caption)}}}",
        r"\begin{tabular}{" + "l" + "r" * (len(header) - 1) + "}",
        r"\toprule",
        " & ".join(esc(h) for h in header) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(esc(c) for c in row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


# -- Table 1 --------------------------------------------------------------------------


def table1_frame(metrics_files: Sequence[Path], reference: dict[str, Any]) -> pd.DataFrame:
    """Table 1 as a tidy frame: one row per (model, tol), our numbers beside the paper's."""
    runs = load_runs(metrics_files)
    summary = summarise(runs, ["model", "tol"], TABLE1_METRICS)
    paper = reference["table1_mnist"]["models"]
    order = {name: i for i, name in enumerate(MODELS)}
    summary = summary.sort_values(
        ["model", "tol"], key=lambda col: col.map(order) if col.name == "model" else col
    ).reset_index(drop=True)

    def paper_value(model: str, key: str) -> Any:
        return (paper.get(model) or {}).get(key)

    table = pd.DataFrame(
        {
            "model": summary["model"],
            "label": [paper_value(m, "label") or m for m in summary["model"]],
            "tol": summary["tol"],
            "n_seeds": summary["n_seeds"],
            "n_failed": summary["n_failed"],
            "test_error_pct_mean": summary["test_error_pct_mean"],
            "test_error_pct_std": summary["test_error_pct_std"],
            "paper_test_error_pct": [paper_value(m, "test_error_pct") for m in summary["model"]],
            "best_val_error_pct_mean": summary["best_val_error_pct_mean"],
            "params": summary["params_mean"].round().astype("Int64"),
            "paper_params": [paper_value(m, "params") for m in summary["model"]],
            "activation_mib": summary["activation_bytes_mean"] / MIB,
            "activation_nfe_forward": summary["activation_nfe_forward_mean"],
            "paper_memory": [paper_value(m, "memory") for m in summary["model"]],
            "paper_time": [paper_value(m, "time") for m in summary["model"]],
            "nfe_forward": summary["nfe_forward_mean"],
            "nfe_backward": summary["nfe_backward_mean"],
            "test_nfe_forward": summary["test_nfe_forward_mean"],
            "epoch_seconds": summary["epoch_seconds_mean"],
            "epoch_seconds_std": summary["epoch_seconds_std"],
            "train_examples_per_s": summary["train_examples_per_s_mean"],
            "peak_rss_mib": summary["peak_rss_bytes_mean"] / MIB,
            "failure": summary["failure"],
        }
    )
    table["paper_test_error_pct"] = pd.to_numeric(table["paper_test_error_pct"])
    table["paper_params"] = pd.to_numeric(table["paper_params"]).astype("Int64")
    table["test_error_diff_pct"] = table["test_error_pct_mean"] - table["paper_test_error_pct"]
    table["params_rel_diff_pct"] = 100.0 * (
        table["params"].astype(float) / table["paper_params"].astype(float) - 1.0
    )
    crop = (
        runs.groupby("model")["config_crop_padding"].first()
        if "config_crop_padding" in runs
        else {}
    )
    table["crop_padding"] = [
        int(crop[m]) if m in crop and pd.notna(crop[m]) else CROP_PADDING for m in table["model"]
    ]
    for key in ("budget", "epochs", "n_train", "n_val", "solver", "batch_size"):
        column = f"config_{key}" if f"config_{key}" in runs else key
        table[key] = runs[column].iloc[0] if column in runs else None
    return table


def table1_markdown(table: pd.DataFrame, reference: dict[str, Any]) -> str:
    header = [
        "Model", "tol", "n", "Test error % (ours)", "Test error % (paper)", "Δ (pp)",
        "Params (ours)", "Params (paper)", "Activation MiB (NFE)", "Memory (paper)",
        "NFE-F", "NFE-B", "s / epoch",
    ]  # fmt: skip
    rows = []
    for r in table.itertuples():
        nfe = f" ({r.activation_nfe_forward:.0f})" if r.activation_nfe_forward > 0 else ""
        rows.append(
            [
                r.label,
                "–" if pd.isna(r.tol) else f"{r.tol:g}",
                f"{r.n_seeds}" + (f" (+{r.n_failed} failed)" if r.n_failed else ""),
                mean_std(r.test_error_pct_mean, r.test_error_pct_std),
                fmt(r.paper_test_error_pct),
                fmt(r.test_error_diff_pct),
                f"{r.params / 1e6:.3f} M",
                "–" if pd.isna(r.paper_params) else f"{r.paper_params / 1e6:.2f} M",
                f"{r.activation_mib:.1f}{nfe}",
                r.paper_memory or "–",
                fmt(r.nfe_forward, 1),
                fmt(r.nfe_backward, 1),
                mean_std(r.epoch_seconds, r.epoch_seconds_std, 0),
            ]
        )
    first = table.iloc[0]
    protocol = reference["table1_mnist"]["protocol"].strip()
    notes = [
        f"Budget `{first['budget']}`: {first['epochs']} epoch(s) on {first['n_train']:,} "
        f"training images, batch {first['batch_size']}; test error at the epoch of lowest "
        f"validation error ({first['n_val']:,} validation images, held out of training), "
        "mean ± std "
        "(ddof=1) over n seeds.",
        f"ODE solver: torchdiffeq `{first['solver']}` with rtol = atol = tol; the paper: "
        + protocol,
        "Δ is our mean minus the paper's, in percentage points. The paper's numbers come "
        "from " + reference["table1_mnist"]["source"] + ".",
        "Parameters (relative to the paper's: "
        + ", ".join(
            f"{r.label} {r.params_rel_diff_pct:+.1f}%"
            for r in table.drop_duplicates("model").itertuples()
            if pd.notna(r.params_rel_diff_pct)
        )
        + "): the paper gives counts to two significant figures (0.22 M stands for "
        "anything in [0.215 M, 0.225 M)). The ResNet's convolutions have no bias (each is "
        "followed by GroupNorm), as in torchdiffeq's published architecture, which is why "
        "it has fewer parameters than the paper's 0.60 M.",
        "Activation MiB: peak bytes of tensors saved for backward during one training step "
        "(the first of the last epoch), counted exactly with saved-tensor hooks, with that "
        "step's forward NFE in brackets. Memory (paper): the complexity the paper claims, "
        "L = layers, L~ = function evaluations.",
        "NFE-F / NFE-B: calls of the dynamics function per training batch in the forward / "
        "backward pass, mean over the last epoch. RK-Net backpropagates through the "
        "solver's operations, so its backward pass calls the dynamics 0 times.",
        "s / epoch: wall seconds of the training loop of one epoch (no evaluation), "
        "mean ± std over seeds; compare only within one run of the table.",
        "Augmentation: random crops of the training images with padding "
        + ", ".join(
            f"{r.crop_padding} ({r.label})" for r in table.drop_duplicates("model").itertuples()
        )
        + "; padding 0 means no augmentation.",
        "The 1-layer MLP's paper number is quoted by the paper from LeCun et al. (1998). "
        "The stem-only row is the ablation the paper lacks (torchdiffeq issue #32).",
    ]
    failures = [f"{r.label}: {r.failure}" for r in table.itertuples() if r.failure]
    title = "Table 1: MNIST test error, parameters and memory"
    return markdown_document(title, header, rows, notes, failures)


def table1_latex(table: pd.DataFrame) -> str:
    header = ["Model", "Test error % (ours)", "(paper)", "Params", "(paper)", "Act. MiB", "Memory"]
    rows = [
        [
            r.label + ("" if pd.isna(r.tol) else f" (tol {r.tol:g})"),
            mean_std(r.test_error_pct_mean, r.test_error_pct_std),
            fmt(r.paper_test_error_pct),
            f"{r.params / 1e6:.3f} M",
            "–" if pd.isna(r.paper_params) else f"{r.paper_params / 1e6:.2f} M",
            f"{r.activation_mib:.1f}",
            r.paper_memory or "–",
        ]
        for r in table.itertuples()
    ]
    return latex_table(header, rows, "MNIST test error (mean ± std over seeds) beside Table 1.")


def write_product(table: pd.DataFrame, out: Path, markdown: str, latex: str) -> pd.DataFrame:
    """``<out>.csv`` (tidy), ``<out>.md`` and ``<out>.tex`` of one table."""
    artifacts.write_text(out.with_suffix(".csv"), table.to_csv(index=False))
    artifacts.write_text(out.with_suffix(".md"), markdown)
    artifacts.write_text(out.with_suffix(".tex"), latex)
    return table


def table1(metrics_files: Sequence[Path], reference: dict[str, Any], out: Path) -> pd.DataFrame:
    table = table1_frame(metrics_files, reference)
    return write_product(table, out, table1_markdown(table, reference), table1_latex(table))


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
    table["n_train"] = runs["n_train"].iloc[0]
    table["n_test"] = runs["n_test"].iloc[0]
    return table


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
        f"spirals, {first['iterations']} full-batch Adam iterations (lr {first['lr']}); mean ± "
        "std (ddof=1) over n seeds. Seeds also redraw which points each trajectory keeps.",
        "RMSE: root mean squared error of the 100 points after the observed window "
        "(extrapolation), against the noise-free trajectory, over every held-out spiral. "
        "RMSE on window: the latent ODE's reconstruction of all 100 window points, the RNNs' "
        "one-step-ahead predictions of the observed points, against the noise-free truth.",
        f"Latent ODE solver: torchdiffeq `{first['solver']}`, rtol = atol = {first['tol']:g}, "
        f"gradients by `{first['gradient']}`; the paper used {sequences_tol:g}"
        + (" (this budget loosens it to fit its time)." if first["tol"] != sequences_tol else "."),
        "NFE-F / NFE-B: dynamics evaluations per training iteration (last tenth of training). "
        "The adjoint's backward pass solves between every pair of consecutive output times, "
        "hence many more evaluations than the forward pass.",
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


# -- Figures 4 and 5, FFJORD's trace estimator -------------------------------------------

FLOW_LABELS = {"nf": "planar NF (K layers)", "cnf": "planar CNF (M units)"}
FLOW_METRICS = ("kl", "test_nll", "nfe_forward", "nfe_backward", "test_nfe",
                "seconds_per_iteration", "params", "wall_seconds")  # fmt: skip


def _flow_summary(
    metrics_files: Sequence[Path], by: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = load_runs(metrics_files)
    return runs, summarise(runs, by, FLOW_METRICS)


def _training_note(runs: pd.DataFrame, tol_name: str) -> str:
    parts = []
    for model, group in runs.groupby("model"):
        first = group.iloc[0]
        iterations, optimizer = int(first["config_iterations"]), first["config_optimizer"]
        parts.append(f"{model.upper()}: {iterations} {optimizer} iterations, "
                     f"lr {first['config_lr']:g}")  # fmt: skip
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
                   "wall_seconds_mean"]]  # fmt: skip
    table = table.sort_values(["target", "model", "capacity"]).reset_index(drop=True)
    header = ["Target", "Model", "K / M", "n", "KL(q‖p) (nats)", "NFE-F", "s / iter", "Params"]
    rows = [[r.target, FLOW_LABELS[r.model], f"{r.capacity}",
             f"{r.n_seeds}" + (f" (+{r.n_failed} failed)" if r.n_failed else ""),
             mean_std(r.kl_mean, r.kl_std, 3), fmt(r.nfe_forward_mean, 1),
             fmt(r.seconds_per_iteration_mean, 3), fmt(r.params_mean, 0)]
            for r in table.itertuples()]  # fmt: skip
    paper = reference["cnf"]
    notes = [
        _training_note(
            runs, f"the paper's density tolerance is {reference['tolerances']['density']:g}"
        ),
        "KL(q‖p) = E_q[log q + U] + log Z on held-out flow samples, with log Z of each target "
        "computed on a grid, so 0 is a perfect fit; mean ± std (ddof=1) over n seeds.",
        "Targets: the energies U1 (ring), U2 (wave), U3 (split_wave), U4 (step_wave) of "
        "Rezende & Mohamed (2015); the waves are confined by a soft wall (z1/4)^8.",
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
         "params_mean", "wall_seconds_mean"]
    ]  # fmt: skip
    table = table.sort_values(["dataset", "model"]).reset_index(drop=True)
    header = ["Data set", "Model", "n", "Test NLL (nats)", "NFE-F (training)", "s / iter",
              "Params"]  # fmt: skip
    rows = [[r.dataset, f"{FLOW_LABELS[r.model]}, {r.capacity}",
             f"{r.n_seeds}" + (f" (+{r.n_failed} failed)" if r.n_failed else ""),
             mean_std(r.test_nll_mean, r.test_nll_std, 3), fmt(r.nfe_forward, 1),
             fmt(r.seconds_per_iteration_mean, 3), fmt(r.params_mean, 0)]
            for r in table.itertuples()]  # fmt: skip
    notes = [
        _training_note(
            runs, f"the paper's density tolerance is {reference['tolerances']['density']:g}"
        ),
        "Test NLL: mean negative log-likelihood of held-out samples (the same for every run), "
        "nats per point, lower is better; mean ± std (ddof=1) over n seeds. NFE-F: dynamics "
        "evaluations per training iteration, last tenth of training (0 for planar flows).",
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


#: Product name -> function(metrics_files, reference, out_prefix).
TABLES: dict[str, Callable[[Sequence[Path], dict[str, Any], Path], pd.DataFrame]] = {
    "table1": table1,
    "table2": table2,
    "cnf_density_matching": cnf_density_matching,
    "cnf_max_likelihood": cnf_max_likelihood,
    "trace_estimator": trace_estimator,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m odebench.products.tables", description=__doc__.split("\n")[0]
    )
    parser.add_argument("product", choices=sorted(TABLES))
    parser.add_argument("metrics", nargs="+", type=Path, help="metrics.json of every run")
    parser.add_argument("--out", type=Path, required=True, help="output prefix (no suffix)")
    parser.add_argument("--reference", type=Path, default=Path("paper/reference.yaml"))
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.metrics if not p.is_file()]
    if missing:
        print(f"odebench.tables: error: missing {', '.join(missing)}", file=sys.stderr)
        return 1
    table = TABLES[args.product](args.metrics, load_reference(args.reference), args.out)
    print(f"wrote {args.out}.{{csv,md,tex}}: {len(table)} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
