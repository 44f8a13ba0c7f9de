"""Figures draw from the smoke budget's tables: one seed (std empty), one training
tolerance, failed runs. Each test builds tiny synthetic tables in memory, draws the
figure and checks the axes it comes back with."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from odebench.products import registry
from odebench.products.figures import solver_studies, style

NAN = float("nan")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    style._pyplot().close("all")


def draw(name: str, tables: dict[str, pd.DataFrame], tmp_path):
    """The figure ``name`` draws from ``tables``, saved once to prove it renders."""
    builder = registry.FIGURES[name].load_builder()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # e.g. a mean of an empty slice
        fig = builder(tables)
    style.save(fig, tmp_path / f"{name}.png")
    assert (tmp_path / f"{name}.png").stat().st_size > 1000
    return fig


def test_the_theme_is_seaborns_paper_whitegrid_without_importing_seaborn():
    sns = pytest.importorskip("seaborn")  # not a dependency; where it is installed
    import matplotlib

    with matplotlib.rc_context():
        sns.set_theme(context="paper", style="whitegrid")
        theirs = {key: matplotlib.rcParams[key] for key in style.THEME}
        cycle = [matplotlib.colors.to_hex(c) for c in matplotlib.rcParams["axes.prop_cycle"]
                 .by_key()["color"]]  # fmt: skip
        colorblind = sns.color_palette("colorblind", 12)
    with matplotlib.rc_context(style.THEME):
        ours = {key: matplotlib.rcParams[key] for key in style.THEME}
    for key, value in theirs.items():
        assert ours[key] == (pytest.approx(value) if isinstance(value, float) else value), key
    assert cycle == list(style.DEEP)
    assert style.palette(12) == pytest.approx([tuple(c) for c in colorblind])


def images(fig) -> int:
    return sum(len(ax.images) for ax in fig.axes)


def visible(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def data_lines(ax) -> list:
    """The axes' lines that join points (not errorbar caps, carets or reference lines)."""
    return [line for line in ax.lines
            if line.get_linestyle() not in ("None", "none", "") and line.get_marker() != "None"]  # fmt: skip


# -- tables as the smoke budget writes them ----------------------------------------------------


def work_precision_table(train_tols=(0.1,), n_seeds=1) -> pd.DataFrame:
    """dopri5 over tolerances and rk4 over step counts; one seed leaves the stds empty."""
    rows = []
    for tol in train_tols:
        for solver, kind, settings, nfe in (
            ("dopri5", "tol", (1e-3, 1e-1), (20.0, 14.0)),
            ("rk4", "steps", (1.0, 2.0), (4.0, 8.0)),
        ):
            for setting, n in zip(settings, nfe, strict=True):
                std = NAN if n_seeds == 1 else 0.1
                rows.append({"train_tol": tol, "solver": solver, "kind": kind,
                             "tol_or_steps": setting, "n_seeds": n_seeds, "nfe_forward": n,
                             "nfe_forward_std": std, "error": 1e-2 / n, "error_std": std * 1e-3,
                             "seconds": 0.03 * n, "seconds_std": std * 1e-2,
                             "test_error_pct": 1.0, "test_error_pct_std": std,
                             "n_failed": 1 if solver == "rk4" else 0})  # fmt: skip
    return pd.DataFrame(rows)


def with_torchode(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` as the lean backend's, and its dopri5 rows again as torchode's (more NFE)."""
    torchode = table[table["solver"] == "dopri5"].assign(backend="torchode")
    torchode["nfe_forward"] += 6
    return pd.concat([table.assign(backend="lean"), torchode], ignore_index=True)


def time_vs_nfe_table(train_tols=(0.1,)) -> pd.DataFrame:
    # One NFE value per solver: no line to fit (NaN slope), as the table writes it.
    return pd.DataFrame([
        {"train_tol": tol, "solver": solver, "n_points": 1, "n_seeds": 1, "nfe_min": 14.0,
         "nfe_max": 14.0, "seconds_per_nfe": NAN, "intercept_seconds": NAN, "r2": NAN}
        for tol in train_tols for solver in ("dopri5", "rk4")
    ])  # fmt: skip


def backward_table() -> pd.DataFrame:
    rows = [("training", "dopri5", "full", 14, 40, 14.0, NAN),
            ("training", "dopri5", "full", 20, 1, 20.0, NAN),
            ("probe", "dopri5", "full", 14, 3, 14.0, 0.0),
            ("probe", "dopri5", "state", 14, 3, 14.0, 0.0),
            ("probe", "dopri5+seminorm", "full", 14, 3, 8.0, 0.0),
            ("probe", "lsoda", "state", 13, 1, 11.0, NAN)]  # fmt: skip
    table = pd.DataFrame(rows, columns=["source", "solver", "adjoint", "nfe_forward", "count",
                                        "nfe_backward", "nfe_backward_std"])  # fmt: skip
    table.insert(3, "train_tol", 0.1)
    table["backward_over_forward"] = table["nfe_backward"] / table["nfe_forward"]
    return table


def over_training_table() -> pd.DataFrame:
    return pd.DataFrame({"train_tol": 0.1, "epoch_position": [0.25, 0.75], "n_seeds": 1,
                         "nfe_forward": [14.5, 14.0], "nfe_forward_std": NAN,
                         "nfe_backward": [14.0, 14.0], "nfe_backward_std": NAN})  # fmt: skip


def memory_table() -> pd.DataFrame:
    return pd.DataFrame([
        {"method": method, "depth": depth, "nfe": 4 * depth if method != "resnet" else NAN,
         "batch_size": 8, "activation_bytes": 2**20 * (1 if method == "adjoint" else depth),
         "peak_rss_bytes": 2**28 + depth * 2**20, "rss_before_step_bytes": 2**28, "seconds": 0.1}
        for method in ("adjoint", "direct", "resnet") for depth in (1, 2)
    ])  # fmt: skip


def grid(points: int = 4, lim: float = 2.0) -> pd.DataFrame:
    axis = np.linspace(-lim + lim / points, lim - lim / points, points)
    x, y = np.meshgrid(axis, axis)
    density = np.exp(-(x**2 + y**2) / 2) / (2 * np.pi)
    return pd.DataFrame({"x": x.ravel(), "y": y.ravel(), "density": density.ravel()})


def fig4_tables() -> dict[str, pd.DataFrame]:
    """One target; the NF's run failed: no grid of it and an empty KL."""
    grids = pd.concat([
        grid().assign(target="ring", model="target", capacity=0, seed=-1),
        grid().assign(target="ring", model="cnf", capacity=2, seed=0),
    ], ignore_index=True)  # fmt: skip
    kl = pd.DataFrame([
        {"target": "ring", "model": "cnf", "capacity": 2, "n_seeds": 1, "kl_mean": 0.5,
         "kl_std": NAN, "n_failed": 0, "failure": NAN, "params_mean": 1450.0},
        {"target": "ring", "model": "nf", "capacity": 2, "n_seeds": 0, "kl_mean": NAN,
         "kl_std": NAN, "n_failed": 1, "failure": "non-finite loss", "params_mean": NAN},
    ])  # fmt: skip
    return {registry.FIG4_DENSITIES.name: grids, registry.CNF_DENSITY_MATCHING.name: kl}


def fig5_frames() -> pd.DataFrame:
    """Two fractions of one NF, whose samples at 100% lie far outside the density's grid."""
    rng = np.random.default_rng(0)
    parts = []
    for fraction, shift in ((0.0, 0.0), (1.0, 10.0)):
        samples = pd.DataFrame(rng.normal(shift, 1.0, (50, 2)), columns=["x", "y"])
        parts += [samples.assign(kind="sample", density=NAN, fraction=fraction),
                  grid().assign(kind="density", fraction=fraction)]  # fmt: skip
    return pd.concat(parts, ignore_index=True).assign(dataset="two_moons", model="nf", seed=0)


def spiral_table(models=("rnn", "latent_ode")) -> pd.DataFrame:
    t = np.linspace(0, 2, 8)
    rows = []
    for model in models:
        kinds = ["truth", "observed", "reconstruction", "extrapolation"]
        kinds += ["latent"] if model == "latent_ode" else []
        for kind in kinds:
            times = {"observed": t[:4], "reconstruction": t[:4], "extrapolation": t[4:]}
            times = times.get(kind, t)
            rows += [{"spiral": 0, "kind": kind, "t": s, "x": np.cos(s), "y": np.sin(s),
                      "model": model, "n_obs": 4, "seed": 0} for s in times]  # fmt: skip
    return pd.DataFrame(rows)


# -- the figures -------------------------------------------------------------------------------


@pytest.mark.parametrize("train_tols", [(0.1,), (0.1, 0.001)])
def test_solver_study_figures_draw_from_one_seed_and_any_number_of_tolerances(tmp_path, train_tols):
    precision = work_precision_table(train_tols)
    tables = {registry.WORK_PRECISION.name: precision,
              registry.TIME_VS_NFE.name: time_vs_nfe_table(train_tols)}  # fmt: skip
    assert len(draw("fig3a_nfe_vs_error", tables, tmp_path).axes) == 1
    assert len(visible(draw("fig3b_time_vs_nfe", tables, tmp_path))) == 2  # dopri5, rk4
    assert len(draw("work_precision", tables, tmp_path).axes) == 3 * len(train_tols)


def test_work_precision_tells_the_backends_apart_by_marker(tmp_path):
    tables = {registry.WORK_PRECISION.name: with_torchode(work_precision_table())}
    fig = draw("work_precision", tables, tmp_path)
    legend = fig.axes[2].get_legend()
    labels = [text.get_text() for text in legend.get_texts()]
    assert "lean: one step size for the whole batch" in labels
    assert "torchode: a step size per sample" in labels
    assert "backend (marker, line)" in legend.get_title().get_text()
    markers = {line.get_marker() for line in fig.axes[1].lines if line.get_marker() != "None"}
    assert {"o", "^"} <= markers


def test_fig3a_and_fig3b_draw_only_joint_step_size_control(tmp_path):
    joint = work_precision_table()
    tables = {registry.WORK_PRECISION.name: with_torchode(joint),
              registry.TIME_VS_NFE.name: time_vs_nfe_table()}  # fmt: skip
    fig = draw("fig3a_nfe_vs_error", tables, tmp_path)
    drawn = np.concatenate([line.get_xdata() for line in fig.axes[0].lines])
    assert set(drawn) == set(joint.loc[joint["solver"] == "dopri5", "nfe_forward"])
    titles = [ax.get_title() for ax in visible(draw("fig3b_time_vs_nfe", tables, tmp_path))]
    assert titles and all("lean" in title and "torchode" not in title for title in titles)


def test_figure_legends_say_there_is_no_std_over_one_seed(tmp_path):
    tables = {registry.WORK_PRECISION.name: work_precision_table()}
    fig = draw("fig3a_nfe_vs_error", tables, tmp_path)
    title = fig.axes[0].get_legend().get_title().get_text()
    assert "1 seed, no std" in title and "1 failed" not in title  # rk4's failure isn't dopri5's
    fig = draw("work_precision", tables, tmp_path)
    assert "2 failed solves left out" in fig.axes[2].get_legend().get_title().get_text()


def test_figure_legends_name_the_seed_count_of_the_means(tmp_path):
    tables = {registry.WORK_PRECISION.name: work_precision_table(n_seeds=3)}
    fig = draw("fig3a_nfe_vs_error", tables, tmp_path)
    assert "mean ± std over 3 seeds" in fig.axes[0].get_legend().get_title().get_text()


def test_fig3a_runs_a_bar_whose_std_exceeds_the_mean_to_the_axis_edge(tmp_path):
    table = work_precision_table(n_seeds=3)
    loose = (table["solver"] == "dopri5") & (table["tol_or_steps"] == 0.1)
    table.loc[loose, "error_std"] = 1.1 * table.loc[loose, "error"]  # mean − std < 0
    fig = draw("fig3a_nfe_vs_error", {registry.WORK_PRECISION.name: table}, tmp_path)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    bottom = ax.get_ylim()[0]
    (segment,) = [seg for coll in ax.collections for seg in coll.get_segments()
                  if np.isclose(seg[0, 1], bottom)]  # fmt: skip
    assert segment[1, 1] == pytest.approx(table.loc[loose, "error"].item())
    carets = [line for line in ax.lines if np.allclose(line.get_ydata(), bottom)]
    assert len(carets) == 1
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert any("std ≥ mean" in label for label in labels)


def test_fig3a_draws_no_open_bar_where_every_std_is_below_its_mean(tmp_path):
    fig = draw("fig3a_nfe_vs_error", {registry.WORK_PRECISION.name: work_precision_table(n_seeds=3)},
               tmp_path)  # fmt: skip
    labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert not any("std ≥ mean" in label for label in labels)


def test_fig3a_labels_every_point_with_its_test_time_tolerance(tmp_path):
    tables = {registry.WORK_PRECISION.name: work_precision_table(train_tols=(0.1, 0.001))}
    fig = draw("fig3a_nfe_vs_error", tables, tmp_path)
    labels = sorted(text.get_text() for text in fig.axes[0].texts)
    assert labels == ["$10^{-1}$", "$10^{-1}$", "$10^{-3}$", "$10^{-3}$"]
    assert "test-time tolerance" in fig.axes[0].get_legend().get_title().get_text()


def test_fig3b_draws_every_line_the_claim_is_judged_on(tmp_path):
    from odebench.products.tables.solver_studies import joint_control

    precision = with_torchode(work_precision_table(train_tols=(0.1, 0.001)))
    fits = pd.DataFrame([
        {"train_tol": tol, "solver": solver, "backend": backend, "n_points": 2, "n_seeds": 1,
         "nfe_min": 4.0, "nfe_max": 20.0, "seconds_per_nfe": 0.03, "intercept_seconds": 0.0,
         "r2": 0.99}
        for tol in (0.1, 0.001) for solver in ("dopri5", "rk4") for backend in ("lean", "torchode")
        if backend == "lean" or solver == "dopri5"
    ])  # fmt: skip
    tables = {registry.WORK_PRECISION.name: precision, registry.TIME_VS_NFE.name: fits}
    fig = draw("fig3b_time_vs_nfe", tables, tmp_path)
    panels = visible(fig)
    assert [ax.get_title().split()[0] for ax in panels] == ["dopri5", "rk4"]
    fitted = [line for ax in panels for line in ax.lines if len(line.get_xdata()) == 50]
    assert len(fitted) == len(joint_control(fits)) == 4  # a line per solver and tolerance
    notes = [text.get_text() for ax in panels for text in ax.texts]
    assert len(notes) == 4 and all("30.0 ms/NFE, R² 0.990" in note for note in notes)


def test_fig3c_nests_coinciding_dopri5_arms_largest_and_hollow_under_smallest_and_filled(
    tmp_path,
):
    table = backward_table()
    table.loc[table["solver"] == "dopri5+seminorm", "nfe_backward"] = 14.0  # as the state's
    fig = draw("fig3c_nfe_backward_vs_forward", {registry.NFE_BACKWARD_VS_FORWARD.name: table},
               tmp_path)  # fmt: skip
    at_14 = [coll for coll in fig.axes[0].collections
             if hasattr(coll, "get_sizes") and len(coll.get_sizes())
             and np.allclose(coll.get_offsets(), [[14, 14]]) and coll.get_zorder() >= 3]  # fmt: skip
    full, seminorm, state = sorted(at_14, key=lambda coll: coll.get_zorder())
    assert full.get_sizes()[0] > seminorm.get_sizes()[0] > state.get_sizes()[0]
    assert full.get_zorder() < seminorm.get_zorder() < state.get_zorder()
    # Hollow: no face at all, so the markers under them show through.
    assert len(full.get_facecolor()) == 0 and len(seminorm.get_facecolor()) == 0
    assert state.get_facecolor()[0][3] > 0


def test_fig3c_marks_dopri5_floors_and_the_papers_claim(tmp_path):
    fig = draw("fig3c_nfe_backward_vs_forward",
               {registry.NFE_BACKWARD_VS_FORWARD.name: backward_table()}, tmp_path)  # fmt: skip
    assert len(fig.axes) == 1
    labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert any("paper's claim" in label for label in labels)
    assert any("LSODA" in label for label in labels)
    assert any("seminorm" in label for label in labels)
    notes = [text.get_text() for text in fig.axes[0].texts]
    assert any("= 14 NFE" in note for note in notes) and any("= 20 NFE" in note for note in notes)


def test_dopri5_spends_two_evaluations_then_six_per_step():
    assert [solver_studies.dopri5_nfe(k) for k in (2, 3)] == [14, 20]


def test_fig3d_draws_one_tolerance_over_one_seed(tmp_path):
    fig = draw("fig3d_nfe_over_training",
               {registry.NFE_OVER_TRAINING.name: over_training_table()}, tmp_path)  # fmt: skip
    assert len(fig.axes) == 1


def test_memory_scaling_draws_two_panels(tmp_path):
    fig = draw("memory_scaling", {registry.MEMORY_SCALING.name: memory_table()}, tmp_path)
    assert len(fig.axes) == 2


def test_memory_scaling_draws_linear_axes_with_activation_memory_from_zero(tmp_path):
    fig = draw("memory_scaling", {registry.MEMORY_SCALING.name: memory_table()}, tmp_path)
    assert all(ax.get_xscale() == ax.get_yscale() == "linear" for ax in fig.axes)
    assert fig.axes[0].get_ylim()[0] == 0


def test_work_precision_draws_a_row_per_training_tolerance_with_a_line_per_solver_and_backend(
    tmp_path,
):
    tables = {registry.WORK_PRECISION.name: with_torchode(work_precision_table((0.1, 0.001)))}
    fig = draw("work_precision", tables, tmp_path)
    assert len(fig.axes) == 6
    for ax in fig.axes:
        # dopri5 and rk4 of lean, dopri5 of torchode: three lines, not six
        assert len(data_lines(ax)) == 3
    colours = {tuple(line.get_color()) for ax in fig.axes for line in data_lines(ax)
               if line.get_linestyle() == "--"}  # fmt: skip
    assert len(colours) == 1  # torchode's dopri5: one colour in every panel
    titles = [ax.get_title() for ax in fig.axes]
    assert sum("tol 0.001" in title for title in titles) == 3


def test_work_precision_draws_no_error_bars_on_the_test_error_panels(tmp_path):
    tables = {registry.WORK_PRECISION.name: work_precision_table(n_seeds=3)}
    fig = draw("work_precision", tables, tmp_path)
    test_error = fig.axes[2]
    assert len(test_error.collections) == 0
    assert len(test_error.lines) == len(data_lines(test_error))
    assert any("no bars" in text.get_text() for text in test_error.texts)
    assert len(fig.axes[1].collections) > 0  # error against NFE keeps its (faint) bars


def test_fig4_draws_a_failed_arm_as_an_empty_kl_and_keeps_the_rest(tmp_path):
    fig = draw("fig4_density_matching", fig4_tables(), tmp_path)
    # target, the CNF's density, the KL panel, and the row's colorbar
    assert len(fig.axes) == 4
    assert images(fig) == 2
    kl_panel = fig.axes[2]
    assert "params" in " ".join(text.get_text() for text in kl_panel.texts)


def test_fig5_frames_each_sample_panel_on_its_own_window(tmp_path):
    fig = draw("fig5_max_likelihood", {registry.FIG5_FRAMES.name: fig5_frames()}, tmp_path)
    # density and samples at two fractions, and the density row's colorbar
    assert len(fig.axes) == 5
    assert images(fig) == 2
    far = fig.axes[3]  # samples at 100%, around (10, 10)
    assert far.get_xlim()[0] < 10 < far.get_xlim()[1]
    assert far.get_ylim()[0] < 10 < far.get_ylim()[1]


@pytest.mark.parametrize(("models", "panels"), [(("rnn", "latent_ode"), 3), (("rnn",), 1),
                                                (("rnn", "rnn_dt", "latent_ode"), 4)])  # fmt: skip
def test_fig8_draws_every_model_the_table_has_on_equal_axes(tmp_path, models, panels):
    fig = draw("fig8_spirals", {registry.FIG8_TRAJECTORIES.name: spiral_table(models)}, tmp_path)
    assert len(fig.axes) == panels
    space = fig.axes[: len(models)]
    assert len({(ax.get_xlim(), ax.get_ylim()) for ax in space}) == 1


def test_fig5_draws_the_data_beside_the_model_where_the_table_has_it(tmp_path):
    frames = fig5_frames()
    data = pd.DataFrame({"x": [0.0, 1.0], "y": [1.0, 0.0]})
    data = data.assign(fraction=1.0, kind="data", density=NAN, dataset="two_moons", model="nf")
    fig = draw("fig5_max_likelihood", {registry.FIG5_FRAMES.name: pd.concat([frames, data])},
               tmp_path)  # fmt: skip
    assert len(fig.axes) == 5
    assert len(fig.axes[3].collections) == 2  # the data under the model's samples
