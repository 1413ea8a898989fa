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

from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.integrity import table_problems
from lt_utils.lottery.plan import StoredTableError, expected_networks, verify_table  # noqa: F401 (re-exported)
from lt_utils.lottery.resume import read_resume_point, resume_point_path


def verify_committed(path: Path, stored_dir: str | Path) -> None:
    """Refuse the committed table ``path`` unless ``stored_dir``'s manifest lists it and it matches."""
    problems = table_problems(Path(stored_dir), [path])
    if problems:
        raise StoredTableError(f"{path} cannot be used: {'; '.join(problems)}")


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
