"""bf16 autocast (with channels_last batch-norm networks) trains as the paper's fp32 does, within tolerance (CPU)."""

import pytest
import torch

from lt_utils.book.notebook import device_note, run_record
from lt_utils.engine.data import load_dataset
from lt_utils.engine.hparams import PruneConfig, TrainConfig
from lt_utils.engine.pruning import dense_masks, prune_to_round
from lt_utils.engine.stack import init_states, make_forward
from lt_utils.engine.step import make_train_step
from lt_utils.engine.training import METRICS, train_stack
from lt_utils.errors import ConfigError
from lt_utils.lottery.experiments import run_experiment
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import preset


def _train(model_name, data, cfg, precision, n=3, step="eager"):
    model, params, buffers = init_states(model_name, list(range(n)), device=data.train.y.device)
    masks = prune_to_round(params, dense_masks(params, model.layer_kinds), model.layer_kinds, PruneConfig(), 2)
    return train_stack(model, params, buffers, masks, data, cfg, list(range(n)), step=step, precision=precision)


def test_bf16_lenet_reaches_the_fp32_accuracy(mnist):
    cfg = TrainConfig(iterations=500, eval_every=100)
    fp32, bf16 = (_train("lenet", mnist, cfg, p).curves[:, -1, METRICS.index("test_acc")] for p in ("fp32", "bf16"))
    assert fp32.min() > 0.94  # the runs really learned
    assert abs(fp32.mean() - bf16.mean()) < 0.01
    assert (fp32 - bf16).abs().max() < 0.015


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a GPU"))])
def test_bf16_batch_norm_network_trains_as_fp32(device):
    data = load_dataset("synthetic_cifar10", None, device, train_eval_size=100, synthetic_size=1_200)
    # 100 iterations: with open_lth's batch-norm init (scales ~ U[0, 1)) 60 left bf16 at 93%, short of saturating
    cfg = TrainConfig(optimizer="sgd", lr=0.05, momentum=0.9, iterations=100, eval_every=20, batch_size=32)
    fast = "graph" if device == "cuda" else "eager"  # on a GPU: the bf16 step captured in a CUDA graph
    fp32, bf16 = (_train("resnet20", data, cfg, p, n=2, step=s).curves for p, s in (("fp32", "eager"), ("bf16", fast)))
    val_acc = METRICS.index("val_acc")
    assert fp32[:, 0, val_acc].max() < 0.5  # chance at the start, in both
    assert fp32[:, -1, val_acc].min() > 0.95
    assert bf16[:, -1, val_acc].min() > 0.95


def test_bf16_runs_convolutions_in_bf16_on_channels_last_images():
    model, params, buffers = init_states("resnet20", [0, 1])
    seen = []
    model.conv.register_forward_hook(lambda m, inputs, out: seen.append((inputs[0], out)))
    x = torch.randn(2, 4, 3, 32, 32)
    make_forward(model, True, shared_input=False, precision="bf16")(params, buffers, x)
    image, out = seen[0]
    assert image.is_contiguous(memory_format=torch.channels_last)
    assert out.dtype == torch.bfloat16
    seen.clear()
    make_forward(model, True, shared_input=False)(params, buffers, x)
    assert seen[0][1].dtype == torch.float32


def test_compiled_bf16_step_is_as_close_to_fp32_as_the_eager_bf16_step():
    model, params, buffers = init_states("resnet20", [0, 1])
    masks = prune_to_round(params, dense_masks(params, model.layer_kinds), model.layer_kinds, PruneConfig(), 2)
    params = {k: v * masks[k] if k in masks else v for k, v in params.items()}
    cfg = TrainConfig(optimizer="sgd", lr=0.005, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 16, 3, 32, 32, generator=generator), torch.randint(0, 10, (2, 16), generator=generator)
    moved = {}
    for mode, precision in (("eager", "fp32"), ("eager", "bf16"), ("compile", "bf16")):
        p, b = ({k: v.clone() for k, v in s.items()} for s in (params, buffers))
        make_train_step(mode, model, p, b, masks, cfg, precision=precision)(x, y, cfg.lr, 0.0)
        moved[mode, precision] = torch.cat([(p[k] - params[k]).detach().flatten() for k in params])
    fp32 = moved["eager", "fp32"]
    eager_gap, compiled_gap = ((moved[m, "bf16"] - fp32).norm() / fp32.norm() for m in ("eager", "compile"))
    assert 0 < eager_gap < 0.5  # bf16 really ran, and one step of it points where fp32's does
    assert compiled_gap < 1.25 * eager_gap


def test_precision_is_validated_recorded_and_shown(tmp_path, data_dir):
    with pytest.raises(ConfigError, match=r"precision='fp16'.*'fp32', 'bf16'"):
        RunOptions(precision="fp16")
    with pytest.raises(ConfigError, match="precision='half'"):
        train_stack(*init_states("lenet", [0]), {}, None, TrainConfig(), [0], precision="half")
    cfg = preset("lenet", trials=1, rounds=0, iterations=20, eval_every=10, train_eval_size=100)
    run_experiment(cfg, results_dir=str(tmp_path), data_dir=str(data_dir), device="cpu", precision="bf16",
                   progress=False)
    record = run_record(cfg, RunOptions(results_dir=str(tmp_path), device="cpu", precision="bf16"))
    assert record["precision"] == ["bf16"]
    assert record["step"] == ["eager"]  # the form that trained it, "auto" resolved on the CPU
    assert "step: eager; precision: bf16 (the paper: fp32)" in device_note([record])
