"""Table 1: MNIST test error, parameters and memory of every arm, beside the paper's."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from odebench.mnist.arms import ARMS as MODELS
from odebench.mnist.arms import CROP_PADDING
from odebench.products.aggregate import load_runs, summarise
from odebench.products.tables.formatting import (
    MIB,
    fmt,
    latex_table,
    markdown_document,
    mean_std,
    metrics_table,
    write_product,
)

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
        "from " + reference["table1_mnist"]["source"] + "; it reports one number per model, "
        f"at its tolerance {reference['tolerances']['classification']:g}, so the Δ of a model "
        "trained at another tolerance is taken against that same number.",
        _parameter_note(table),
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


def _parameter_note(table: pd.DataFrame) -> str:
    """Our parameter counts against the paper's, which are rounded to two significant figures."""
    parts = []
    for r in table.drop_duplicates("model").itertuples():
        if pd.isna(r.paper_params):
            continue
        paper = float(r.paper_params)
        half_unit = 0.5 * 10 ** (math.floor(math.log10(paper)) - 1)
        inside = paper - half_unit <= r.params < paper + half_unit
        where = "within the paper's rounding" if inside else "outside the paper's rounding"
        parts.append(f"{r.label} {r.params / 1e6:.3f} M against {paper / 1e6:.2f} M "
                     f"({r.params_rel_diff_pct:+.1f}%, {where})")  # fmt: skip
    return (
        "Parameters: " + "; ".join(parts) + ". The paper gives counts to two significant "
        "figures and does not list its layers. Ours follow torchdiffeq's published "
        "architecture (convolutions without bias, each followed by GroupNorm); what makes "
        "up the differences outside the paper's rounding is not known."
    )


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


def table1(metrics_files: Sequence[Path], reference: dict[str, Any], out: Path) -> pd.DataFrame:
    table = table1_frame(metrics_files, reference)
    return write_product(table, out, table1_markdown(table, reference), table1_latex(table))


#: Table 1's builder in :mod:`odebench.products.registry`.
build = metrics_table(table1)
