"""Helpers that every figure notebook calls: configuration from parameters, the scale banner,
and the run record."""

from __future__ import annotations

import dataclasses
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lt_utils.atomic import atomic_write_json
from lt_utils.engine.data import DATASETS
from lt_utils.engine.models import models_where
from lt_utils.errors import ConfigError, DamagedFileError
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.experiments import run_experiments, run_info
from lt_utils.lottery.integrity import code_version, load_checked, package_state
from lt_utils.lottery.options import RunOptions
from lt_utils.lottery.presets import preset, refuse_with_smoke, smoke_config, smoke_overrides
from lt_utils.lottery.results import divergence_note


@dataclass(frozen=True)
class PageSetup:
    """What a page's parameters ask for: its runs' configurations (by preset or chapter name), each
    run's label on the page, how they run (one ``RunOptions``), and a chapter's own configuration
    (``LandscapeConfig``, ``DualConfig``; None on a figure page)."""

    configs: dict[str, ExperimentConfig]
    options: RunOptions
    smoke: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    chapter: Any = None

    @property
    def config(self) -> ExperimentConfig:
        """The configuration of a page of one run."""
        if len(self.configs) != 1:
            raise ConfigError(f"this page runs {len(self.configs)} configurations ({sorted(self.configs)}), not one")
        return next(iter(self.configs.values()))

    def label(self, name: str) -> str:
        """The page's label of the run ``name`` (its name where the page gives none)."""
        return self.labels.get(name, name)


def scaled_schedule(full: ExperimentConfig, overrides: dict[str, Any]) -> dict[str, Any]:
    """The warmup and learning-rate drops of ``full``'s schedule, scaled to the ``iterations`` that
    ``overrides`` asks for (VGG-19's drops at 56,240 and 84,360 of 112,480 iterations fall at half
    and three quarters of a shorter run), unless it sets them itself; nothing for a schedule without them.
    The scale note names the scaled values beside the paper's."""
    iterations = overrides.get("iterations")
    if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1 \
            or iterations == full.train.iterations or {"lr_drops", "warmup_iterations"} & set(overrides):
        return {}
    factor = iterations / full.train.iterations
    scaled: dict[str, Any] = {}
    if full.train.lr_drops:
        scaled["lr_drops"] = tuple(sorted({max(1, round(drop * factor)) for drop in full.train.lr_drops}))
    if full.train.warmup_iterations:
        scaled["warmup_iterations"] = round(full.train.warmup_iterations * factor)
    return scaled


def configure(preset_name: str, smoke: bool = False, **overrides: Any) -> ExperimentConfig:
    """The preset with the notebook's parameters applied (``None`` keeps the preset's value); with
    ``smoke``, CI's tiny version of it (``lt_utils.lottery.presets.smoke_config``); a setting given
    beside ``smoke`` that the tiny version replaces is refused (a data set is not: the stand-in
    stands for every copy of its data set)."""
    replaced = {k: v for k, v in smoke_overrides(preset(preset_name)).items() if k != "dataset"}
    refuse_with_smoke(smoke, {name: value for name, value in overrides.items() if name in replaced})
    cfg = preset(preset_name, **(scaled_schedule(preset(preset_name), overrides) | overrides))
    return smoke_config(cfg) if smoke else cfg


def differences(cfg: ExperimentConfig, reference: ExperimentConfig) -> dict[str, tuple[Any, Any]]:
    """Fields where ``cfg`` differs from ``reference``: ``{field: (this run, reference)}``."""
    out = {}
    for section in ("train", "prune", None):
        this = dataclasses.asdict(getattr(cfg, section) if section else cfg)
        ref = dataclasses.asdict(getattr(reference, section) if section else reference)
        for key, value in this.items():
            if key in ("train", "prune", "name") or value == ref[key]:
                continue
            out[key] = (value, ref[key])
    return out


SCALE_FIELDS = {"iterations": "iterations", "trials": "trials", "reinits": "reinitializations", "rounds": "rounds",
                "train_eval_size": "tracked training examples", "hold_iterations": "hold iterations",
                "max_pretrain_iterations": "pre-training iterations at most (UniLTH, UniDLTH)"}
"""Settings that make a run smaller than the paper's, with the words a scale note uses for them."""


def masks_from(cfg: ExperimentConfig) -> str:
    """Where a run with ``patience`` takes its masks from, in a few words (``prune_at``)."""
    return "pruned where it stopped" if cfg.prune_at == "stop" else "masks from the end of the schedule"


def protocol_notes(cfg: ExperimentConfig, brief: bool = False) -> list[str]:
    """What a run measured differently from the paper's protocol (``patience``, ``test_eval``), in
    words; ``brief``: named only, for captions (the page's run line explains them)."""
    if brief:
        where = masks_from(cfg) + (" (not the paper's protocol)" if cfg.prune_at == "stop" else "")
        return [*([f"early termination: patience {cfg.train.patience:,}, {where}"]
                  if cfg.train.patience is not None else []),
                *(["test set only where read"] if cfg.train.test_eval == "where_read" else [])]
    notes = []
    if cfg.train.patience is not None and cfg.prune_at == "stop":
        notes.append(f"early termination: patience {cfg.train.patience:,} iterations, pruned where it stopped "
                     "(prune_at='stop', not the paper's protocol: each round prunes the weights where training "
                     "stopped, not at the end of the schedule, so rounds after the first differ from the paper's; "
                     "early-stopping values are those of the full schedule unless a later minimum was cut off; a "
                     "network that stopped has no end-of-training values)")
    elif cfg.train.patience is not None:
        notes.append(f"early termination: patience {cfg.train.patience:,} iterations, masks from the end of the "
                     "schedule (the winning tickets train the whole schedule, as the paper's, and are pruned at its "
                     "end; evaluation pauses once a network's early stop is settled and resumes at the end; the "
                     "controls (reinitializations, one-shot and random sparse networks) stop there, with no "
                     "end-of-training values; a minimum of the validation loss later than patience allows is "
                     "missed, unless it is the last evaluation)")
    if cfg.train.test_eval == "where_read":
        notes.append("test set evaluated only at the early-stopping iteration and at the end of training "
                     "(test accuracy over training is not measured)")
    return notes


def scale_note(cfg: ExperimentConfig, paper: str | ExperimentConfig, smoke: bool = False,
               extra: dict[str, tuple[Any, Any]] | None = None, brief: bool = False) -> str:
    """One line that says at what scale a figure was run, for page banners (and, ``brief``, for
    captions: the protocol's changes named, not explained), and what it measured differently from
    the paper's protocol (:func:`protocol_notes`).

    ``paper`` is the full-scale configuration, or the name of its preset; ``extra`` adds
    differences of settings outside it, as ``{name: (this run, paper)}``."""
    if cfg.name == "smoke" or smoke:
        what = "synthetic stand-in data, " if DATASETS[cfg.dataset].synthetic else ""
        return f"SMOKE RUN ({what}tiny configuration): not a result"
    diff = differences(cfg, preset(paper) if isinstance(paper, str) else paper)
    diff |= {k: v for k, v in (extra or {}).items() if v[0] != v[1]}
    data = diff.pop("dataset", None)  # another copy of the paper's data: named by its label, as every result on it
    data_note = [f"data: {DATASETS[data[0]].label}, not the paper's {DATASETS[data[1]].label}"] if data else []
    notes = protocol_notes(cfg, brief)
    for name in ("patience", "test_eval", "prune_at"):  # named by protocol_notes
        diff.pop(name, None)
    if not diff:
        full = "Full-scale settings" if data else ("Full scale (every other setting as the paper's)" if notes
                                                    else "Full scale (every setting as the paper's)")
        return "; ".join([full, *data_note, *notes])
    reduced = {k for k, (this, full) in diff.items()
               if k in SCALE_FIELDS and isinstance(this, int) and isinstance(full, int) and this < full}
    if cfg.reinit_rounds and "reinit_rounds" in diff:
        reduced.add("reinit_rounds")

    def changed_setting(k: str) -> str:
        if k == "reinit_rounds" and k in reduced:
            at = ", ".join(map(str, cfg.reinit_rounds))
            return f"reinitializations at rounds {at} only (full scale: every round)"
        return f"{diff[k][0]:,} of {diff[k][1]:,} {SCALE_FIELDS[k]}" if k in reduced \
            else f"{k}={diff[k][0]} (full scale: {diff[k][1]})"

    changed = ", ".join(changed_setting(k) for k in diff)
    return "; ".join([f"{'Reduced scale' if reduced else 'Settings changed'}: {changed}", *data_note, *notes])


def read_run_record(path: Path) -> dict[str, Any]:
    """A figure's run record (``book/runs/<notebook>.json``); an unreadable or malformed one is
    refused with :class:`DamagedFileError` naming it."""
    record = load_checked(path, lambda p: json.loads(p.read_text()))
    runs = record.get("runs") if isinstance(record, dict) else None
    compared = record.get("compared", []) if isinstance(record, dict) else None
    if not isinstance(runs, list) or not isinstance(compared, list) or not all(
            isinstance(run, dict) and isinstance(run.get("config"), dict) and isinstance(run.get("key"), str)
            for run in runs + compared):
        raise DamagedFileError(f"{path} is not a run record: it needs 'runs' (and may have 'compared'), lists of "
                               "runs that each have a 'config' and a 'key'")
    return record


def recorded_runs(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every run a page's record names: the page's own (``runs``), then those it only compares with
    (``compared``: their tables are committed too, and their provenance shown)."""
    return [*record["runs"], *record.get("compared", [])]


_REPLACED: dict[Path, list[dict[str, Any]]] = {}
"""The runs that run records overwritten by this process named, by file (newest first): a page saves its
own runs before it draws a comparison, and the record of a run it now only compares with must outlive that."""


def committed_record(record_dir: str | None, notebook: str, key: str) -> dict[str, Any] | None:
    """The run of ``key`` in the committed run record ``<record_dir>/<notebook>.json``, or in the
    record this process replaced there, if any."""
    path = Path(record_dir or "", f"{notebook}.json")
    if not record_dir:
        return None
    runs = (recorded_runs(read_run_record(path)) if path.exists() else []) + _REPLACED.get(path.resolve(), [])
    return next((run for run in runs if run["key"] == key), None)


UNKNOWN_CODE = "unknown (recorded before code versions were kept)"
"""The code version of rounds, and of run records, written before either recorded one."""


def run_record(cfg: ExperimentConfig, options: RunOptions, record_dir: str | None = None, notebook: str = "",
               shown: int | None = None) -> dict[str, Any]:
    """Parameters, device, wall time and versions of a finished run, for the reproducibility page.
    ``options`` are the run's options (they locate its results); ``shown``, the last round its page
    shows (default: the last finished here).

    ``code`` lists the code versions (``integrity.code_version``) that trained its rounds, and
    ``drawn_by_code`` the one that drew the page. A run re-rendered from the book's committed
    tables (fewer rounds in ``results_dir`` than it shows) keeps the record it was committed with, its
    ``code`` included."""
    rounds = run_info(cfg, options.results_dir, options)  # every finished round here
    last_round = len(rounds) - 1 if shown is None else shown
    if len(rounds) - 1 < last_round or not rounds:
        previous = committed_record(record_dir, notebook, cfg.key_for(options.identity(cfg)))
        if previous is not None:
            return previous | {"code": previous.get("code") or [UNKNOWN_CODE], "drawn_by_code": code_version(),
                               "drawn_by_package": package_state()}
    return {
        "config": cfg.to_dict(),
        "key": cfg.key_for(options.identity(cfg)),
        "identity": options.identity(cfg),
        "device": sorted({name for r in rounds for name in r["device_name"].split(", ")}),  # Ray: maybe several
        "step": sorted({form for r in rounds for form in r.get("step", "eager").split(", ")}),  # before: eager
        "precision": sorted({r.get("precision", "fp32") for r in rounds}),
        "executor": sorted({r.get("executor", "local") for r in rounds}),  # rounds recorded before it: local
        "wall_seconds": round(sum(r["wall_seconds"] for r in rounds), 1),
        "networks_trained": sum(r["networks"] for r in rounds),
        "last_round": last_round if last_round >= 0 else None,  # below the config's rounds: a run in parts
        "torch": sorted({r["torch"] for r in rounds}),
        "code": sorted({r.get("code", UNKNOWN_CODE) for r in rounds}) or [UNKNOWN_CODE],
        "drawn_by_code": code_version(),
        "drawn_by_package": package_state(),  # whether lt_utils itself differed from the commit, apart from pages
        "trained_by_package": _distinct([r["package"] for r in rounds if isinstance(r.get("package"), dict)]),
        "python": platform.python_version(),
        "finished": max(r["finished"] for r in rounds) if rounds else None,
        "cuda": torch.version.cuda,
    }


def _distinct(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``items`` without repeats, in a stable order."""
    return [json.loads(text) for text in sorted({json.dumps(item, sort_keys=True) for item in items})]


def package_note(state: dict[str, Any] | None) -> str:
    """In words, whether the package's files (``integrity.package_state``) were those of the commit named."""
    if not isinstance(state, dict):
        return "not recorded"
    commit = (state.get("commit") or "no git commit")[:10]
    clean = {True: f"identical to commit {commit}", False: f"differed from commit {commit}",
             None: "outside a git repository"}.get(state.get("lt_utils_clean"), "not recorded")
    return f"lt_utils {clean} (sha256 {str(state.get('lt_utils_sha256'))[:12]})"


def _assigned_names(source: str) -> set[str]:
    import ast

    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def check_parameters(history: list[str]) -> set[str]:
    """Fail on a mistyped papermill parameter (``-p trails 3``), naming it and the valid ones;
    return the names papermill set (none when the notebook runs with its defaults).

    ``history`` is IPython's ``In``: the first cell run is the parameters cell, and any cell
    run between it and this one (papermill's injected parameters) may only set its names.
    """

    cells = [cell for cell in history if cell.strip()]
    if len(cells) < 2:
        return set()
    declared = _assigned_names(cells[0])
    injected = set().union(*(_assigned_names(cell) for cell in cells[1:-1])) if len(cells) > 2 else set()
    unknown = injected - declared
    if unknown:
        raise ConfigError(f"unknown notebook parameter(s) {sorted(unknown)}; valid parameters are {sorted(declared)}")
    return injected


def save_run_record(notebook: str, records: list[dict[str, Any]], record_dir: str | None,
                    compared: list[dict[str, Any]] | None = None) -> None:
    """Write the run record of a figure notebook (read by the reproducibility page): its runs, and the
    runs it only compares with (``compared``, from :func:`run_record` too; their tables are committed
    with the page's). ``compared=None`` keeps those the record already names: a page saves its own runs
    first, and the runs it compares with once it has drawn the comparison."""
    if record_dir:
        path = Path(record_dir) / f"{notebook}.json"
        previous = read_run_record(path) if path.exists() else {"runs": []}
        if compared is None:
            compared = previous.get("compared", [])
        _REPLACED[path.resolve()] = recorded_runs(previous) + _REPLACED.get(path.resolve(), [])
        record = {"notebook": notebook, "runs": records} | ({"compared": compared} if compared else {})
        atomic_write_json(record, path)


def parse_choices(field_name: str, text: str, valid: dict[str, Any]) -> list[Any]:
    """``"a,b"`` -> ``[valid["a"], valid["b"]]``, or a clear error naming the bad item and the choices."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    bad = [item for item in items if item not in valid]
    if bad or not items:
        raise ConfigError(f"invalid {field_name}={text!r}: use a comma-separated list of {sorted(valid)}")
    return [valid[item] for item in items]


def parse_rounds(field_name: str, text: str | None) -> tuple[int, ...] | None:
    """``"3,7,11"`` -> ``(3, 7, 11)``; ``None`` stays ``None``; anything else is refused, naming it
    (the configuration checks the rounds' range)."""
    if text is None:
        return None
    items = [item.strip() for item in str(text).split(",")]
    if not all(item.isdigit() for item in items):
        raise ConfigError(f"invalid {field_name}={text!r}: use a comma-separated list of round numbers, "
                          "e.g. '3,7,11,14'")
    return tuple(int(item) for item in items)


CONV_MODELS = models_where(dropout=True)
"""The Conv page's networks: the registry's models that also train with dropout (Conv-2/4/6)."""


def conv_presets(models: str, dropout: str) -> list[str]:
    """The Conv page's presets: ``models`` (a comma-separated subset of ``CONV_MODELS``) without
    dropout, then with dropout those that ``dropout`` names: ``"none"``, ``"both"`` (every model) or
    a comma-separated subset of ``models`` (e.g. ``"conv2"``: Conv-4 and Conv-6 only without)."""
    model_names = parse_choices("models", models, {m: m for m in CONV_MODELS})
    items = [item.strip() for item in dropout.split(",") if item.strip()]
    with_dropout = {"none": [], "both": model_names}.get(",".join(items), items)
    if not items or not set(with_dropout) <= set(model_names):
        raise ConfigError(f"invalid dropout={dropout!r}: use 'none', 'both', or a comma-separated subset of the "
                          f"models run, {model_names}")
    return model_names + [f"{m}_dropout" for m in model_names if m in with_dropout]


def run_presets(setup: PageSetup, notebook: str, record_dir: str | None,
                ) -> tuple[dict[str, tuple[ExperimentConfig, Any]], list[dict[str, Any]]]:
    """Run (or resume) each configuration of a page's ``setup`` with its options, and save the run
    record. With ``executor="ray"``, they run at once (``lt_utils.lottery.cluster``). Returns
    ``{name: (config, table)}`` and the run records."""

    results = run_experiments(list(setup.configs.values()), setup.options)  # executor="ray": all at once
    out, records = {}, []
    for (name, cfg), result in zip(setup.configs.items(), results, strict=True):
        out[name] = (cfg, result.table)
        shown = int(result.table["round"].max()) if len(result.table) else None
        records.append(run_record(cfg, setup.options, record_dir, notebook, shown))
    save_run_record(notebook, records, record_dir)
    return out, records


def scale_notes(configs: dict[str, ExperimentConfig], smoke: bool, brief: bool = False) -> str:
    """The scale line of several runs (one per preset), joined; ``brief``: for captions."""
    notes = {name: scale_note(cfg, name, smoke=smoke, brief=brief) for name, cfg in configs.items()}
    if len(set(notes.values())) == 1:
        return next(iter(notes.values()))
    return "; ".join(f"{name}: {note}" for name, note in notes.items())


def rounds_so_far(last_round: int, rounds: int) -> str:
    """How far a run in parts has gone, in words: ``"rounds 0–3 of 14 trained so far"``."""
    done = "round 0" if last_round == 0 else f"rounds 0–{last_round}"
    return f"{done} of {rounds} trained so far"


def progress_note(records: list[dict[str, Any]]) -> str:
    """For runs trained in parts (``until_round``), how far each has gone: ``""`` when every run is whole."""
    parts = [f"{record['config']['name']}: {rounds_so_far(record['last_round'], record['config']['rounds'])} "
             "(a later run trains the rest)" for record in records
             if record.get("last_round") is not None and record["last_round"] < record["config"]["rounds"]]
    return "; ".join(parts)


def device_note(records: list[dict[str, Any]]) -> str:
    """The devices the runs of ``records`` (see :func:`run_record`) trained on, for captions:
    ``"device: ...; step: ..."`` (the step forms that trained them), and the precision where any
    round trained at another than the paper's fp32."""
    names = sorted({name for record in records for name in record["device"]})
    note = f"device: {', '.join(names) or 'none recorded'}"
    steps = sorted({form for record in records for form in record.get("step", [])})  # run_record lists forms
    if steps:
        note += f"; step: {', '.join(steps)}"
    precisions = sorted({p for record in records for p in record.get("precision", ["fp32"])})
    if precisions not in ([], ["fp32"]):
        note += f"; precision: {', '.join(precisions)} (the paper: fp32)"
    return note


def run_line(scale: str, records: list[dict[str, Any]], tables: list[Any]) -> str:
    """A page's run line: its ``scale`` (:func:`scale_note`), how far a run in parts has gone, the
    devices its runs (``records``) trained on, and where a network of ``tables`` diverged."""
    notes = [divergence_note(table) for table in tables]
    return "; ".join(filter(None, [scale, progress_note(records), device_note(records), *notes]))
