"""bf16 only where the CPU computes it natively: a warning naming the missing feature elsewhere."""

import warnings

import pytest
import torch

import lt_utils.engine.cpu as cpu
from lt_utils.engine.cpu import SlowBf16Warning, native_bf16
from lt_utils.engine.hparams import TrainConfig
from lt_utils.engine.pruning import dense_masks
from lt_utils.engine.stack import init_states
from lt_utils.engine.step import make_step_forms

CPU = torch.device("cpu")


@pytest.fixture
def cpu_without_bf16(monkeypatch):
    """The CPU probe answering as a CPU with AVX-512 but without bf16 instructions."""
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512bw"}))


def test_native_bf16_reads_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert native_bf16(CPU)
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16", "amx_tile"}))
    assert native_bf16("cpu")
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset())  # /proc/cpuinfo unreadable: not native
    assert not native_bf16(CPU)


def _forms(precision):
    model, params, buffers = init_states("lenet", [0])
    return make_step_forms("eager", model, params, buffers, dense_masks(params, model.layer_kinds), TrainConfig(),
                           precision=precision)


def test_bf16_on_a_cpu_without_it_warns_naming_the_missing_feature(cpu_without_bf16):
    with pytest.warns(SlowBf16Warning, match=r"precision='bf16'.*avx512_bf16 or amx_bf16"):
        _forms("bf16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _forms("fp32")  # fp32 says nothing
