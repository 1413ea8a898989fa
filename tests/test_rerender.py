"""Re-rendering from the book's committed tables: verified, never retrained; figures readable."""

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from lt_utils.bench.projection import figure_network_iterations
from lt_utils.book import plots
from lt_utils.book.claims import CLAIMS, evaluate_claims, not_run_claims, page_specs
from lt_utils.book.pages import projected_time, scoreboard
from lt_utils.book.registry import PAGES
from lt_utils.book.runner import recorded_parameters, tidy_executed
from lt_utils.errors import DamagedFileError
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.experiments import run_experiment
from lt_utils.lottery.integrity import record_tables
from lt_utils.lottery.presets import preset
from lt_utils.lottery.results import GROUP, early_stopping
from lt_utils.lottery.stored import StoredTableError, stored_table, verify_table

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def _lenet() -> tuple[ExperimentConfig, pd.DataFrame]:
    run = json.loads((BOOK / "runs" / "lenet_imp.json").read_text())["runs"][0]
    cfg = ExperimentConfig.from_dict(run["config"])
    return cfg, pd.read_csv(BOOK / "results" / f"{cfg.key}.csv.gz")


def test_a_committed_table_is_read_not_retrained(tmp_path):
    cfg, table = _lenet()
    # no data set and an empty results folder: training would fail, reading must not
    result = run_experiment(cfg, results_dir=str(tmp_path), data_dir=str(tmp_path / "none"), device="cpu",
                            stored_dir=str(BOOK / "results"), progress=False)
    pd.testing.assert_frame_equal(result.table, table)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("damage", ["drop_round", "drop_network", "cut_training", "drop_column"])
def test_an_incomplete_committed_table_is_refused_by_name(tmp_path, damage):
    cfg, table = _lenet()
    damaged = {
        "drop_round": table[table["round"] != 5],
        "drop_network": table[~((table["variant"] == "reinit") & (table["trial"] == 1) & (table["round"] == 3))],
        "cut_training": table[table["iteration"] < cfg.train.iterations],
        "drop_column": table.drop(columns=["test_acc"]),
    }[damage]
    path = tmp_path / f"{cfg.key}.csv.gz"
    damaged.to_csv(path, index=False)
    record_tables(tmp_path)  # as committed: the manifest matches, the table itself is incomplete
    with pytest.raises(StoredTableError, match=cfg.key):
        stored_table(cfg, tmp_path)
    verify_table(cfg, table, path)  # the whole table passes


def test_rerender_uses_the_recorded_parameters():
    assert recorded_parameters("lenet_imp", BOOK) == {"device": "cpu", "iterations": 20000, "reinits": 2,
                                                      "train_eval_size": 1000, "trials": 2, "step": "compile",
                                                      "compare_iterations": 5000, "compare_patience": 2000}
    # no folder: those are local


def test_executed_notebooks_hide_injected_parameters_and_name_no_machine_path(tmp_path):
    notebook = nbformat.v4.new_notebook(metadata={"papermill": {"input_path": str(tmp_path / "in.ipynb"),
                                                                "output_path": str(tmp_path / "book" / "x.ipynb")}})
    notebook.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["injected-parameters"]})]
    path = tmp_path / "x.ipynb"
    nbformat.write(notebook, str(path))
    tidy_executed(path, tmp_path)
    tidied = nbformat.read(str(path), as_version=4)
    assert tidied.cells[0].metadata["tags"] == ["injected-parameters", "remove-cell"]
    assert tidied.metadata["papermill"]["output_path"] == "book/x.ipynb"


def test_every_figure_reads_at_page_width():
    _, table = _lenet()
    figures = [plots.figure3(table), plots.four_panel_figure([(table, ["iterative", "reinit"], "", "-")]),
               plots.early_stopping_figure(table, ["iterative", "random_sparse"]),
               plots.conv_figure({"conv2": table, "conv4": table}),
               plots.dropout_figure({"conv2": (table, table), "conv4": (table, table)}),
               plots.checkpoint_figure({"lr 0.1": table, "lr 0.01": table}, [1000, 3000, 5000])]
    from lt_utils.book import reference

    figures += [plots.paper_conv_figure(reference), plots.paper_vgg_figure(reference)]
    for fig in figures:
        assert fig.get_figwidth() <= plots.PAGE_WIDTH
        assert plots.smallest_font(fig) >= plots.MIN_FONT_PT
        plots.plt.close(fig)


def test_conv_figures_tick_their_own_sparsities_not_lenets():
    conv2 = [100.0 * 0.8 ** r for r in range(15)]  # Conv-2's rounds reach P_m 4.4 to 4.6%
    ticks = plots.pm_ticks(conv2)
    assert ticks[0] == 100.0 and ticks[-1] == round(conv2[-1], 1)  # the densest and the sparsest
    assert all(a / b >= 1.5 for a, b in zip(ticks, ticks[1:], strict=False))  # readable: none crowded
    _, table = _lenet()
    shallow = table[table["round"] <= 3]
    fig = plots.conv_figure({"conv2": shallow})
    reached = sorted(set(shallow["p_m"].round(1)))
    assert [t for t in fig.axes[0].get_xticks()] == plots.pm_ticks(reached)
    assert min(fig.axes[0].get_xlim()) > reached[0] / 1.5  # the axis stops just past the sparsest P_m reached


def test_early_stops_the_schedule_may_have_cut_short_are_ringed():
    import matplotlib.pyplot as plt

    per_net = pd.DataFrame({"variant": ["iterative", "iterative", "reinit"], "p_m": [100.0, 51.3, 51.3],
                            "es_iteration": [3_000, 18_000, 19_900], "final_iteration": [20_000] * 3})
    fig, ax = plt.subplots()
    plots.mark_late_stops(ax, per_net, ["iterative"])
    (ring,) = ax.lines
    assert list(ring.get_xdata()) == [51.3] and list(ring.get_ydata()) == [18_000]  # 18,000 >= 90% of 20,000
    assert ring.get_label() == plots.LATE_LABEL
    plt.close(fig)


def test_figure3_fits_its_y_axis_to_the_curves():
    _, table = _lenet()
    fig = plots.figure3(table)
    low, high = fig.axes[0].get_ylim()
    assert low > 90 and high < 100  # zoomed to where the curves differ, as the paper's (not 0-100)
    assert [len(ax.get_lines()) for ax in fig.axes] == [3, 5, 5]


def test_the_landscape_levels_fit_their_y_axes_to_the_curves():
    run = json.loads((BOOK / "runs" / "imp_landscape.json").read_text())["runs"][0]
    table = pd.read_csv(BOOK / "results" / f"{run['key']}.csv.gz")
    fig = plots.curves_by_round(table, [("train_loss", "Training loss", 1.0), ("test_acc", "Test accuracy (%)", 100.0)])
    low, high = fig.axes[1].get_ylim()
    assert low > 90 and high < 100  # where the levels differ, as Figure 3's (not 20-100)
    assert fig.axes[0].get_ylim()[1] < 0.5  # the loss after its first steps, not its start (above 2)
    plots.plt.close(fig)


def test_no_label_covers_data(tmp_path):
    """The paper's marks are labelled beside them where that covers no data, else in a legend placed
    clear of it; Figure 3's legend is under its panels."""
    from lt_utils.book import reference as ref
    from lt_utils.book.pages import headline_figure
    from lt_utils.lottery.results import early_stopping

    _, table = _lenet()
    dense_es = early_stopping(table).query("round == 0")["es_iteration"].mean()
    fig4a = plots.four_panel_figure([(table, ["iterative", "reinit"], "", "-")])  # as the Lenet page draws it
    earlier, at = ref.LENET_CLAIMS["es_speedup_21"]
    plots.reference_point(fig4a.axes[0], at, dense_es * (1 - earlier), f"{100 * earlier:.0f}% earlier")
    plots.reference_line(fig4a.axes[1], 100 * ref.LENET_UNPRUNED_TEST_ACC, "unpruned about 98% (read off a figure)")
    fig4b = plots.four_panel_figure([(table, ["iterative", "oneshot"], "", "-")])
    plots.reference_range(fig4b.axes[0], *ref.LENET_CLAIMS["oneshot_es_range"], "one-shot earlier")
    plots.reference_range(fig4b.axes[1], *ref.LENET_CLAIMS["oneshot_acc_range"], "one-shot more accurate")
    figures = [plots.figure3(table), fig4a, fig4b, plots.paper_conv_figure(ref), plots.paper_vgg_figure(ref),
               headline_figure(tmp_path)]  # tmp_path: a book with no Lenet run draws the paper's marks alone
    for fig in figures:
        assert plots.labels_over_data(fig) == []
        plots.plt.close(fig)


def test_a_label_over_data_is_found():
    fig, axes = plots.figure()
    axes[0, 0].plot([0, 1], [0, 1])
    axes[0, 0].annotate("across the line", xy=(0.5, 0.5))
    assert plots.labels_over_data(fig) == ["across the line"]
    plots.plt.close(fig)


def _unmeasured(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``table`` as ``test_eval="where_read"`` and as ``patience=2000`` would have left it."""
    per_net = early_stopping(table).set_index(GROUP)
    at = table.join(per_net["es_iteration"], on=GROUP)["es_iteration"]
    last = table["iteration"] == table["iteration"].max()
    read = table.assign(**{m: table[m].where((table["iteration"] == at) | last) for m in ("test_loss", "test_acc")})
    metrics = [c for c in table.columns if c.endswith(("_loss", "_acc", "_full"))]
    stopped = table.assign(**{m: table[m].mask(table["iteration"] > at + 2_000) for m in metrics})
    return read, stopped


def _says_not_measured(ax) -> bool:
    return any("not measured" in text.get_text() for text in ax.texts)


def test_figures_say_what_a_run_did_not_measure():
    _, table = _lenet()
    read, stopped = _unmeasured(table)
    pd.testing.assert_frame_equal(early_stopping(read), early_stopping(table))  # every value a panel reads
    assert all(_says_not_measured(ax) and not ax.lines for ax in plots.figure3(read).axes)  # test curves
    for fig in (plots.figure3(table), plots.four_panel_figure([(read, ["iterative", "reinit"], "", "-")])):
        assert not any(_says_not_measured(ax) for ax in fig.axes)
    fig = plots.four_panel_figure([(stopped, ["iterative", "reinit"], "", "-")])
    assert [ax.get_visible() for ax in fig.axes] == [True, True]  # end-of-training panels: not drawn, no blank row
    assert fig.get_figheight() < 6.4 / 2 + 1
    assert plots.unmeasured_caption(fig).startswith("Not drawn, because this run did not measure them")
    assert "Accuracy at end of training (test, %)" in plots.unmeasured_caption(fig)
    fig = plots.checkpoint_figure({"lr 0.1": read}, [1_000, 20_000])
    assert [ax.get_visible() for ax in fig.axes] == [False, True]
    assert "test accuracy at 1,000 iterations" in plots.unmeasured_caption(fig)
    assert plots.unmeasured_caption(plots.four_panel_figure([(table, ["iterative"], "", "-")])) == \
        "Every panel holds this run's values."
    # prune_at="end": the winning tickets train to the end, only the reinitializations stopped
    controls = table.where(table["variant"] != "reinit", stopped).astype(table.dtypes.to_dict())
    fig = plots.four_panel_figure([(controls, ["iterative", "reinit"], "", "-")])
    assert [_says_not_measured(ax) for ax in fig.axes] == [False, False, True, True]
    assert all(ax.get_visible() for ax in fig.axes)
    for ax in fig.axes[2:]:  # the tickets drawn, the reinitializations named as not measured
        assert ax.lines and any("for random reinit" in t.get_text().lower() for t in ax.texts), \
            [t.get_text() for t in ax.texts]
        assert all(len(line) <= 28 for t in ax.texts for line in t.get_text().splitlines())  # a narrow panel's
    assert plots.unmeasured_caption(fig).endswith("but for the networks a panel names as not measured.")
    plots.plt.close("all")


def test_the_table_of_claims_names_every_claim_a_page_checks():
    _, table = _lenet()
    assert [c.key for c in evaluate_claims("lenet_imp", {"lenet": table})] == \
        [s.key for s in page_specs("lenet_imp")]
    for page in PAGES:
        assert [c.key for c in not_run_claims(page.notebook)] == [s.key for s in page_specs(page.notebook)]
    assert {s.page for s in CLAIMS} == {page.notebook for page in PAGES}


def test_scoreboard_covers_every_claim_and_says_not_run_yet(tmp_path):
    board = scoreboard(BOOK)
    assert len(board) == len(CLAIMS)
    assert set(board[board["page"] == "vgg19_warmup"]["verdict"]) == {"not run yet"}  # a page never run
    assert board[board["page"] == "vgg19_warmup"]["run at"].str.contains("lt_utils.book run vgg19_warmup").all()


def test_a_damaged_run_record_is_named_not_a_json_traceback(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "lenet_imp.json").write_text('{"runs": [{"key": ')  # cut short
    with pytest.raises(DamagedFileError, match="lenet_imp.json"):
        scoreboard(tmp_path)


def test_projected_time_names_each_benchmarked_device_and_a_missing_gpu(tmp_path):
    lenet = preset("lenet")
    report = {"device": "CPU (x86_64)", "threads": 2, "date": "2026-11-21T00:00:00",
              "models": {"lenet": {"engine_network_iterations_per_s": 100.0}}}
    (tmp_path / "cpu.json").write_text(json.dumps(report))
    text = projected_time([lenet], tmp_path, "the paper's full scale")
    hours = figure_network_iterations(lenet) / 100.0 / 3600
    assert text.startswith("**Projected time** of the paper's full scale")
    assert f"- CPU (x86_64), 2 threads (2026-11-21): {hours:,.1f} h" in text
    assert "- GPU: no stored benchmark yet" in text
    (tmp_path / "gpu.json").write_text(json.dumps(report | {"device": "NVIDIA H100"}))
    assert "no stored benchmark" not in projected_time([lenet], tmp_path)
    assert "no stored benchmark times conv2" in projected_time([preset("conv2")], tmp_path)


def test_what_early_termination_saved_is_read_from_the_committed_runs(tmp_path):
    from lt_utils.book.pages import patience_section

    section = patience_section(ROOT / "book")
    assert (ROOT / "book" / "bench" / "patience.md").read_text() == section  # the committed page is current
    lenet = next(line for line in section.splitlines() if "lenet-e0bc9e4734" in line)  # the Lenet shortcut
    assert "patience 2,000, pruned where it stopped; 182 networks of 20,000 iterations" in lenet
    share = float(lenet.split("trained ")[1].split("%")[0])
    assert 0 < share < 100
    (tmp_path / "runs").mkdir()
    assert patience_section(tmp_path) == "No committed run used early termination yet.\n"


def test_error_bars_caption_says_when_there_are_none():
    _, table = _lenet()
    assert table["trial"].nunique() > 1
    assert plots.error_bars_caption([table]) == "Error bars: min and max over trials."
    one = table[table["trial"] == table["trial"].min()]
    assert plots.error_bars_caption([one, one]).startswith("One trial per point, so no error bars")
    assert plots.error_bars_caption([one, table]) == "Error bars: min and max over trials."
