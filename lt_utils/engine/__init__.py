"""The engine: many small networks trained at once as one stacked computation.

Models and their registry, data sets held on the device, pruning masks, the training step
(eager, compiled or a CUDA graph) and the training loop. It knows nothing of lottery tickets'
rounds or of stored results, and imports only the top modules (:mod:`lt_utils.errors`,
:mod:`lt_utils.validation`, :mod:`lt_utils.atomic`).
"""

from lt_utils.engine.data import DATASETS, Dataset, Split, load_dataset
from lt_utils.engine.hparams import PruneConfig, TrainConfig
from lt_utils.engine.models import MODELS, PrunableModel, build_model, models_where
from lt_utils.engine.pruning import dense_masks, percent_remaining, prune_to_round, random_masks_like
from lt_utils.engine.stack import init_states
from lt_utils.engine.training import TrainResult, evaluate_stack, train_stack

__all__ = [
    "DATASETS", "MODELS", "Dataset", "PrunableModel", "PruneConfig", "Split", "TrainConfig", "TrainResult",
    "build_model", "dense_masks", "evaluate_stack", "init_states", "load_dataset", "models_where", "percent_remaining",
    "prune_to_round", "random_masks_like", "train_stack",
]
