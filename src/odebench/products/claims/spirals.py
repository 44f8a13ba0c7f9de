"""The spirals claim: Table 2, a latent ODE against an RNN extrapolating spirals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from odebench.products import registry
from odebench.products.claims.verdicts import (
    LEVEL,
    Finding,
    Tables,
    above_zero,
    all_of,
    claim,
    reference_value,
    summary,
    welch_difference,
)

TABLE2 = registry.TABLE2.csv
RMSE = ("rmse_mean", "rmse_std", "n_seeds")


@claim(
    "latent_ode_beats_rnn",
    statement="A latent ODE extrapolates irregularly sampled spirals with lower RMSE than an "
    "RNN, at 30, 50 and 100 observations (Table 2).",
    metric="extrapolation RMSE (mean over seeds)",
    rule=(
        f"Per number of observations: the {LEVEL:.0%} Welch interval of RNN minus latent-ODE "
        "RMSE. Reproduced if above zero at every one, not reproduced if below zero at any, "
        "inconclusive otherwise."
    ),
    paper=lambda r: "; ".join(
        f"n = {n}: RNN {rnn} vs latent ODE {ode}"
        for n, rnn, ode in zip(
            reference_value(r, "table2_spirals", "n_obs"),
            reference_value(r, "table2_spirals", "rmse", "rnn"),
            reference_value(r, "table2_spirals", "rmse", "latent_ode"),
            strict=True,
        )
    ),
)
def _latent_ode_beats_rnn(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    verdicts, measured, evidence = [], [], []
    for n_obs in reference_value(reference, "table2_spirals", "n_obs"):
        rnn = tables.row(TABLE2, RMSE, model="rnn", n_obs=int(n_obs))
        ode = tables.row(TABLE2, RMSE, model="latent_ode", n_obs=int(n_obs))
        rnn_rmse, ode_rmse = summary(rnn, *RMSE), summary(ode, *RMSE)
        diff = welch_difference(rnn_rmse, ode_rmse)
        verdicts.append(above_zero(diff))
        measured.append(
            f"n = {n_obs}: RNN {rnn_rmse.describe()} vs latent ODE {ode_rmse.describe()}"
        )
        evidence.append(f"n = {n_obs}: RNN minus latent ODE {diff} ({verdicts[-1]})")
    return Finding("; ".join(measured), all_of(verdicts), "; ".join(evidence))
