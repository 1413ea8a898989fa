"""The book's committed tables as a results source: re-render a page without retraining.

``book/results/<key>.csv.gz`` holds the whole tidy table of a finished experiment, and
``book/results/<key>/...`` its chapter analyses; ``book/results/MANIFEST.json`` their sha256 and
row counts (``lt_utils.lottery.integrity.record_tables``). A run given ``stored_dir`` reads a
configuration's table from there, after checking it against the manifest and that it is
complete, instead of training.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lt_utils.engine.training import METRICS
from lt_utils.errors import DamagedFileError
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.integrity import table_problems
from lt_utils.lottery.results import KEY_COLUMNS
from lt_utils.lottery.resume import read_resume_point, resume_point_path
from lt_utils.lottery.variants import ITERATIVE, ONESHOT, RANDOM_SPARSE, REINIT


class StoredTableError(DamagedFileError):
    """A committed table is damaged or incomplete; the message names the file and what is wrong."""


def verify_committed(path: Path, stored_dir: str | Path) -> None:
    """Refuse the committed table ``path`` unless ``stored_dir``'s manifest lists it and it matches."""
    problems = table_problems(Path(stored_dir), [path])
    if problems:
        raise StoredTableError(f"{path} cannot be used: {'; '.join(problems)}")


def expected_networks(cfg: ExperimentConfig, round_: int) -> set[tuple[str, int, int]]:
    """The ``(variant, trial, replicate)`` networks that round ``round_`` of ``cfg`` trains."""
    trials = range(cfg.trials)
    nets = {(ITERATIVE, t, 0) for t in trials}
    if round_ > 0:
        nets |= {(REINIT, t, j) for t in trials for j in range(cfg.reinits_at(round_))}
        if cfg.random_sparse:
            nets |= {(RANDOM_SPARSE, t, 0) for t in trials}
        if round_ in cfg.one_shot_rounds:
            nets |= {(ONESHOT, t, 0) for t in trials}
    return nets


def verify_table(cfg: ExperimentConfig, table: pd.DataFrame, path: Path, through: int | None = None) -> None:
    """Refuse a table that lacks a column, a round (up to ``through``, default: every round), a
    network or the last evaluation of ``cfg``."""
    missing = [c for c in (*KEY_COLUMNS, "iteration", *METRICS) if c not in table.columns]
    if missing:
        raise StoredTableError(f"{path}: missing column(s) {missing}")
    # patience and test_eval="where_read" leave metrics unmeasured (empty); see lt_utils.lottery.results
    required = ["round", "iteration", *(["val_loss"] if cfg.train.patience is None else []),
                *(["test_acc"] if cfg.train.patience is None and cfg.train.test_eval == "every" else [])]
    if table[required].isna().any().any():
        raise StoredTableError(f"{path}: empty values in round, iteration or metrics")
    for r in range((cfg.rounds if through is None else through) + 1):
        rows = table[table["round"] == r]
        found = set(zip(rows["variant"], rows["trial"].astype(int), rows["replicate"].astype(int), strict=True))
        lacking = expected_networks(cfg, r) - found
        if lacking:
            raise StoredTableError(f"{path}: round {r} lacks network(s) {sorted(lacking)[:5]} of {cfg.name}")
        last = rows.groupby(["variant", "trial", "replicate"])["iteration"].max()
        if (last != cfg.train.iterations).any():
            raise StoredTableError(f"{path}: round {r} has networks whose last evaluation is not at "
                                   f"iteration {cfg.train.iterations}")


def stored_table(cfg: ExperimentConfig, stored_dir: str | Path | None, key: str | None = None,
                 through: int | None = None) -> pd.DataFrame | None:
    """``cfg``'s committed table (stored under ``key``, by default ``cfg.key``: fp32 on the CPU),
    every round it holds, verified through round ``through`` (default: the last); None when
    ``stored_dir`` has none, or when it stops short of ``through`` and a resume point of the run is
    committed beside it (the run goes on from there: ``lt_utils.lottery.resume``)."""
    if stored_dir is None:
        return None
    key = key or cfg.key
    path = Path(stored_dir) / f"{key}.csv.gz"
    if not path.exists():
        return None
    verify_committed(path, stored_dir)
    try:
        table = pd.read_csv(path)
    except (OSError, EOFError, ValueError) as error:
        raise StoredTableError(f"{path}: cannot be read ({error})") from error
    through = cfg.rounds if through is None else through
    held = int(table["round"].max()) if "round" in table and len(table) else -1
    if held < through:
        point = resume_point_path(stored_dir, key)
        if not point.exists():
            raise StoredTableError(f"{path} holds rounds 0–{held} of {cfg.rounds}, and no resume point of the run is "
                                   f"committed to go on to round {through} ({point}): run 'python -m lt_utils.book "
                                   "pack' where its results are, or ask for the rounds it holds (until_round)")
        next_round = read_resume_point(point)["next_round"]
        if next_round <= held:
            raise StoredTableError(f"{point} goes on from round {next_round}, but {path} holds rounds 0–{held}: "
                                   "the resume point is out of date; run 'python -m lt_utils.book pack' where the "
                                   "run's results are")
        return None
    verify_table(cfg, table, path, held)
    return table


def committed_rounds(stored_dir: str | Path | None, key: str) -> int:
    """How many rounds the committed table of ``key`` holds (0 where there is none); unverified."""
    path = Path(stored_dir or "", f"{key}.csv.gz")
    if stored_dir is None or not path.exists():
        return 0
    try:
        rounds = pd.read_csv(path, usecols=["round"])["round"]
    except (OSError, EOFError, ValueError) as error:
        raise StoredTableError(f"{path}: cannot be read ({error})") from error
    return int(rounds.max()) + 1 if len(rounds) else 0


def stored_copy(stored_dir: str | Path | None, relative: str | Path) -> Path | None:
    """The committed copy of an analysis table (``<key>/...`` inside ``stored_dir``), if any, checked
    against the manifest."""
    if stored_dir is None:
        return None
    path = Path(stored_dir) / relative
    if not path.exists():
        return None
    verify_committed(path, stored_dir)
    return path
