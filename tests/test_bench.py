import json
import re

import pytest
import torch

import lt_utils.bench.peak as peak
import lt_utils.engine.cpu as cpu
from lt_utils.bench.command import main
from lt_utils.bench.peak import machine_peak
from lt_utils.bench.plain import PlainLoop, plain_run
from lt_utils.bench.projection import figure_network_iterations
from lt_utils.bench.report import benchmark, engine_forms, networks_per_round
from lt_utils.bench.timing import Loop, Parts, paper_rate, schedule, time_loops
from lt_utils.book.pages import benchmark_table
from lt_utils.engine.data import load_dataset
from lt_utils.engine.hparams import PruneConfig, TrainConfig
from lt_utils.engine.pruning import dense_masks, prune_to_round
from lt_utils.engine.stack import init_states
from lt_utils.engine.training import train_stack
from lt_utils.lottery.presets import preset


def test_figure_work_counts_every_network_of_the_paper_protocol():
    lenet = preset("lenet")
    assert networks_per_round(lenet) == 30  # 5 tickets + 15 reinits + 5 random sparse + 5 one-shot
    # dense round: 5 runs; 18 rounds of 5 + 15 + 5; one-shot at 18 levels x 5 trials; 50K iterations each
    assert figure_network_iterations(lenet) == 50_000 * (5 + 18 * 25 + 18 * 5)
    assert networks_per_round(preset("conv2")) == 20
    assert networks_per_round(preset("conv2", reinit_rounds=(3,))) == 20  # the widest round: 3


def test_rates_are_composed_to_the_paper_schedule():
    conv2 = preset("conv2")
    plan = schedule(conv2, engine_like=True)
    assert plan == {"iterations": 20_000, "evaluations": 201, "images_per_evaluation": 20_000, "final_images": 45_000}
    assert schedule(conv2, engine_like=False)["images_per_evaluation"] == 15_000  # validation and test only
    # 20,000 steps at 4/s (5,000 s) and 4,065,000 images at 813/s (5,000 s): half the time goes to evaluation
    assert paper_rate(Parts(4.0, 813.0), plan) == pytest.approx(2.0)


def test_benchmark_report_runs_all_three_loops(data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(peak, "native_bf16", lambda device: True)
    report = benchmark(["lenet"], torch.device("cpu"), str(data_dir), iterations=3, reference_iterations=3,
                       steps=["eager"], bf16_models=["lenet"])
    lenet = report["models"]["lenet"]
    assert set(lenet["engine"]) == {"eager", "eager, bf16"}
    assert lenet["networks_at_once"] == 30 and lenet["engine_network_iterations_per_s"] > 0
    assert lenet["fastest_step"] == "eager" and lenet["engine"]["eager"]["compile_seconds"] == 0  # fp32 only
    for reference, ratio in (("reference_iterations_per_s", "ratio"), ("plain_iterations_per_s", "ratio_to_plain")):
        expected = lenet["engine_network_iterations_per_s"] / lenet[reference]
        assert abs(lenet[ratio] - expected) <= 0.01 * expected + 0.01
    assert report["peak"]["matmul_fp32_gflop_per_s"] > 0 and report["peak"]["conv2_conv_fp32_gflop_per_s"] > 0
    assert 0 < lenet["share_of_matmul_peak"] and lenet["eval_batch"] == 2_000  # Lenet's batch: the cap
    assert set(lenet["stacking_step_network_iterations_per_s"]) == {"30", "1"}
    (tmp_path / "cpu.json").write_text(json.dumps(report))
    assert "| lenet | 30 |" in benchmark_table(tmp_path)
    assert "| eager, " in benchmark_table(tmp_path)


def _refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m lt_utils.bench: error: ") and err.count("\n") == 1
    return err


def test_benchmark_rejects_unknown_step_forms(capsys):
    assert re.search(r"step='fastest'.*choose one of", _refused(["--models", "lenet", "--steps", "eager,fastest",
                                                                 "--device", "cpu"], capsys))


def test_bf16_forms_are_timed_only_for_the_models_asked_and_only_where_native(capsys):
    assert engine_forms("vgg19", ["eager", "graph"], ["vgg19"]) == {
        "eager": ("eager", "fp32"), "graph": ("graph", "fp32"),
        "eager, bf16": ("eager", "bf16"), "graph, bf16": ("graph", "bf16")}
    assert engine_forms("lenet", ["eager"], ["vgg19"]) == {"eager": ("eager", "fp32")}
    assert engine_forms("vgg19", ["eager"], ["vgg19"], bf16_native=False) == {"eager": ("eager", "fp32")}
    assert "['vgg16'] for --bf16" in _refused(["--models", "lenet", "--bf16", "vgg16", "--device", "cpu"], capsys)


def test_plain_loop_computes_the_engine_run():
    data = load_dataset("synthetic_cifar10", None, "cpu", train_eval_size=20, synthetic_size=120)
    cfg = TrainConfig(lr=2e-3, iterations=4, eval_every=2, batch_size=10, train_eval_size=20)
    model, params, buffers = init_states("conv2", [5])
    masks = prune_to_round(params, dense_masks(params, model.layer_kinds), model.layer_kinds, PruneConfig(), 2)
    engine = train_stack(model, params, buffers, masks, data, cfg, [11])
    loop = PlainLoop("conv2", 0.0, 5, {k: m[0] for k, m in masks.items()}, cfg, torch.device("cpu"))
    curves = plain_run(loop, data, 11)
    assert curves.shape == engine.curves[0].shape == (3, 6)
    torch.testing.assert_close(curves, engine.curves[0], rtol=1e-4, atol=1e-5)  # the same loss and accuracy curves
    # Adam divides each gradient by its own running scale, so a weight whose gradient is near zero turns
    # the two loops' rounding differences into visible steps (seen on an Intel CPU with oneDNN: 13 of
    # conv1's 1,728 weights, a difference of 4e-4 of how far the layer moved). A wrong update moves a
    # layer's weights by a large share of that distance.
    for name, param in loop.model.named_parameters():
        trained, moved = engine.params[name][0], (engine.params[name][0] - params[name][0]).norm()
        assert (param.detach() - trained).norm() < 1e-3 * moved
        if name in masks:
            assert torch.all(param[~masks[name][0]] == 0)


def test_the_benchmark_leaves_bf16_out_on_a_cpu_without_it(monkeypatch):
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))  # no avx512_bf16, no AMX
    peak = machine_peak(torch.device("cpu"))
    assert peak["bf16_native"] is False and "avx512_bf16" in peak["bf16_note"]
    assert engine_forms("vgg19", ["eager"], ["vgg19"], peak["bf16_native"]) == {"eager": ("eager", "fp32")}


def test_loops_are_timed_in_turns():
    calls = []
    loops = {label: Loop(1, lambda it, label=label: calls.append((label, it)),
                         lambda label=label: calls.append(label), 10) for label in ("a", "b")}
    parts = time_loops(loops, {"a": 3, "b": 2}, torch.device("cpu"))
    assert calls == [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), "a", "b", "a", "b"]
    assert set(parts) == {"a", "b"} and all(p.step_rate > 0 and p.eval_rate > 0 for p in parts.values())


def test_the_settings_are_timed_side_by_side_against_the_full_schedule(data_dir, tmp_path):
    from lt_utils.bench import settings
    from lt_utils.book.pages import settings_table
    from lt_utils.lottery.options import RunOptions

    cfg = settings.benchmark_config(200, 1).with_overrides(train_eval_size=100)
    rows = settings.time_settings(cfg, 100, RunOptions(device="cpu", data_dir=str(data_dir), progress=False), 1,
                                  progress=False)
    by_label = {row["setting"]: row for row in rows}
    assert list(by_label) == list(settings.settings(100))
    full = by_label[settings.FULL]
    assert full["time_vs_full"] == 1.0 and full["network_iterations"] == full["schedule_network_iterations"] == 600
    end, stop, both = rows[1:]
    assert stop["network_iterations"] <= end["network_iterations"] <= 600  # the shortcut stops the tickets too
    assert end["overrides"] == {"patience": 100, "prune_at": "end"} and stop["overrides"]["prune_at"] == "stop"
    assert both["overrides"]["test_eval"] == "where_read"
    for row in rows:
        assert row["seconds"] > 0 and row["time_vs_full"] == row["seconds"] / full["seconds"]
    report = {"date": "2026-12-07T00:00:00+00:00", "device": "CPU (x86_64)", "threads": 2, "torch": "2.14",
              "config": cfg.to_dict(), "patience": 100, "repeats": 1, "settings": rows}
    table = settings_table(report)
    assert "CPU (x86_64), 2 threads, torch 2.14, 2026-12-07" in table and "one run of each" in table
    assert f"| {settings.FULL} | 600 of 600 (100%) | {full['seconds']:,.0f} | 1.00 |" in table
    assert "spread between runs is not measured" in table  # one run each: said to be no measure of noise
    assert "not measured" not in settings_table(report | {"repeats": 3})


def test_the_settings_benchmark_refuses_a_bad_value_by_name(capsys):
    from lt_utils.bench.settings import main as settings_main

    with pytest.raises(SystemExit) as exit_:
        settings_main(["--patience", "0", "--device", "cpu"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m lt_utils.bench.settings: error: ") and "--patience" in err and "0" in err
