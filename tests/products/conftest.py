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


def spiral_rows(rnn, ode, std=0.01, n_seeds=3, gain=0.0):
    """Table 2 rows with the RNN's and the latent ODE's mean RMSE at every n (``gain``: how
    much the latent ODE's validation loss still fell over the last quarter of training)."""
    return [
        {"model": model, "n_obs": n, "n_seeds": n_seeds, "rmse_mean": mean, "rmse_std": std,
         "val_gain_last_quarter": gain if model == "latent_ode" else 0.0}
        for model, mean in (("rnn", rnn), ("latent_ode", ode))
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
