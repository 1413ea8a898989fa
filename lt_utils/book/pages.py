"""Book pages computed from stored results: the front page's scoreboard and headline figure, and
the page of each figure not run yet (the paper's values, the planned run, its projected time).

Nothing here is typed in: claims come from :mod:`lt_utils.book.claims` on the tables the book
commits (``book/results``), configurations from :mod:`lt_utils.lottery.presets`, times from the stored
benchmark reports (``book/bench``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lt_utils.book import claims as claim_lib
from lt_utils.book import plots
from lt_utils.book import reference as ref
from lt_utils.book.bench import figure_network_iterations
from lt_utils.book.notebook import rounds_so_far
from lt_utils.engine.data import DATASETS
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.presets import preset
from lt_utils.lottery.results import early_stopping
from lt_utils.lottery.scaling import projected_hours, report_device_type, speedup_bound, stored_benchmarks
from lt_utils.lottery.variants import ITERATIVE, REINIT


@dataclass(frozen=True)
class Page:
    """A figure page: its notebook, the presets a run at the paper's scale uses, and a short title."""

    notebook: str
    title: str
    presets: tuple[str, ...] = ()


PAGES = (
    Page("lenet_imp", "Lenet (Figures 1, 3, 4)", ("lenet",)),
    Page("conv_dropout", "Conv-2/4/6 (Figures 5, 6)",
         ("conv2", "conv4", "conv6", "conv2_dropout", "conv4_dropout", "conv6_dropout")),
    Page("vgg19_warmup", "VGG-19 (Figure 7)", tuple(p for p, _ in ref.VGG19_SETTINGS.values())),
    Page("imp_landscape", "Inside IMP (extension)"),
    Page("dual_tickets", "Finding vs. transforming (extension)"),
)


def figure_presets() -> dict[str, list[ExperimentConfig]]:
    """Each paper figure page's title and its configurations at the paper's scale."""
    return {page.title: [preset(name) for name in page.presets] for page in PAGES if page.presets}


NOT_RUN_YET = "not run yet"


def run_command(notebook: str) -> str:
    return f"python -m lt_utils.book run {notebook} -p device cuda"


def stored_runs(book_dir: Path, notebook: str) -> list[tuple[ExperimentConfig, pd.DataFrame]] | None:
    """The configurations and committed tables of a page's run record, or None when not run."""
    record = book_dir / "runs" / f"{notebook}.json"
    if not record.exists():
        return None
    runs = []
    for run in json.loads(record.read_text())["runs"]:
        path = book_dir / "results" / f"{run['key']}.csv.gz"
        if not path.exists():
            return None
        runs.append((ExperimentConfig.from_dict(run["config"]), pd.read_csv(path)))
    return runs


def run_devices(book_dir: Path, notebook: str) -> list[str]:
    """The devices a page's committed runs trained on (from its run record)."""
    runs = json.loads((book_dir / "runs" / f"{notebook}.json").read_text())["runs"]
    return sorted({name for run in runs for name in run["device"]})


def scale_summary(cfg: ExperimentConfig, full: ExperimentConfig | None, last_round: int | None = None) -> str:
    """``trials, iterations`` of a run, against the paper's where there is a full-scale preset;
    ``last_round``: how far a run in parts has gone."""
    parts = []
    for name, value, paper in (("trials", cfg.trials, full and full.trials),
                               ("iterations", cfg.train.iterations, full and full.train.iterations),
                               ("reinitializations per trial", cfg.reinits, full and full.reinits)):
        if name.startswith("reinit") and not paper:  # a chapter's run: no reinitializations to compare
            continue
        parts.append(f"{value:,} of {paper:,} {name}" if paper and paper != value else f"{value:,} {name}")
    if cfg.name.endswith("smoke") or DATASETS[cfg.dataset].synthetic:
        parts.insert(0, "smoke run")
    elif full is not None and cfg.dataset != full.dataset:
        parts.append(f"data: {DATASETS[cfg.dataset].label}")
    if cfg.train.patience is not None:
        where = "pruned where it stopped" if cfg.prune_at == "stop" else "masks from the end of the schedule"
        parts.append(f"early termination after {cfg.train.patience:,} iterations without improvement ({where})")
    if cfg.train.test_eval == "where_read":
        parts.append("test set evaluated only where read")
    if cfg.reinits and cfg.reinit_rounds:
        parts.append(f"reinitializations at rounds {', '.join(map(str, cfg.reinit_rounds))} only")
    if last_round is not None and last_round < cfg.rounds:
        parts.append(rounds_so_far(last_round, cfg.rounds))
    elif last_round is not None and cfg.rounds:
        parts.append(f"rounds 0–{cfg.rounds}")
    return ", ".join(parts)


def _full_scale(cfg: ExperimentConfig) -> ExperimentConfig | None:
    name = cfg.name.removesuffix("_smoke")
    try:
        return preset(name)
    except ValueError:
        return None


def page_claims(page: Page, runs: list[tuple[ExperimentConfig, pd.DataFrame]] | None,
                book_dir: Path) -> list[claim_lib.Claim]:
    """The claims a page checks, measured on its committed tables (``runs``), or the claims it
    will check, marked not run yet, when it has none."""
    if runs is None:
        return claim_lib.not_run_claims(page.notebook)
    tables = {cfg.name.removesuffix("_smoke"): table for cfg, table in runs}
    configs = {cfg.name.removesuffix("_smoke"): cfg for cfg, _ in runs}
    if page.notebook in ("lenet_imp", "conv_dropout", "vgg19_warmup"):
        return claim_lib.evaluate_claims(page.notebook, tables, configs)
    cfg, table = runs[0]
    if page.notebook == "imp_landscape":
        folder = book_dir / "results" / cfg.key / "landscape"
        extra = {"interpolation": pd.read_csv(next(folder.glob("interpolation_*.csv.gz"))),
                 "hessian": pd.read_csv(next(folder.glob("hessian_*.csv.gz")))}
        landscape = pd.concat([table, pd.read_csv(folder / "comparison.csv.gz")])
        return claim_lib.evaluate_claims(page.notebook, {"landscape": landscape}, extra=extra)
    exports = json.loads((book_dir / "runs" / f"{page.notebook}.json").read_text())["runs"][0]["exports"]
    transformed = [pd.read_csv(path) for path in sorted((book_dir / "results" / exports[0]).glob("*.csv.gz"))]
    per_net = early_stopping(pd.concat([table, *transformed], ignore_index=True))
    return claim_lib.evaluate_claims(page.notebook, {}, extra={"dual_per_net": per_net})


def scoreboard(book_dir: Path) -> pd.DataFrame:
    """Every claim the book checks, one row each: page, claim, the paper's value, this book's,
    the verdict, and the scale of the run (or the command that runs it)."""
    rows = []
    for page in PAGES:
        runs = stored_runs(book_dir, page.notebook)
        if runs:
            summaries = [f"{cfg.name}: " * (len(runs) > 1)
                         + scale_summary(cfg, _full_scale(cfg), int(table["round"].max()) if len(table) else None)
                         for cfg, table in runs]  # each run named, where a page has several
            scale = f"run at {'; '.join(summaries)}, on {', '.join(run_devices(book_dir, page.notebook))}"
        else:
            scale = f"not run yet; `python -m lt_utils.book run {page.notebook}` runs it"
        for claim in page_claims(page, runs, book_dir):
            rows.append({"page": page.notebook, "title": page.title, "claim": claim.claim, "paper": claim.paper,
                         "this book": claim.shown(), "reproduced when": claim.rule,
                         "verdict": NOT_RUN_YET if runs is None else claim.verdict, "run at": scale})
    return pd.DataFrame(rows)


def markdown_table(frame: pd.DataFrame) -> str:
    """A MyST pipe table of ``frame`` (cells may hold roles such as ``{doc}``)."""
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def scoreboard_page(book_dir: Path) -> str:
    """The front page's scoreboard, as Markdown to include: a count of the verdicts, then each
    page's claims under a line that links the page and says at what scale it was run."""
    board = scoreboard(book_dir)
    counts = board["verdict"].value_counts()
    summary = ", ".join(f"{counts[v]} {v}" for v in (*claim_lib.VERDICTS, NOT_RUN_YET) if v in counts)
    lines = [f"Of the {len(board)} claims the book checks: {summary}.", ""]
    for (page, title, scale), rows in board.groupby(["page", "title", "run at"], sort=False):
        lines += [f"**{{doc}}`{title} <figures/{page}>`**: {scale}.", "",
                  markdown_table(rows[["claim", "paper", "this book", "reproduced when", "verdict"]]), ""]
    return "\n".join(lines)


def headline_figure(book_dir: Path) -> Any:
    """Winning tickets against random reinitialization, from the committed Lenet run (the paper's
    Figure 4 left panels); the paper's values alone when the Lenet page has not been run."""
    runs = stored_runs(book_dir, "lenet_imp")
    if runs is None:
        fig, axes = plots.figure(1, 1, height=3.0)
        plots.reference_line(axes[0, 0], 100 * ref.LENET_UNPRUNED_TEST_ACC,
                             f"unpruned about {100 * ref.LENET_UNPRUNED_TEST_ACC:.0f}%")
        earlier, at = ref.LENET_CLAIMS["es_speedup_21"]
        plots.reference_pm(axes[0, 0], at, f"tickets {100 * earlier:.0f}% earlier")
        plots.pm_axis(axes[0, 0])
        return fig
    table = runs[0][1]
    return plots.early_stopping_figure(table, [ITERATIVE, REINIT])


def placeholder_page(page: Page, title: str, bench_dir: Path, figure_name: str) -> str:
    """The page of a figure not run yet: what the paper reports, the run it will show, the time
    that run is projected to take, and the command that runs it."""
    configs = [preset(name) for name in page.presets]
    lines = [f"# {title}", "", "```{important}",
             "**Not run yet.** This book shows no result of its own for this figure. Everything below is",
             "the paper's (labelled *paper*) or the plan of a run, computed from the package's presets.", "```",
             "", "## What the paper reports", "",
             f"```{{figure}} {figure_name}", f":name: fig-{page.notebook}-paper", "",
             "The paper's stated values, drawn in the layout of its figures and labelled *paper*. Where the",
             "paper states a value relative to the unpruned network, only its P_m is marked.", "```", "",
             markdown_table(pd.DataFrame([{"claim": c.claim, "paper": c.paper, "verdict": NOT_RUN_YET}
                                          for c in claim_lib.not_run_claims(page.notebook)])), "",
             "## The run this page will show", "", markdown_table(configuration_table(configs)), "",
             projected_time(configs, bench_dir), "", "## Running it", "", "```bash",
             run_command(page.notebook), "```", "", ray_note(configs), "",
             f"The notebook is `notebooks/{page.notebook}.md`; its `parameters` cell lists every setting. The run",
             "writes the executed notebook here, its run record to `book/runs/` and its tables to",
             "`book/results/`; an interrupted run resumes from its last finished round.", ""]
    return "\n".join(lines)


def ray_note(configs: list[ExperimentConfig]) -> str:
    """How much faster ``executor="ray"`` lets ``configs`` run on 8 and 64 GPUs (a projection)."""
    faster = " and ".join(f"up to {speedup_bound(configs, g):.1f}x faster on {g}" for g in (8, 64))
    return (f"On many GPUs, add `-p executor ray` (see the performance page): its {len(configs)} configurations "
            f"run at once, which the chain structure projects to be {faster} GPUs than on one (a projection "
            "from the structure alone, every model at the same rate; no multi-GPU run has been made).")


def configuration_table(configs: list[ExperimentConfig]) -> pd.DataFrame:
    """One row per configuration: what a run at the paper's scale trains."""
    rows = []
    for cfg in configs:
        train = cfg.train
        rows.append({"configuration": f"`{cfg.name}`", "model": cfg.model, "data": cfg.dataset,
                     "trials": cfg.trials, "rounds": cfg.rounds, "reinits": cfg.reinits,
                     "iterations": f"{train.iterations:,}", "batch": train.batch_size,
                     "optimizer": f"{train.optimizer}, lr {train.lr:g}"
                     + (f", warmup {train.warmup_iterations:,}" if train.warmup_iterations else ""),
                     "network-iterations": f"{figure_network_iterations(cfg) / 1e6:,.1f}M"})
    return pd.DataFrame(rows)


_RECORD_A_GPU = ("On a GPU, `python -m lt_utils.book.bench --device cuda --out book/bench/my-gpu.json` records one, "
                 "and this page then shows the projection.")


def projected_time(configs: list[ExperimentConfig], bench_dir: Path, what: str = "the whole run") -> str:
    """The projected wall time of ``configs`` (``what``, in words) on each device whose stored
    benchmark times their models."""

    lines, gpu_timed = [], False
    for report, rates in stored_benchmarks(bench_dir):
        if all(cfg.model in rates for cfg in configs):
            hours = projected_hours(configs, rates, 1, report_device_type(report))
            cpu = report["device"].startswith("CPU")
            gpu_timed |= not cpu
            threads = f", {report['threads']} threads" if cpu else ""
            lines.append(f"- {report['device']}{threads} ({report['date'][:10]}): {hours:,.1f} h, projected from "
                         "the benchmark's fastest fp32 step form (a projection, not a measurement).")
    if not lines:
        models = ", ".join(sorted({cfg.model for cfg in configs}))
        return (f"**Projected time:** no stored benchmark times {models} yet (the stored reports in "
                f"`book/bench/` cover other models). {_RECORD_A_GPU}")
    if not gpu_timed:
        lines.append(f"- GPU: no stored benchmark yet. {_RECORD_A_GPU}")
    return f"**Projected time** of {what}, from the stored benchmark reports:\n\n" + "\n".join(lines)


def notebook_title(notebook_source: Path) -> str:
    """The first level-1 heading of a notebook's source."""
    for line in notebook_source.read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return notebook_source.stem


PAPER_FIGURES = {"conv_dropout": plots.paper_conv_figure, "vgg19_warmup": plots.paper_vgg_figure}


def write_generated_pages(root: Path, book_dir: Path) -> None:
    """Write the scoreboard, the headline figure and the page of each figure not run yet."""
    import matplotlib.pyplot as plt

    generated = book_dir / "generated"
    generated.mkdir(exist_ok=True)
    (generated / "scoreboard.md").write_text(scoreboard_page(book_dir))
    fig = headline_figure(book_dir)
    fig.savefig(generated / "headline.png", metadata={"Software": None})
    plt.close(fig)
    for page in PAGES:
        if (book_dir / "figures" / f"{page.notebook}.ipynb").exists() or page.notebook not in PAPER_FIGURES:
            continue
        fig = PAPER_FIGURES[page.notebook](ref)
        fig.savefig(book_dir / "figures" / f"{page.notebook}_paper.png", metadata={"Software": None})
        plt.close(fig)
        title = notebook_title(root / "notebooks" / f"{page.notebook}.md")
        text = placeholder_page(page, title, book_dir / "bench", f"{page.notebook}_paper.png")
        (book_dir / "figures" / f"{page.notebook}.md").write_text(text)
