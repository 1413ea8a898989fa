import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from lt_utils.chapters.landscape import hessian_top_eigenvalues, interpolate, project
from lt_utils.engine.data import Split
from lt_utils.engine.models import Lenet
from lt_utils.errors import ConfigError


def _tiny():
    torch.manual_seed(0)
    model = Lenet(hidden=(6,), num_classes=3, input_size=5).double()
    params = {k: v.detach() for k, v in model.named_parameters()}
    masks = {name: torch.rand_like(params[name]) > 0.3 for name in model.layer_kinds}
    x, y = torch.randn(40, 5, dtype=torch.float64), torch.randint(0, 3, (40,))
    return model, params, masks, x, y


def test_projection_applies_the_mask_exactly():
    _, params, masks, _, _ = _tiny()
    projected = project(params, masks)
    for name, value in projected.items():
        if name in masks:
            assert torch.equal(value[masks[name]], params[name][masks[name]])
            assert torch.all(value[~masks[name]] == 0)
        else:
            assert torch.equal(value, params[name])


def test_hessian_vector_eigenvalues_match_the_dense_hessian():
    model, params, masks, x, y = _tiny()
    names = list(params)
    keep = {n: masks[n].flatten() if n in masks else torch.ones(params[n].numel(), dtype=torch.bool) for n in names}
    sizes = [int(keep[n].sum()) for n in names]

    def loss(theta):
        full = {}
        for n, part in zip(names, theta.split(sizes), strict=True):
            full[n] = torch.zeros(params[n].numel(), dtype=theta.dtype).index_put(
                (torch.nonzero(keep[n]).flatten(),), part).view_as(params[n])
        return F.cross_entropy(functional_call(model, full, (x,)), y)

    theta = torch.cat([params[n].flatten()[keep[n]] for n in names])
    dense = torch.autograd.functional.hessian(loss, theta)
    expected = np.sort(np.linalg.eigvalsh(dense.numpy()))[::-1][:5]
    found = hessian_top_eigenvalues(model, params, masks, x, y, k=5, tol=1e-10)
    np.testing.assert_allclose(found, expected, rtol=1e-6, atol=1e-9)


def test_hessian_k_is_checked():
    model, params, masks, x, y = _tiny()
    with pytest.raises(ConfigError, match="hessian_k=10000"):
        hessian_top_eigenvalues(model, params, masks, x, y, k=10_000)


def test_interpolation_endpoints_are_the_two_networks():
    model, start, masks, x, y = _tiny()
    torch.manual_seed(1)
    end = {k: torch.randn_like(v) for k, v in start.items()}
    split = Split(x, y)
    line = interpolate(model, start, end, {}, {"train": split}, points=5)
    assert list(line["alpha"]) == [0.0, 0.25, 0.5, 0.75, 1.0]
    for params, row in ((start, 0), (end, 4)):
        expected = F.cross_entropy(functional_call(model, params, (x,)), y).item()
        assert line["train_loss"][row] == pytest.approx(expected, rel=1e-5)


def test_hessian_uses_the_trained_networks_batch_norm_statistics(monkeypatch):
    import lt_utils.chapters.landscape as landscape
    from lt_utils.engine.data import load_dataset
    from lt_utils.engine.hparams import TrainConfig
    from lt_utils.engine.pruning import dense_masks
    from lt_utils.engine.stack import init_states
    from lt_utils.engine.training import train_stack

    # one Hessian-vector product H @ 1 stands in for Lanczos: it shows which statistics the loss used
    monkeypatch.setattr(landscape, "eigsh", lambda op, k, **kw: op.matvec(np.ones(op.shape[0]))[:k])
    data = load_dataset("synthetic_cifar10", None, "cpu", train_eval_size=50, synthetic_size=600)
    model, params, buffers = init_states("resnet20", [0])
    masks = dense_masks(params, model.layer_kinds)
    train = TrainConfig(optimizer="sgd", lr=0.05, iterations=4, eval_every=4, batch_size=16)
    trained = train_stack(model, params, buffers, masks, data, train, [0])
    x, y = data.train.x[:8], data.train.y[:8]
    found = landscape.trained_hessian(model, {"params": trained.params, "masks": masks, "buffers": trained.buffers},
                                      0, x, y, k=50)
    one, mask = {k: v[0] for k, v in trained.params.items()}, {k: v[0] for k, v in masks.items()}
    own = init_states("resnet20", [0])[0]  # a model holding the trained statistics as its own
    own.load_state_dict(one | {k: v[0] for k, v in trained.buffers.items()})
    expected = hessian_top_eigenvalues(own, one, mask, x, y, k=50)
    initial = hessian_top_eigenvalues(model, one, mask, x, y, k=50)  # the template's initial statistics
    np.testing.assert_allclose(np.sort(found), np.sort(expected), rtol=1e-4, atol=1e-6)
    assert not np.allclose(np.sort(initial), np.sort(expected), rtol=1e-2)
