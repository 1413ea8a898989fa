"""One training step of a stack of networks, in interchangeable forms that compute the same update.

- ``"eager"``: autograd and a foreach ``torch.optim`` optimizer; the plain path that the others
  are tested against.
- ``"compile"``: the whole step (forward, gradient by ``torch.func.grad``, masks, penalty and an
  Adam or SGD update written out by hand) as one function of tensors, compiled by ``torch.compile``.
- ``"graph"`` (CUDA): that compiled step captured once in a CUDA graph and replayed: one graph
  launch per iteration and no Python between the kernels. Inputs are copied into static buffers.

Every form updates ``params``, ``buffers`` and its optimizer state in place and never reads a
value back to the host.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch.func import grad

from lt_utils.engine.cpu import warn_if_slow_bf16
from lt_utils.engine.hparams import TrainConfig
from lt_utils.engine.models import MODELS, PrunableModel, build_model
from lt_utils.engine.stack import Forward, State, make_forward
from lt_utils.errors import ConfigError

STEP_MODES = ("auto", "eager", "compile", "graph")
_ADAM_BETAS, _ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults, as the paper's runs used
_FUNCTIONAL_SLOT = {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq", "momentum_buffer": "momentum"}
"""torch.optim's name of each optimizer slot -> ``functional_update``'s."""


class TrainStep(Protocol):
    def __call__(self, x: torch.Tensor, y: torch.Tensor, lr: float, coefficient: float) -> None:
        """One update of every network on its batch ``x[i], y[i]`` at rate ``lr``; ``coefficient``
        scales the L2 penalty on the penalty targets (0: none)."""

    def optimizer_state(self) -> State | None:
        """The optimizer's state, keyed as ``functional_update`` keeps it (None: no step taken yet)."""

    def load_optimizer_state(self, state: State) -> None:
        """Go on from ``state`` (of :meth:`optimizer_state`, of any form)."""


def check_step_mode(mode: str) -> None:
    """A clear error unless ``mode`` is one of ``STEP_MODES``."""
    if mode not in STEP_MODES:
        raise ConfigError(f"invalid step={mode!r}: choose one of {STEP_MODES}")


AUTO_FORMS = {"cuda": ("graph", "compile", "eager"), "cpu": ("eager",)}
"""The forms ``step="auto"`` tries on each device type, in order (see :class:`StepForms`)."""


def step_forms(mode: str, device: torch.device) -> tuple[str, ...]:
    """The forms to try for ``mode``: ``AUTO_FORMS`` for ``"auto"``, else ``mode`` alone (checked)."""
    check_step_mode(mode)
    if mode == "auto":
        return AUTO_FORMS.get(device.type, ("eager",))
    if mode == "graph" and device.type != "cuda":
        raise ConfigError(f"step='graph' needs a CUDA device, not {device}; use 'compile' or 'eager'")
    return (mode,)


def resolve_step_mode(mode: str, device: torch.device) -> str:
    """``mode`` checked against ``STEP_MODES``; ``"auto"`` is the first of ``AUTO_FORMS``: ``"graph"``
    on CUDA and ``"eager"`` on the CPU."""
    return step_forms(mode, device)[0]


def stack_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Sum over networks of each network's mean cross-entropy (``logits`` N x B x classes)."""
    n = logits.shape[0]
    return F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), reduction="none").view(n, -1).mean(1).sum()


Scorer = Callable[[State, State, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def make_scorer(forward: Forward) -> Scorer:
    """``score(params, buffers, x, y) -> (summed loss, number correct)`` of every network on one
    batch shared by all of them; ``forward`` takes a shared input."""

    def score(params: State, buffers: State, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = next(iter(params.values())).shape[0]
        logits = forward(params, buffers, x).float()
        loss = F.cross_entropy(logits.flatten(0, 1), y.repeat(n), reduction="none").view(n, -1).sum(1)
        return loss, (logits.argmax(-1) == y).sum(1)

    return score


def apply_masks(params: State, masks: State) -> State:
    """Zero the pruned weights of ``params`` in place; return the masks in the weights' dtype."""
    masks = {name: m.to(params[name].dtype) for name, m in masks.items()}
    with torch.no_grad():
        torch._foreach_mul_([params[name] for name in masks], list(masks.values()))
    return masks


def _torch_optimizer(params: list[torch.Tensor], cfg: TrainConfig) -> torch.optim.Optimizer:
    """torch's Adam or SGD, fused (one kernel per tensor: on the CPU too, where it does one pass
    over the weights and moments instead of foreach's several)."""
    kw = {"fused": True} if params[0].device.type in ("cuda", "cpu") else {"foreach": True}
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **kw)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **kw)


class EagerStep:
    """Autograd and ``torch.optim``: the plain path."""

    def __init__(self, forward: Forward, params: State, buffers: State, masks: State, cfg: TrainConfig,
                 targets: State):
        self.forward, self.params, self.buffers = forward, params, buffers
        for p in params.values():
            p.requires_grad_(True)
        self.masked = [(params[name], m) for name, m in apply_masks(params, masks).items()]
        self.targets = [(params[name], targets[name]) for name in targets]
        self.optimizer = _torch_optimizer(list(params.values()), cfg)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, lr: float, coefficient: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        stack_loss(self.forward(self.params, self.buffers, x), y).backward()
        with torch.no_grad():
            torch._foreach_mul_([p.grad for p, _ in self.masked], [m for _, m in self.masked])
            if coefficient > 0 and self.targets:
                torch._foreach_add_([p.grad for p, _ in self.targets],
                                    torch._foreach_mul([p for p, _ in self.targets], [t for _, t in self.targets]),
                                    alpha=coefficient)
            self.optimizer.step()
            torch._foreach_mul_([p for p, _ in self.masked], [m for _, m in self.masked])
        self.optimizer.zero_grad(set_to_none=True)

    def optimizer_state(self) -> State | None:
        state = {}
        for name, p in self.params.items():
            slots = self.optimizer.state.get(p)
            if not slots:
                return None
            for slot, value in slots.items():
                state["step" if slot == "step" else f"{name}.{_FUNCTIONAL_SLOT[slot]}"] = value
        return state

    def load_optimizer_state(self, state: State) -> None:
        adam = isinstance(self.optimizer, torch.optim.Adam)
        for name, p in self.params.items():
            slots = ("exp_avg", "exp_avg_sq") if adam else ("momentum_buffer",)
            loaded = {slot: state[f"{name}.{_FUNCTIONAL_SLOT[slot]}"].clone() for slot in slots}
            self.optimizer.state[p] = loaded | ({"step": state["step"].clone()} if adam else {})


def functional_update(cfg: TrainConfig, forward: Forward) -> Callable[..., None]:
    """The whole step as one function of tensors, updating ``params``, ``buffers`` and the
    optimizer ``state`` in place; it matches ``EagerStep`` (torch's Adam and SGD formulas)."""
    beta1, beta2 = _ADAM_BETAS

    def loss_of(params: State, buffers: State, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return stack_loss(forward(params, buffers, x), y)

    def update(params: State, buffers: State, masks: State, targets: State, state: State, x: torch.Tensor,
               y: torch.Tensor, lr: torch.Tensor, coefficient: torch.Tensor) -> None:
        grads = grad(loss_of)(params, buffers, x, y)
        state["step"].add_(1)
        for name, p in params.items():
            g = grads[name]
            if name in masks:
                g = g * masks[name]
            if name in targets:
                g = g + coefficient * p * targets[name]
            if cfg.weight_decay:
                g = g + cfg.weight_decay * p
            if cfg.optimizer == "adam":
                m, v = state[f"{name}.exp_avg"], state[f"{name}.exp_avg_sq"]
                m.lerp_(g, 1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                correction1 = 1 - beta1 ** state["step"]
                correction2 = 1 - beta2 ** state["step"]
                new = p - lr / correction1 * m / (v.sqrt() / correction2.sqrt() + _ADAM_EPS)
            else:
                buf = state[f"{name}.momentum"]
                buf.mul_(cfg.momentum).add_(g)
                new = p - lr * buf
            p.copy_(new * masks[name] if name in masks else new)

    return update


def _optimizer_state(params: State, cfg: TrainConfig) -> State:
    device = next(iter(params.values())).device
    # float32, as torch's capturable and fused Adam keep it: a float64 scalar would make torch.compile
    # guard on its value (a .item() per call: a host sync, and an error inside a CUDA graph capture)
    state = {"step": torch.zeros((), device=device)}
    slots = ("exp_avg", "exp_avg_sq") if cfg.optimizer == "adam" else ("momentum",)
    for name, p in params.items():
        for slot in slots:
            state[f"{name}.{slot}"] = torch.zeros_like(p)
    return state


_compiled: dict[tuple, Callable] = {}


def compiled_forward_fn(model: PrunableModel, training: bool, build: Callable[[Forward], Callable],
                        variant: tuple = (), precision: str = "fp32") -> Callable:
    """``torch.compile(build(forward))`` for the architecture of ``model`` at ``precision``, made once
    per process (per ``variant`` of ``build``) and reused by every stack and round, so that no round
    recompiles, whatever a torch version's guards make of fresh closures and models. The
    forward runs a private template in training mode (a batch per network) or in evaluation
    mode (one batch shared by all). A model not built by :func:`lt_utils.engine.models.build_model`
    is its own key, and a copy its template."""
    registered = model.spec[0] in MODELS
    key = (model.spec if registered else model, training, variant, precision)
    if key not in _compiled:
        # seeded: building it must not draw from the global stream that dropout draws from
        template = build_model(*model.spec, seed=0) if registered else copy.deepcopy(model)
        template.train(training)
        has_buffers = bool(dict(template.named_buffers()))
        forward = make_forward(template, has_buffers, shared_input=not training, precision=precision)
        _compiled[key] = torch.compile(build(forward), dynamic=False)
    return _compiled[key]


class FunctionalStep:
    """``functional_update`` (compiled or not); ``lr`` and the coefficient live in device scalars
    so that a new rate never recompiles and a CUDA graph can read them."""

    def __init__(self, update: Callable[..., None], params: State, buffers: State, masks: State,
                 cfg: TrainConfig, targets: State):
        device = next(iter(params.values())).device
        self.params, self.buffers, self.targets = params, buffers, targets
        self.masks = apply_masks(params, masks)
        self.state = _optimizer_state(params, cfg)
        self.lr = torch.zeros((), device=device)
        self.coefficient = torch.zeros((), device=device)
        self.update = update

    def _run(self, x: torch.Tensor, y: torch.Tensor) -> None:
        with torch.no_grad():
            self.update(self.params, self.buffers, self.masks, self.targets, self.state, x, y, self.lr,
                        self.coefficient)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, lr: float, coefficient: float) -> None:
        self.lr.fill_(lr)
        self.coefficient.fill_(coefficient)
        self._advance(x, y)

    def _advance(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self._run(x, y)

    def optimizer_state(self) -> State | None:
        return self.state

    def load_optimizer_state(self, state: State) -> None:
        with torch.no_grad():  # in place: a captured CUDA graph reads these tensors
            for name, value in state.items():
                if name in self.state:  # torch's SGD keeps no step count
                    self.state[name].copy_(value)


class GraphStep(FunctionalStep):
    """The compiled step captured in a CUDA graph on its first call and replayed after that."""

    _warmup_steps = 3
    graph: torch.cuda.CUDAGraph | None = None

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x.clone(), y.clone()
        live = [*self.params.values(), *self.buffers.values(), *self.state.values()]
        saved = [t.clone() for t in live]
        # the warm-ups' dropout draws leave no trace either: the captured steps draw as if the first
        # step were the first draw (so a run resumed from a checkpoint, which captures again, draws alike)
        rng = torch.cuda.get_rng_state(x.device) if x.is_cuda else None
        try:
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):  # compile and warm up on the stream that then captures
                for _ in range(self._warmup_steps):
                    self._run(self.x, self.y)
            if rng is not None:
                torch.cuda.current_stream().wait_stream(stream)
                torch.cuda.set_rng_state(rng, x.device)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph, stream=stream):
                self._run(self.x, self.y)
            torch.cuda.current_stream().wait_stream(stream)
        except Exception as error:
            raise RuntimeError("capturing the training step in a CUDA graph failed (the error above); "
                               "run with step='eager' (a notebook parameter and a RunOptions field) "
                               "and please report it") from error
        finally:
            with torch.no_grad():  # undo the warm-up steps
                torch._foreach_copy_(live, saved)

    def _advance(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if self.graph is None:
            self._capture(x, y)
        self.x.copy_(x)
        self.y.copy_(y)
        self.graph.replay()


def make_train_step(mode: str, model: PrunableModel, params: State, buffers: State, masks: State,
                    cfg: TrainConfig, targets: State | None = None, precision: str = "fp32") -> TrainStep:
    """A step of ``mode`` (see ``STEP_MODES``) that trains ``params`` and ``buffers`` in place, its
    forward at ``precision`` (see :data:`lt_utils.engine.stack.PRECISIONS`)."""
    mode = resolve_step_mode(mode, next(iter(params.values())).device)
    if mode == "eager":
        return EagerStep(make_forward(model, bool(buffers), shared_input=False, precision=precision), params,
                         buffers, masks, cfg, targets or {})
    update = compiled_forward_fn(model, True, lambda forward: functional_update(cfg, forward),
                                 variant=(cfg.optimizer, cfg.momentum, cfg.weight_decay), precision=precision)
    return (GraphStep if mode == "graph" else FunctionalStep)(update, params, buffers, masks, cfg, targets or {})


def make_scorer_for(form: str, model: PrunableModel, has_buffers: bool, precision: str = "fp32") -> Scorer:
    """The evaluation scorer of step ``form`` (not ``"auto"``): eager for ``"eager"``, compiled otherwise."""
    if form == "eager":
        return make_scorer(make_forward(model, has_buffers, shared_input=True, precision=precision))
    return compiled_forward_fn(model, False, make_scorer, precision=precision)


_warned: set[tuple[str, str]] = set()


class StepForms:
    """The training step and the evaluation scorer of the first form of ``forms`` that works.

    Each is built and tried on its first call: when a form fails there (a compile or CUDA-graph
    capture error), ``params`` and ``buffers`` are restored, a warning names the error (once per form
    and error type), and the next form takes over. The last form's errors are raised, so an
    explicit ``step=`` (one form) fails loudly. ``form`` is the form in use."""

    def __init__(self, forms: tuple[str, ...], build: Callable[[str], tuple[TrainStep, Scorer]], params: State,
                 buffers: State):
        self.forms, self._build = forms, build
        self._live = [*params.values(), *buffers.values()]
        self._resumed: State | None = None  # the optimizer state every form built starts from
        self._use(0)

    def prefer(self, form: str) -> None:
        """Start from ``form`` where it is one of the forms (a checkpoint's: the form that trained it)."""
        if self._parts is None and form in self.forms[self._index:]:
            self._use(self.forms.index(form))

    def _use(self, index: int) -> None:
        self._index, self.form = index, self.forms[index]
        self._parts: dict[str, Callable] | None = None  # built on first use, inside the guard
        self._proven = {"step": False, "score": False}

    def _part(self, kind: str) -> Callable:
        if self._parts is None:
            self._parts = dict(zip(("step", "score"), self._build(self.form), strict=True))
            if self._resumed is not None:
                self._parts["step"].load_optimizer_state(self._resumed)
        return self._parts[kind]

    def _guarded(self, kind: str, call: Callable[[], Any]) -> Any:
        while not self._proven[kind] and self._index < len(self.forms) - 1:
            saved = [t.detach().clone() for t in self._live] if kind == "step" else None  # scoring writes nothing
            try:
                out = call()
            except Exception as error:  # any compile or capture failure falls back
                if saved is not None:
                    with torch.no_grad():
                        torch._foreach_copy_(self._live, saved)
                if self._proven["step"]:  # the next form goes on from the steps this one took
                    self._resumed = {k: v.detach().clone() for k, v in self.optimizer_state().items()}
                failed, cause = self.form, error.__cause__ or error
                if (failed, type(cause).__name__) not in _warned:
                    _warned.add((failed, type(cause).__name__))
                    warnings.warn(f"step form {failed!r} failed on its first call ({type(cause).__name__}: "
                                  f"{cause}); using {self.forms[self._index + 1]!r} instead", RuntimeWarning,
                                  stacklevel=4)
                self._use(self._index + 1)
                continue
            self._proven[kind] = True
            return out
        return call()

    def optimizer_state(self) -> State | None:
        """The optimizer state of the form in use (see ``TrainStep``); None before its first step."""
        return None if self._parts is None else self._parts["step"].optimizer_state()

    def resume_optimizer(self, state: State | None) -> None:
        """Start the optimizer from ``state`` (a checkpoint's), whichever form ends up training."""
        self._resumed = state
        if self._parts is not None and state is not None:
            self._parts["step"].load_optimizer_state(state)

    def step(self, x: torch.Tensor, y: torch.Tensor, lr: float, coefficient: float) -> None:
        """One training step (see ``TrainStep``)."""
        self._guarded("step", lambda: self._part("step")(x, y, lr, coefficient))
        self._resumed = None  # the form in use holds it now

    def score(self, params: State, buffers: State, x: torch.Tensor,
              y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed loss and number correct of every network on a shared batch (see ``make_scorer``)."""
        return self._guarded("score", lambda: self._part("score")(params, buffers, x, y))


def make_step_forms(mode: str, model: PrunableModel, params: State, buffers: State, masks: State,
                    cfg: TrainConfig, targets: State | None = None, precision: str = "fp32") -> StepForms:
    """The training step and evaluation scorer of ``mode`` (``"auto"``: the first of ``AUTO_FORMS``
    that works), training ``params`` and ``buffers`` in place; the one place that builds both."""
    device = next(iter(params.values())).device
    warn_if_slow_bf16(precision, device)
    forms = step_forms(mode, device)
    return StepForms(forms, lambda form: (
        make_train_step(form, model, params, buffers, masks, cfg, targets, precision),
        make_scorer_for(form, model, bool(buffers), precision)), params, buffers)
