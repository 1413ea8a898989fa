import re

import pytest
import torch

from lt_utils.book.bench import benchmark, engine_forms, figure_network_iterations, main, networks_per_round
from lt_utils.book.cli import benchmark_table
from lt_utils.lottery.presets import preset


def test_figure_work_counts_every_network_of_the_paper_protocol():
    lenet = preset("lenet")
    assert networks_per_round(lenet) == 30  # 5 tickets + 15 reinits + 5 random sparse + 5 one-shot
    # dense round: 5 runs; 18 rounds of 5 + 15 + 5; one-shot at 18 levels x 5 trials; 50K iterations each
    assert figure_network_iterations(lenet) == 50_000 * (5 + 18 * 25 + 18 * 5)
    assert networks_per_round(preset("conv2")) == 20


def test_benchmark_report_runs_both_loops(data_dir, tmp_path):
    report = benchmark(["lenet"], torch.device("cpu"), str(data_dir), iterations=3, reference_iterations=3,
                       steps=["eager"], bf16_models=["lenet"])
    lenet = report["models"]["lenet"]
    assert set(lenet["engine"]) == {"eager", "eager, bf16"}
    assert lenet["networks_at_once"] == 30 and lenet["engine_network_iterations_per_s"] > 0
    assert lenet["fastest_step"] == "eager" and lenet["engine"]["eager"]["compile_seconds"] == 0  # fp32 only
    ratio = lenet["engine_network_iterations_per_s"] / lenet["reference_iterations_per_s"]
    assert abs(lenet["ratio"] - ratio) <= 0.01 * ratio + 0.01
    (tmp_path / "cpu.json").write_text(__import__("json").dumps(report))
    assert "| lenet | 30 |" in benchmark_table(tmp_path)
    assert "| eager, " in benchmark_table(tmp_path)


def _refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m lt_utils.book.bench: error: ") and err.count("\n") == 1
    return err


def test_benchmark_rejects_unknown_step_forms(capsys):
    assert re.search(r"step='fastest'.*choose one of", _refused(["--models", "lenet", "--steps", "eager,fastest",
                                                                 "--device", "cpu"], capsys))


def test_bf16_forms_are_timed_only_for_the_models_asked(capsys):
    assert engine_forms("vgg19", ["eager", "graph"], ["vgg19"]) == {
        "eager": ("eager", "fp32"), "graph": ("graph", "fp32"),
        "eager, bf16": ("eager", "bf16"), "graph, bf16": ("graph", "bf16")}
    assert engine_forms("lenet", ["eager"], ["vgg19"]) == {"eager": ("eager", "fp32")}
    assert "['vgg16'] for --bf16" in _refused(["--models", "lenet", "--bf16", "vgg16", "--device", "cpu"], capsys)
