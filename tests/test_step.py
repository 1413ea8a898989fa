"""The fast training steps compute the plain step's update (CPU; the CUDA graph test needs a GPU)."""

import pytest
import torch

from lt_utils.engine.hparams import PruneConfig, TrainConfig
from lt_utils.engine.pruning import dense_masks, prune_to_round
from lt_utils.engine.stack import init_states, make_forward
from lt_utils.engine.step import FunctionalStep, functional_update, make_train_step, resolve_step_mode
from lt_utils.engine.training import METRICS, train_stack
from lt_utils.errors import ConfigError
from lt_utils.lottery.options import RunOptions

ADAM = TrainConfig(optimizer="adam", lr=1.2e-3, weight_decay=1e-4)
SGD = TrainConfig(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=1e-4)
SGD_SLOW = TrainConfig(optimizer="sgd", lr=0.005, momentum=0.9, weight_decay=1e-4)  # batch norm on noise: chaotic


def _networks(model_name, n, dropout=0.0):
    model, params, buffers = init_states(model_name, list(range(n)), dropout)
    masks = prune_to_round(params, dense_masks(params, model.layer_kinds), model.layer_kinds, PruneConfig(), 3)
    params = {k: v * masks[k] if k in masks else v for k, v in params.items()}  # movement is then training alone
    return model, params, buffers, masks


def _copy(state):
    return {k: v.clone() for k, v in state.items()}


def _run_steps(step_factory, params, buffers, batches, targets, lr):
    params, buffers = _copy(params), _copy(buffers)
    step = step_factory(params, buffers, targets)
    torch.manual_seed(7)  # the same dropout draws for every form
    for i, (x, y) in enumerate(batches):
        step(x, y, lr * (i + 1) / len(batches), 0.3 if i >= 1 else 0.0)  # a changing rate and penalty
    return params, buffers


def _double(state):
    return {k: v.double() for k, v in state.items()}


def _batches(n, shape, steps=3, batch=16):
    generator = torch.Generator().manual_seed(3)
    return [(torch.randn(n, batch, *shape, generator=generator), torch.randint(0, 10, (n, batch), generator=generator))
            for _ in range(steps)]


def _max_relative_change_gap(start, a, b):
    """Largest difference between the two results, relative to how far training moved the weights."""
    return max(((a[k] - b[k]).norm() / (a[k] - start[k]).norm().clamp_min(1e-12)).item() for k in start)


@pytest.mark.parametrize(("model_name", "cfg", "dropout", "shape"), [
    ("lenet", ADAM, 0.0, (1, 28, 28)),
    ("conv2", SGD, 0.5, (3, 32, 32)),
    ("resnet20", SGD_SLOW, 0.0, (3, 32, 32)),
])
def test_functional_update_matches_autograd_and_torch_optim(model_name, cfg, dropout, shape):
    model, params, buffers, masks = _networks(model_name, 2, dropout)
    name = next(iter(masks))
    targets = {name: (torch.rand(params[name].shape, generator=torch.Generator().manual_seed(1)) < 0.3).float()}
    batches = _batches(2, shape)
    eager = make_forward(model, bool(buffers), shared_input=False)
    plain = _run_steps(lambda p, b, t: make_train_step("eager", model, p, b, masks, cfg, t), params, buffers,
                       batches, targets, cfg.lr)
    functional = _run_steps(lambda p, b, t: FunctionalStep(functional_update(cfg, eager), p, b, masks, cfg, t),
                            params, buffers, batches, targets, cfg.lr)
    assert _max_relative_change_gap(params, plain[0], functional[0]) < 1e-3
    for key in buffers:
        torch.testing.assert_close(plain[1][key], functional[1][key], rtol=1e-4, atol=1e-5)
    for key, mask in masks.items():
        assert torch.all(functional[0][key][~mask] == 0)


def test_compiled_step_matches_eager_on_a_batch_norm_network():
    # Batch norm on noise is chaotic: fp32 rounding alone moves ResNet-20's two steps by about 0.5% of
    # their length. So both fp32 forms are held against the same step in float64, and the compiled
    # step must be about as close to it as the eager one (a wrong update would be off by ~100%).
    model, params, buffers, masks = _networks("resnet20", 2)
    batches = _batches(2, (3, 32, 32), steps=2, batch=32)

    def run(mode, params, buffers, batches):
        return _run_steps(lambda p, b, t: make_train_step(mode, model, p, b, masks, SGD_SLOW, t), params, buffers,
                          batches, {}, SGD_SLOW.lr)

    plain = run("eager", params, buffers, batches)
    compiled = run("compile", params, buffers, batches)
    exact = run("eager", _double(params), _double(buffers), [(x.double(), y) for x, y in batches])
    eager_error = _max_relative_change_gap(_double(params), _double(plain[0]), exact[0])
    compiled_error = _max_relative_change_gap(_double(params), _double(compiled[0]), exact[0])
    assert eager_error < 2e-2
    assert compiled_error < 3 * eager_error
    torch.testing.assert_close(plain[1]["bn.running_mean"], compiled[1]["bn.running_mean"], rtol=1e-3, atol=1e-4)


def test_compiled_training_run_matches_eager_run(mnist):
    model, params, buffers, masks = _networks("lenet", 3)
    cfg = TrainConfig(iterations=100, eval_every=50, warmup_iterations=20)
    plain = train_stack(model, params, buffers, masks, mnist, cfg, [0, 1, 2], step="eager")
    compiled = train_stack(model, params, buffers, masks, mnist, cfg, [0, 1, 2], step="compile")
    assert compiled.eval_iterations == plain.eval_iterations
    accuracy = [METRICS.index(m) for m in ("val_acc", "test_acc", "train_acc")]
    # rounding differences grow during training: a few of the 1,000 training-subset examples may flip
    torch.testing.assert_close(compiled.curves[:, :, accuracy], plain.curves[:, :, accuracy], rtol=0, atol=5e-3)
    torch.testing.assert_close(compiled.curves[:, 0], plain.curves[:, 0], rtol=1e-5, atol=1e-5)  # same start
    for key, mask in masks.items():
        assert torch.all(compiled.params[key][~mask] == 0)


def test_step_modes_are_checked_with_the_choices_named():
    with pytest.raises(ConfigError, match=r"step='fast'.*'eager', 'compile', 'graph'"):
        resolve_step_mode("fast", torch.device("cpu"))
    with pytest.raises(ConfigError, match="step='fast'"):
        RunOptions(step="fast")
    assert resolve_step_mode("auto", torch.device("cpu")) == "eager"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="needs a CUDA device"):
            resolve_step_mode("graph", torch.device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_cuda_graph_step_matches_eager_on_gpu(data_dir):
    from lt_utils.engine.data import load_dataset

    data = load_dataset("mnist", data_dir, "cuda", train_eval_size=1000)
    model, params, buffers = init_states("lenet", [0, 1, 2], device="cuda")
    masks = prune_to_round(params, dense_masks(params, model.layer_kinds), model.layer_kinds, PruneConfig(), 3)
    cfg = TrainConfig(iterations=300, eval_every=100, warmup_iterations=50)
    plain = train_stack(model, params, buffers, masks, data, cfg, [0, 1, 2], step="eager")
    graph = train_stack(model, params, buffers, masks, data, cfg, [0, 1, 2], step="graph")
    torch.testing.assert_close(graph.curves[:, :, 1::2], plain.curves[:, :, 1::2], rtol=0, atol=5e-3)
    for key, mask in masks.items():
        assert torch.all(graph.params[key][~mask] == 0)


class _ReplayByRerun:
    """Stands in for ``torch.cuda.CUDAGraph`` on the CPU: capture runs the step (as a real capture
    does not), and replay re-runs the step on the static buffers (as a real replay does)."""

    owner = None

    def replay(self):
        _ReplayByRerun.owner._run(_ReplayByRerun.owner.x, _ReplayByRerun.owner.y)


def _cuda_shims(monkeypatch, graph=None):
    """``torch.cuda``'s stream and graph calls stood in for on the CPU; ``graph``: the capture context."""
    import contextlib

    class Stream:
        def wait_stream(self, other):
            pass

    for name, value in {"Stream": Stream, "current_stream": Stream, "stream": lambda s: contextlib.nullcontext(),
                        "graph": graph or (lambda g, stream: contextlib.nullcontext()),
                        "CUDAGraph": _ReplayByRerun}.items():
        monkeypatch.setattr(torch.cuda, name, value)


def test_graph_step_bookkeeping_undoes_warmup_and_reads_each_new_batch(monkeypatch):
    from lt_utils.engine.step import GraphStep

    _cuda_shims(monkeypatch)
    model, params, buffers, masks = _networks("lenet", 2)
    batches = _batches(2, (1, 28, 28), steps=4)
    forward = make_forward(model, False, shared_input=False)

    def graph_step(p, b, t):
        step = GraphStep(functional_update(ADAM, forward), p, b, masks, ADAM, t)
        _ReplayByRerun.owner = step
        return step

    plain = _run_steps(lambda p, b, t: make_train_step("eager", model, p, b, masks, ADAM, t), params, buffers,
                       batches, {}, ADAM.lr)
    graphed = _run_steps(graph_step, params, buffers, batches, {}, ADAM.lr)
    assert _max_relative_change_gap(params, plain[0], graphed[0]) < 1e-4


def test_compiled_step_accepts_a_model_outside_the_registry():
    from lt_utils.engine.models import Lenet

    model = Lenet(hidden=(20,))  # a user's own architecture: spec is unset
    params = {k: v.detach().unsqueeze(0).repeat(2, *[1] * v.ndim) for k, v in model.named_parameters()}
    masks = dense_masks(params, model.layer_kinds)
    batches = _batches(2, (1, 28, 28), steps=2)
    plain = _run_steps(lambda p, b, t: make_train_step("eager", model, p, b, masks, ADAM, t), params, {}, batches,
                       {}, ADAM.lr)
    compiled = _run_steps(lambda p, b, t: make_train_step("compile", model, p, b, masks, ADAM, t), params, {},
                          batches, {}, ADAM.lr)
    assert _max_relative_change_gap(params, plain[0], compiled[0]) < 1e-4


def test_compiled_training_loop_never_reads_a_value_back_to_the_host(mnist, monkeypatch):
    """No .item(), bool() or float() of a tensor in the loop: each would be a device sync (and inside
    a CUDA graph capture, an error). torch.compile's guards are included: they run on every call.
    (The eager form is left out: on the CPU torch.optim reads its CPU step counter, which is no sync.)"""
    from torch._dynamo.utils import counters

    step = "compile"
    model, params, buffers, masks = _networks("lenet", 2)
    cfg = TrainConfig(iterations=60, eval_every=20, warmup_iterations=10)
    train_stack(model, params, buffers, masks, mnist, cfg, [0, 1], step=step)  # compile outside the watch

    def host_read(*args):
        raise AssertionError("a tensor value was read on the host inside the training loop")

    compiled_graphs = counters["stats"]["unique_graphs"]
    for name in ("item", "__bool__", "__float__", "__int__", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, host_read)
    result = train_stack(model, params, buffers, masks, mnist, cfg, [0, 1], step=step)
    monkeypatch.undo()
    assert result.eval_iterations == [0, 20, 40, 60]
    assert counters["stats"]["unique_graphs"] == compiled_graphs  # a second run (a new round) compiles nothing


def _failing_capture(monkeypatch):
    """CUDA-graph shims for the CPU whose capture fails, as a broken driver or kernel would."""

    def graph(g, stream):
        raise RuntimeError("operation not permitted when stream is capturing (simulated)")

    _cuda_shims(monkeypatch, graph)


def test_auto_falls_back_from_a_failed_capture_restoring_the_weights(monkeypatch):
    from lt_utils.engine.step import GraphStep, StepForms, make_scorer_for

    _failing_capture(monkeypatch)
    model, params, buffers, masks = _networks("lenet", 2)
    batches = _batches(2, (1, 28, 28), steps=3)
    forward = make_forward(model, False, shared_input=False)

    def build(p, b):
        def parts(form):
            step = GraphStep(functional_update(ADAM, forward), p, b, masks, ADAM, {}) if form == "graph" else \
                make_train_step("eager", model, p, b, masks, ADAM, {})
            return step, make_scorer_for("eager", model, False)
        return parts

    plain = _run_steps(lambda p, b, t: make_train_step("eager", model, p, b, masks, ADAM, t), params, buffers,
                       batches, {}, ADAM.lr)
    forms = {}

    def auto(p, b, t):
        forms["auto"] = StepForms(("graph", "eager"), build(p, b), p, b)
        return forms["auto"].step

    with pytest.warns(RuntimeWarning, match=r"'graph' failed on its first call.*simulated.*using 'eager'"):
        fallen = _run_steps(auto, params, buffers, batches, {}, ADAM.lr)
    assert forms["auto"].form == "eager"
    for key in params:  # the capture's warm-up steps were undone: exactly the eager run
        torch.testing.assert_close(fallen[0][key], plain[0][key], rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="CUDA graph failed"):  # one form, named: no fallback
        _run_steps(lambda p, b, t: StepForms(("graph",), build(p, b), p, b).step, params, buffers, batches, {},
                   ADAM.lr)


def test_training_records_the_form_it_fell_back_to(mnist, monkeypatch):
    import lt_utils.engine.step as step_module

    def broken_compile(fn, **kwargs):
        def fail(*args, **kw):
            raise RuntimeError("inductor failed (simulated)")
        return fail

    model, params, buffers, masks = _networks("lenet", 2)
    cfg = TrainConfig(iterations=40, eval_every=20)
    plain = train_stack(model, params, buffers, masks, mnist, cfg, [0, 1], step="eager")
    monkeypatch.setattr(step_module, "_compiled", {})
    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setitem(step_module.AUTO_FORMS, "cpu", ("compile", "eager"))
    with pytest.warns(RuntimeWarning, match="'compile' failed.*inductor failed"):
        fallen = train_stack(model, params, buffers, masks, mnist, cfg, [0, 1], step="auto")
    assert (plain.step, fallen.step) == ("eager", "eager")
    torch.testing.assert_close(fallen.curves, plain.curves, rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="inductor failed"):
        train_stack(model, params, buffers, masks, mnist, cfg, [0, 1], step="compile")
