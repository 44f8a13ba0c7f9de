"""Shared by the claims tests: synthetic tables to decide claims on.

``write``, ``decide`` and ``table2_rows`` are factories: each fixture returns a function,
so that a test can write several tables or decide several claims.
"""

import pandas as pd
import pytest

from odebench.products.claims import Tables, evaluate


def write_table(directory, name, rows):
    pd.DataFrame(rows).to_csv(directory / name, index=False)


def decide_claim(claim_id, directory, reference):
    return evaluate(claim_id, Tables(directory), reference)


def spiral_rows(rnn, ode, std=0.01, n_seeds=3, ode_convergence="converged"):
    """Table 2 rows with the RNN's and the latent ODE's mean RMSE at every n, every RNN arm
    converged and every latent ODE arm as ``ode_convergence`` says (``still_improving``,
    ``unstable``: one of its seeds did not converge)."""
    return [
        {"model": model, "n_obs": n, "n_seeds": n_seeds, "rmse_mean": mean, "rmse_std": std,
         "convergence": status, "n_converged": n_seeds - (status != "converged")}
        for model, mean, status in (("rnn", rnn, "converged"),
                                    ("latent_ode", ode, ode_convergence))
        for n in (30, 50, 100)
    ]  # fmt: skip


@pytest.fixture()
def write():
    """``write(directory, name, rows)``: the rows as the csv table ``directory / name``."""
    return write_table


@pytest.fixture()
def decide():
    """``decide(claim_id, directory, reference)``: the claim's row of claims.csv."""
    return decide_claim


@pytest.fixture()
def table2_rows():
    """``table2_rows(rnn, ode, std=0.01, n_seeds=3)``: rows of Table 2's csv."""
    return spiral_rows
