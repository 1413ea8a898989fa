"""Each model and data set is registered once; everything else reads the registries."""

from lt_utils.bench import report as bench
from lt_utils.engine.data import DATASETS, copies_of, model_dataset, real_dataset, stand_in, stats
from lt_utils.engine.models import MODELS, build_model, models_where
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.presets import PRESETS, preset


def test_every_model_names_a_registered_data_set_and_an_existing_preset():
    for name, info in MODELS.items():
        assert info.dataset in DATASETS and not DATASETS[info.dataset].synthetic, name
        if info.preset is not None:
            cfg = preset(info.preset)
            assert (cfg.model, cfg.dataset) == (name, info.dataset)
        assert build_model(name, 0.5 if info.dropout else 0.0, seed=0).spec[0] == name


def test_every_data_set_is_complete():
    for name, info in DATASETS.items():
        assert len(info.mean) == len(info.std) > 0, name
        if info.synthetic:
            assert info.stand_in_for in DATASETS and stand_in(info.stand_in_for) == name
            assert stats(name) == stats(info.stand_in_for)
        else:
            assert info.folder and info.files and info.train_size, name
            assert (info.torchvision and info.check is not None) or info.read is not None, name
            assert real_dataset(name) == name
        if info.variant_of is not None:
            assert copies_of(info.variant_of)[0] == info.variant_of and name in copies_of(info.variant_of)
            assert stats(name) == stats(info.variant_of) and model_dataset(name) == info.variant_of
            assert stand_in(name) == stand_in(info.variant_of)
        assert info.label, name


def test_the_benchmark_and_the_configurations_read_the_registries():
    assert bench.FIGURES == {"lenet": "lenet", "conv2": "conv2", "conv4": "conv4", "conv6": "conv6",
                             "vgg19": "vgg19_lr01_warmup"}
    assert models_where(dropout=True) == ("conv2", "conv4", "conv6")
    assert models_where(chapters=True) == ("lenet", "conv2", "conv4", "conv6")
    assert all(preset(p).model in MODELS for p in PRESETS)
    assert ExperimentConfig("x", "conv2", "synthetic_cifar10").dataset == "synthetic_cifar10"
    cifar_models = [name for name, info in MODELS.items() if info.dataset == "cifar10"]
    assert cifar_models == ["conv2", "conv4", "conv6", "vgg19", "resnet20"]
    assert all(ExperimentConfig("x", m, "cifar10_jpeg").dataset == "cifar10_jpeg" for m in cifar_models)


def test_every_figure_notebook_is_listed_in_the_runner_the_pages_and_the_toc():
    from pathlib import Path

    import yaml

    from lt_utils.book.registry import NOTEBOOKS, PAGES

    root = Path(__file__).resolve().parents[1]
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    listed = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert [page.notebook for page in PAGES] == list(NOTEBOOKS)
    for name in NOTEBOOKS:
        assert (root / "notebooks" / f"{name}.md").exists() and f"book/figures/{name}" in listed
    assert "book/extending" in listed
