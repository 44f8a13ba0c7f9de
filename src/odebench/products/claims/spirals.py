"""The spirals claim: Table 2, a latent ODE against an RNN extrapolating spirals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from odebench.products import registry
from odebench.products.claims.conditions import min_seeds, trained_to_convergence
from odebench.products.claims.verdicts import (
    PAPER,
    Finding,
    Tables,
    all_of,
    claim,
    compare_above,
    most_seeds,
    reference_value,
)
from odebench.products.stats import LEVEL, summary

TABLE2 = registry.TABLE2.csv
RMSE = ("rmse_mean", "rmse_std", "n_seeds")


@claim(
    "latent_ode_beats_rnn",
    origin=PAPER,
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
    tables=(TABLE2,),
    needs=(
        min_seeds(TABLE2, model=("rnn", "latent_ode")),
        trained_to_convergence(TABLE2, ("model", "n_obs"), model=("rnn", "latent_ode")),
    ),
)
def _latent_ode_beats_rnn(tables: Tables, reference: Mapping[str, Any]) -> Finding:
    comparisons, measured = [], []
    for n_obs in reference_value(reference, "table2_spirals", "n_obs"):
        rnn = tables.row(TABLE2, RMSE, model="rnn", n_obs=int(n_obs))
        ode = tables.row(TABLE2, RMSE, model="latent_ode", n_obs=int(n_obs))
        rnn_rmse, ode_rmse = summary(rnn, *RMSE), summary(ode, *RMSE)
        comparisons.append(compare_above(rnn_rmse, ode_rmse, f"n = {n_obs}: RNN minus latent ODE"))
        measured.append(
            f"n = {n_obs}: RNN {rnn_rmse.describe()} vs latent ODE {ode_rmse.describe()}"
        )
    evidence = "; ".join(f"{c} ({c.verdict})" for c in comparisons)
    sensitivity = "; ".join(f"{c.label.split(':')[0]}: {c.sensitivity}" for c in comparisons)
    return Finding(
        "; ".join(measured), all_of(c.verdict for c in comparisons), evidence,
        most_seeds(comparisons), sensitivity,
    )  # fmt: skip
