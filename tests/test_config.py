import pytest

from lt_utils.book.notebook import configure, scale_note
from lt_utils.engine.data import load_dataset
from lt_utils.engine.hparams import PruneConfig, TrainConfig
from lt_utils.engine.models import build_model
from lt_utils.errors import ConfigError
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.experiments import run_experiment
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import PRESETS, preset


@pytest.mark.parametrize("make,pattern", [
    (lambda: build_model("lenet5"), r"unknown model 'lenet5'.*'conv2'"),
    (lambda: preset("lenet", model="alexnet"), r"model='alexnet'.*one of"),
    (lambda: preset("lenet", fc_rate=1.5), r"fc_rate=1.5.*\(0, 1\)"),
    (lambda: preset("lenet", fc_rate=0), r"fc_rate=0.*\(0, 1\)"),
    (lambda: preset("lenet", trials=0), r"trials=0.*positive integer"),
    (lambda: preset("lenet", trails=3), r"unknown setting.*'trails'.*'trials'"),
    (lambda: preset("lenett"), r"unknown preset 'lenett'.*'lenet'"),
    (lambda: preset("lenet", optimizer="rmsprop"), r"optimizer='rmsprop'.*'adam', 'sgd'"),
    (lambda: preset("lenet", dataset="cifar10"), r"dataset='cifar10'.*'mnist'"),
    (lambda: preset("lenet", one_shot_rounds=(30,)), r"one_shot_rounds=\(30,\)"),
    (lambda: PruneConfig(strategy="random"), r"strategy='random'.*'layerwise', 'global'"),
    (lambda: TrainConfig(iterations=-5), r"iterations=-5"),
    (lambda: ExperimentConfig.from_dict({"name": "x", "model": "lenet", "dataset": "mnist",
                                         "train": {"itrations": 5}}), r"'itrations'.*'iterations'"),
    (lambda: load_dataset("imagenet"), r"unknown dataset 'imagenet'"),
    (lambda: RunOptions(device="tpu").torch_device(), r"device='tpu'"),
    (lambda: run_experiment(preset("smoke"), devise="cpu"), r"unknown run option.*'devise'.*'device'"),
])
def test_bad_input_names_value_and_choices(make, pattern):
    with pytest.raises(ConfigError, match=pattern):
        make()


def test_every_preset_is_valid_and_round_trips():
    for name in PRESETS:
        cfg = preset(name)
        assert ExperimentConfig.from_dict(cfg.to_dict()) == cfg
        assert cfg.key == ExperimentConfig.from_dict(cfg.to_dict()).key


def test_overrides_change_only_what_is_named():
    base = preset("lenet")
    cfg = base.with_overrides(trials=2, iterations=1000, fc_rate=0.3, lr=None)
    assert (cfg.trials, cfg.train.iterations, cfg.prune.fc_rate, cfg.train.lr) == (2, 1000, 0.3, base.train.lr)
    assert cfg.key != base.key
    assert preset("lenet", rounds=3).one_shot_rounds == (1, 2, 3)


def test_paper_hyperparameters():
    lenet = preset("lenet")
    assert (lenet.train.lr, lenet.train.iterations, lenet.train.batch_size) == (1.2e-3, 50_000, 60)
    assert (lenet.prune.rate_for("fc"), lenet.prune.rate_for("output")) == (0.2, 0.1)
    assert lenet.train.eval_every == 100 and lenet.trials == 5 and lenet.reinits == 3
    conv6 = preset("conv6_dropout")
    assert (conv6.train.iterations, conv6.train.lr, conv6.dropout, conv6.prune.conv_rate) == (90_000, 2e-4, 0.5, 0.15)
    vgg = preset("vgg19_lr01_warmup")
    assert (vgg.train.iterations, vgg.train.batch_size, vgg.train.warmup_iterations) == (112_480, 64, 10_000)
    assert vgg.train.lr_drops == (56_240, 84_360) and vgg.prune.strategy == "global"


def test_a_notebook_asking_fewer_iterations_scales_the_warmup_and_rate_drops_and_says_so():
    full = preset("vgg19_lr01_warmup")
    short = configure("vgg19_lr01_warmup", iterations=full.train.iterations // 4)
    assert short.train.lr_drops == (14_060, 21_090) and short.train.warmup_iterations == 2_500
    note = scale_note(short, "vgg19_lr01_warmup")
    assert "lr_drops=(14060, 21090) (full scale: (56240, 84360))" in note and "warmup_iterations=2500" in note
    own = configure("vgg19_lr01_warmup", iterations=30_000, lr_drops=(20_000,))  # the user's own schedule is kept
    assert own.train.lr_drops == (20_000,) and own.train.warmup_iterations == 10_000
    assert configure("lenet", iterations=1_000).train.lr_drops == ()  # a constant rate stays constant


def test_patience_is_refused_beside_learning_rate_drops():
    import pytest

    from lt_utils.errors import ConfigError
    from lt_utils.lottery.presets import preset

    with pytest.raises(ConfigError, match=r"invalid patience=2000: must be None with lr_drops=\(56240, 84360\)"):
        preset("vgg19_lr01", patience=2_000)


def test_the_dual_chapters_capped_pre_training_is_named_in_its_scale_note():
    from lt_utils.book.notebook import scale_note
    from lt_utils.chapters.transform import TransformConfig, dual_config

    dcfg = dual_config("lenet", iterations=3_000)
    assert dcfg.transform.max_pretrain_iterations == 3_000  # capped at a final run's iterations
    note = scale_note(dcfg.experiment, "lenet", extra={
        "max_pretrain_iterations": (dcfg.transform.max_pretrain_iterations, TransformConfig().max_pretrain_iterations)})
    assert "3,000 of 50,000 pre-training iterations at most (UniLTH, UniDLTH)" in note
