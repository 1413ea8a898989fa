"""Lottery-ticket experiments on the engine, and their stored results.

An experiment (:class:`ExperimentConfig`, from a :func:`preset`) is iterative magnitude pruning
with rewinding and its controls (one-shot, random reinitialization, random sparse), run round by
round (:func:`run_experiment`), locally or as Ray tasks; each finished round is stored atomically
under a stable key, with a manifest, and resumed. Imports :mod:`lt_utils.engine` and the top
modules only.
"""

from lt_utils.engine.hparams import PruneConfig, TrainConfig
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.experiments import (
    ExperimentResult,
    load_table,
    load_ticket,
    load_trained,
    run_experiment,
    run_experiments,
    save_resume_point,
    save_resume_points,
)
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import PRESETS, preset, smoke_config
from lt_utils.lottery.results import accuracy_at, divergence_note, early_stopping, summarize, training_lengths
from lt_utils.lottery.stored import stored_table
from lt_utils.lottery.variants import ITERATIVE, ONESHOT, RANDOM_SPARSE, REINIT, VARIANTS, label, labels

__all__ = [
    "ITERATIVE", "ONESHOT", "PRESETS", "RANDOM_SPARSE", "REINIT", "VARIANTS", "ExperimentConfig",
    "ExperimentResult", "PruneConfig", "RunOptions", "TrainConfig", "accuracy_at", "divergence_note",
    "early_stopping", "label", "labels", "load_table", "load_ticket", "load_trained", "preset",
    "run_experiment", "run_experiments", "save_resume_point", "save_resume_points", "smoke_config", "stored_table",
    "summarize", "training_lengths",
]
