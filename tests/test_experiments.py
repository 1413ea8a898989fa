import pandas as pd
import pytest
import torch

import lt_utils.lottery.experiments as experiments
import lt_utils.lottery.jobs as jobs
from lt_utils.engine.stack import init_states
from lt_utils.lottery.experiments import finished_rounds, load_ticket, run_experiment
from lt_utils.lottery.presets import preset
from lt_utils.lottery.results import GROUP, early_stopping
from lt_utils.lottery.stored import verify_table

TINY = {"iterations": 200, "trials": 2, "rounds": 2, "reinits": 1, "train_eval_size": 500}


def _run(tmp_path, data_dir, **overrides):
    cfg = preset("smoke", **(TINY | overrides))
    return cfg, run_experiment(cfg, results_dir=str(tmp_path), data_dir=str(data_dir), progress=False)


def test_experiment_table_and_controls(tmp_path, data_dir):
    cfg, result = _run(tmp_path, data_dir)
    table = result.table
    counts = table.groupby(["variant", "round"])["trial"].nunique().to_dict()
    assert counts == {("iterative", 0): 2, ("iterative", 1): 2, ("iterative", 2): 2, ("reinit", 1): 2,
                      ("reinit", 2): 2, ("random_sparse", 1): 2, ("random_sparse", 2): 2, ("oneshot", 1): 2,
                      ("oneshot", 2): 2}
    p_m = table.groupby(["variant", "round"])["p_m"].unique()
    assert p_m[("iterative", 0)] == [100.0]
    for r in (1, 2):  # every control sits at its round's sparsity
        assert len(set().union(*[set(p_m[(v, r)]) for v in ("iterative", "reinit", "random_sparse", "oneshot")])) == 1
    assert table["test_acc"].between(0, 1).all()


def test_rewinding_restores_initial_values_and_masks_shrink(tmp_path, data_dir):
    cfg, _ = _run(tmp_path, data_dir)
    _, theta0, _ = init_states("lenet", [experiments.derive_seed(cfg.seed, "init", t) for t in range(2)])
    previous = None
    for r in range(cfg.rounds + 1):
        model, mask = load_ticket(cfg, tmp_path, r, trial=1)
        params = dict(model.named_parameters())
        for name, m in mask.items():
            assert torch.equal(params[name][m], theta0[name][1][m])
            assert torch.all(params[name][~m] == 0)
            if previous is not None:
                assert not (m & ~previous[name]).any()
                assert m.sum() < previous[name].sum()
        previous = mask


def test_reinitialization_keeps_mask_and_changes_weights(tmp_path, data_dir, monkeypatch):
    seen = []
    original = jobs.train_stack

    def spy(model, params, buffers, masks, *args, **kwargs):
        seen.append((params, masks))
        return original(model, params, buffers, masks, *args, **kwargs)

    monkeypatch.setattr(jobs, "train_stack", spy)
    _run(tmp_path, data_dir, rounds=1, one_shot_rounds=(), random_sparse=False)
    params, masks = seen[1]  # round 1: [iterative t0, iterative t1, reinit t0, reinit t1]
    for name in masks:
        assert torch.equal(masks[name][0], masks[name][2]) and torch.equal(masks[name][1], masks[name][3])
        assert not torch.equal(params[name][0], params[name][2])
        assert float(params[name][2].std()) == pytest.approx(float(params[name][0].std()), rel=0.1)  # same distribution


def test_interrupted_run_resumes_to_the_same_table(tmp_path, data_dir, monkeypatch):
    cfg, full = _run(tmp_path / "full", data_dir)
    original, calls = experiments._Runner._train, []

    def interrupt_in_round_2(self, r, nets):
        calls.append(r)
        if r == 2:
            raise KeyboardInterrupt
        return original(self, r, nets)

    monkeypatch.setattr(experiments._Runner, "_train", interrupt_in_round_2)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "resumed", data_dir)
    assert finished_rounds(cfg, tmp_path / "resumed") == [0, 1]
    monkeypatch.setattr(experiments._Runner, "_train", original)
    _, resumed = _run(tmp_path / "resumed", data_dir)
    pd.testing.assert_frame_equal(full.table, resumed.table)
    assert calls == [0, 1, 2]


def test_interruption_between_state_and_table_writes_resumes(tmp_path, data_dir, monkeypatch):
    cfg, full = _run(tmp_path / "full", data_dir)
    original = experiments.atomic_write_table

    def crash_on_round_1_table(table, path):
        if path.name == "round_01.csv.gz":
            raise KeyboardInterrupt
        original(table, path)

    monkeypatch.setattr(experiments, "atomic_write_table", crash_on_round_1_table)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "resumed", data_dir)
    monkeypatch.setattr(experiments, "atomic_write_table", original)
    assert finished_rounds(cfg, tmp_path / "resumed") == [0]
    _, resumed = _run(tmp_path / "resumed", data_dir)
    pd.testing.assert_frame_equal(full.table, resumed.table)


def test_rerun_of_finished_experiment_trains_nothing(tmp_path, data_dir, monkeypatch):
    _run(tmp_path, data_dir, rounds=1)
    monkeypatch.setattr(experiments._Runner, "_train", lambda *a: pytest.fail("retrained a finished round"))
    _, again = _run(tmp_path, data_dir, rounds=1)
    assert set(again.table["round"]) == {0, 1}


def test_rewind_to_iteration_k_uses_trained_weights(tmp_path, data_dir):
    cfg, _ = _run(tmp_path, data_dir, rounds=1, rewind_iteration=100)
    _, theta0, _ = init_states("lenet", [experiments.derive_seed(cfg.seed, "init", t) for t in range(2)])
    model, mask = load_ticket(cfg, tmp_path, 1, trial=0)
    weight = dict(model.named_parameters())["hidden.0.weight"]
    m = mask["hidden.0.weight"]
    assert not torch.equal(weight[m], theta0["hidden.0.weight"][0][m])


def test_late_rewinding_trains_later_rounds_from_k_to_the_end(tmp_path, data_dir, monkeypatch):
    starts = []
    original = jobs.train_stack

    def spy(*args, **kwargs):
        starts.append(kwargs.get("start_iteration", 0))
        return original(*args, **kwargs)

    monkeypatch.setattr(jobs, "train_stack", spy)
    cfg, result = _run(tmp_path, data_dir, rounds=2, iterations=300, rewind_iteration=100, trials=1)
    assert starts == [0, 100, 100]  # round 0 from 0; rounds 1 and 2 (every variant) from k
    table = result.table
    span = table.groupby(["round", "variant"])["iteration"].agg(["min", "max", "nunique"])
    assert span.loc[0, "iterative"].tolist() == [0, 300, 4]
    for (r, _), row in span.iterrows():
        if r > 0:
            assert row.tolist() == [100, 300, 3]  # evaluated at k, 200 and T: the original axis
    es = early_stopping(table)
    assert (es[es["round"] > 0]["es_iteration"] >= 100).all()
    assert es["final_train_acc_full"].between(0, 1).all()  # the whole training split, at the end


def test_patience_and_test_set_where_read_keep_every_evaluation_row(tmp_path, data_dir):
    cfg, result = _run(tmp_path, data_dir, iterations=500, lr=1e-2, patience=100, test_eval="where_read", rounds=1)
    table = result.table
    assert table.groupby(GROUP)["iteration"].apply(lambda its: sorted(its) == [0, 100, 200, 300, 400, 500]).all()
    unmeasured = table[table["val_acc"].isna()]  # after a network stopped
    assert not unmeasured.empty and unmeasured[["val_loss", "test_acc", "train_acc"]].isna().all().all()
    assert (table.groupby(GROUP)["test_acc"].count() <= 2).all()  # at the early stop and, if it got there, the end
    assert not table["diverged"].any()
    verify_table(cfg, table, tmp_path / "table.csv.gz")  # a stored copy of it would be accepted
    es = early_stopping(table).set_index(GROUP)
    assert es["es_test_acc"].notna().all() and es["es_val_acc"].notna().all()
    stopped = es.index[es["trained_to"] < cfg.train.iterations]  # the controls patience stopped
    assert not stopped.empty and (stopped.get_level_values("variant") != "iterative").all()
    assert es.loc[stopped, ["final_test_acc", "final_train_acc", "final_train_acc_full"]].isna().all().all()
    ran = es.index.difference(stopped)  # every winning ticket trained the whole schedule (prune_at="end")
    assert set(es.index.get_level_values("variant")) - set(stopped.get_level_values("variant")) <= {"iterative"}
    assert es.loc[ran, ["final_test_acc", "final_train_acc_full"]].notna().all().all()
    assert (es.loc[ran, "trained_to"] == cfg.train.iterations).all()


def test_patience_never_changes_a_mask_unless_asked_to(tmp_path, data_dir):
    plain = {"iterations": 500, "lr": 1e-2, "rounds": 2, "one_shot_rounds": (), "random_sparse": False}
    cfg, _ = _run(tmp_path / "full", data_dir, **plain)
    cfg_end, run_end = _run(tmp_path / "end", data_dir, **plain, patience=100)
    cfg_stop, _ = _run(tmp_path / "stop", data_dir, **plain, patience=100, prune_at="stop")
    assert len({cfg.key, cfg_end.key, cfg_stop.key}) == 3
    stopped_early = early_stopping(run_end.table)
    assert (stopped_early[stopped_early["variant"] == "iterative"]["trained_to"] == 500).all()
    for r in (1, 2):  # the paper's masks, bit for bit; pruning where patience stopped gives others
        full = load_ticket(cfg, tmp_path / "full", r, trial=1)[1]
        end = load_ticket(cfg_end, tmp_path / "end", r, trial=1)[1]
        stop = load_ticket(cfg_stop, tmp_path / "stop", r, trial=1)[1]
        assert all(torch.equal(full[k], end[k]) for k in full)
        assert any(not torch.equal(full[k], stop[k]) for k in full)


def test_prune_at_stop_is_named_and_refused_without_patience():
    from lt_utils.book.notebook import scale_note
    from lt_utils.errors import ConfigError

    with pytest.raises(ConfigError, match="prune_at='stop'.*'end' without patience"):
        preset("lenet", prune_at="stop")
    with pytest.raises(ConfigError, match="prune_at='middle'.*'end', 'stop'"):
        preset("lenet", patience=2_000, prune_at="middle")
    assert "pruned where it stopped" in scale_note(preset("lenet", patience=2_000, prune_at="stop"), "lenet")
    assert "masks from the end of the schedule" in scale_note(preset("lenet", patience=2_000), "lenet")
    shortcut = preset("lenet", patience=2_000, prune_at="stop", test_eval="where_read")
    brief, full = scale_note(shortcut, "lenet", brief=True), scale_note(shortcut, "lenet")
    assert brief.endswith("early termination: patience 2,000, pruned where it stopped (not the paper's protocol); "
                          "test set only where read")  # a caption names each change; the run line explains it
    assert len(brief) < len(full) / 2


def test_training_lengths_say_where_patience_stopped_each_network():
    from lt_utils.lottery.results import training_lengths

    rows = []
    for replicate, stop in ((0, 300), (1, 500)):  # the second trained the whole (500-iteration) schedule
        for iteration in range(0, 600, 100):
            measured_here = iteration <= stop
            rows.append({"variant": "reinit", "trial": 0, "replicate": replicate, "round": 1, "p_m": 51.3,
                         "iteration": iteration, "val_loss": abs(iteration - 100) + 1 if measured_here else None,
                         "val_acc": 0.5 if measured_here else None, "test_acc": 0.5, "train_acc": 0.5})
    lengths = training_lengths(early_stopping(pd.DataFrame(rows)), 500)
    assert lengths[["es_iteration", "trained_to", "share_trained"]].values.tolist() == [[100, 300, 0.6],
                                                                                        [100, 500, 1.0]]


def test_reinit_rounds_train_the_reinitializations_only_there(tmp_path, data_dir):
    cfg, result = _run(tmp_path / "some", data_dir, reinit_rounds=(2,), random_sparse=False, one_shot_rounds=())
    _, every = _run(tmp_path / "every", data_dir, random_sparse=False, one_shot_rounds=())
    counts = result.table.groupby(["variant", "round"])["trial"].nunique().to_dict()
    assert counts == {("iterative", 0): 2, ("iterative", 1): 2, ("iterative", 2): 2, ("reinit", 2): 2}
    verify_table(cfg, result.table, tmp_path / "table")
    with pytest.raises(Exception, match="round 1"):  # the other run's table has reinits where this one has none
        verify_table(cfg.with_overrides(reinit_rounds=(1, 2)), result.table, tmp_path / "table")
    columns = ["variant", "trial", "replicate", "round", "iteration"]
    ours = result.table.set_index(columns).sort_index()
    theirs = every.table.set_index(columns).loc[ours.index]  # the same seeds: the same networks
    assert (ours["test_acc"] - theirs["test_acc"]).abs().max() < 1e-3


def test_the_round_plan_is_what_a_round_trains(tmp_path, data_dir):
    from lt_utils.lottery.plan import round_networks, round_plan

    cfg, result = _run(tmp_path, data_dir, reinits=2, reinit_rounds=(2,))
    for r in range(cfg.rounds + 1):
        rows = result.table[result.table["round"] == r].drop_duplicates(["variant", "trial", "replicate"])
        trained = [(v, int(t), int(j)) for v, t, j in zip(rows["variant"], rows["trial"], rows["replicate"],
                                                           strict=True)]
        planned = [(n.variant, n.trial, n.replicate) for n in round_plan(cfg, r)]
        assert sorted(trained) == sorted(planned) and round_networks(cfg, r) == len(planned)
    assert [n.variant for n in round_plan(cfg, 2)] == ["iterative"] * 2 + ["reinit"] * 4 + ["random_sparse"] * 2 \
        + ["oneshot"] * 2  # tickets, then the controls, in training order


@pytest.mark.parametrize("overrides", [{}, {"reinit_rounds": (2, 5)}, {"reinits": 0}, {"random_sparse": True},
                                       {"one_shot_rounds": (1, 3)}, {"trials": 3, "reinits": 2}])
def test_the_round_count_is_the_round_plans_length(overrides):
    from lt_utils.lottery.plan import round_networks, round_plan

    cfg = preset("lenet", rounds=6, **overrides)
    assert [round_networks(cfg, r) for r in range(7)] == [len(round_plan(cfg, r)) for r in range(7)]
