"""Every page the book generates, and only those: the front page's scoreboard and headline figure,
the page of each figure not run yet (the paper's values, the planned run, its projected time), the
reproducibility page (from the run records) and the benchmark's tables.

Nothing here is typed in: claims come from :mod:`lt_utils.book.claims` on the tables the book
commits (``book/results``), configurations from :mod:`lt_utils.lottery.presets`, times from the stored
benchmark reports (``book/bench``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from lt_utils.bench.projection import (
    figure_network_iterations,
    projected_hours,
    report_device_type,
    speedup_bound,
    stored_benchmarks,
)
from lt_utils.book import claims as claim_lib
from lt_utils.book import plots
from lt_utils.book import reference as ref
from lt_utils.book.notebook import (
    UNKNOWN_CODE,
    masks_from,
    package_note,
    read_run_record,
    recorded_runs,
    rounds_so_far,
)
from lt_utils.book.registry import PAGES, Page, paper_scale_configs
from lt_utils.engine.data import DATASETS
from lt_utils.lottery.config import ExperimentConfig
from lt_utils.lottery.plan import chain_runs, tasks
from lt_utils.lottery.presets import preset
from lt_utils.lottery.results import early_stopping, training_lengths
from lt_utils.lottery.variants import ITERATIVE, REINIT
from lt_utils.lottery.variants import label as variant_label


def run_command(notebook: str) -> str:
    return f"python -m lt_utils.book run {notebook} -p device cuda"


def record_runs(book_dir: Path, notebook: str) -> list[dict[str, Any]] | None:
    """The runs of a page's run record (``book_dir/runs/<notebook>.json``), or None when it has none."""
    record = book_dir / "runs" / f"{notebook}.json"
    return read_run_record(record)["runs"] if record.exists() else None


def stored_runs(book_dir: Path,
                runs: list[dict[str, Any]] | None) -> list[tuple[ExperimentConfig, pd.DataFrame]] | None:
    """The configurations and committed tables of a page's recorded ``runs`` (``record_runs``), or None
    when it was not run or a table is missing."""
    if runs is None:
        return None
    stored = []
    for run in runs:
        path = book_dir / "results" / f"{run['key']}.csv.gz"
        if not path.exists():
            return None
        stored.append((ExperimentConfig.from_dict(run["config"]), pd.read_csv(path)))
    return stored


def shown_round(run: dict[str, Any]) -> int | None:
    """The last round a recorded run shows (a run in parts stops short of its configuration's rounds;
    records written before runs in parts show them all)."""
    return run.get("last_round", run["config"]["rounds"])


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
        parts.append(f"early termination after {cfg.train.patience:,} iterations without improvement "
                     f"({masks_from(cfg)})")
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
    exports = record_runs(book_dir, page.notebook)[0]["exports"]
    transformed = [pd.read_csv(path) for path in sorted((book_dir / "results" / exports[0]).glob("*.csv.gz"))]
    per_net = early_stopping(pd.concat([table, *transformed], ignore_index=True))
    return claim_lib.evaluate_claims(page.notebook, {}, extra={"dual_per_net": per_net})


def scoreboard(book_dir: Path) -> pd.DataFrame:
    """Every claim the book checks, one row each: page, claim, the paper's value, this book's,
    the verdict, and the scale of the run (or the command that runs it)."""
    rows = []
    for page in PAGES:
        recorded = record_runs(book_dir, page.notebook)
        runs = stored_runs(book_dir, recorded)
        if runs:
            summaries = [f"{cfg.name}: " * (len(runs) > 1) + scale_summary(cfg, _full_scale(cfg), shown_round(run))
                         for (cfg, _), run in zip(runs, recorded, strict=True)]
            devices = sorted({name for run in recorded for name in run["device"]})
            scale = f"run at {'; '.join(summaries)}, on {', '.join(devices)}"
        else:
            scale = f"not run yet; `python -m lt_utils.book run {page.notebook}` runs it"
        for claim in page_claims(page, runs, book_dir):
            rows.append({"page": page.notebook, "title": page.title, "claim": claim.claim, "paper": claim.paper,
                         "this book": claim.shown(), "reproduced when": claim.rule,
                         "verdict": claim.verdict, "run at": scale})
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
    summary = ", ".join(f"{counts[v]} {v}" for v in claim_lib.VERDICTS if v in counts)
    lines = [f"Of the {len(board)} claims the book checks: {summary}.", ""]
    for (page, title, scale), rows in board.groupby(["page", "title", "run at"], sort=False):
        lines += [f"**{{doc}}`{title} <figures/{page}>`**: {scale}.", "",
                  markdown_table(rows[["claim", "paper", "this book", "reproduced when", "verdict"]]), ""]
    return "\n".join(lines)


def headline_figure(book_dir: Path) -> Any:
    """Winning tickets against random reinitialization, from the committed Lenet run (the paper's
    Figure 4 left panels); the paper's values alone when the Lenet page has not been run."""
    runs = stored_runs(book_dir, record_runs(book_dir, "lenet_imp"))
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
    configs = page.paper_scale()
    lines = [f"# {title}", "", "```{important}",
             "**Not run yet.** This book shows no result of its own for this figure. Everything below is",
             "the paper's (labelled *paper*) or the plan of a run, computed from the package's presets.", "```",
             "", "## What the paper reports", "",
             f"```{{figure}} {figure_name}", f":name: fig-{page.notebook}-paper", "",
             "The paper's stated values, drawn in the layout of its figures and labelled *paper*. Where the",
             "paper states a value relative to the unpruned network, only its P_m is marked.", "```", "",
             markdown_table(pd.DataFrame([{"claim": c.claim, "paper": c.paper, "verdict": claim_lib.NOT_RUN_YET}
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


_RECORD_A_GPU = ("On a GPU, `python -m lt_utils.bench --device cuda --out book/bench/my-gpu.json` records one, "
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
        if (book_dir / "figures" / f"{page.notebook}.ipynb").exists() or page.paper_figure is None:
            continue
        fig = page.paper_figure(ref)
        fig.savefig(book_dir / "figures" / f"{page.notebook}_paper.png", metadata={"Software": None})
        plt.close(fig)
        title = notebook_title(root / "notebooks" / f"{page.notebook}.md")
        text = placeholder_page(page, title, book_dir / "bench", f"{page.notebook}_paper.png")
        (book_dir / "figures" / f"{page.notebook}.md").write_text(text)


def reproducibility_page(record_dir: Path) -> str:
    """Markdown for the reproducibility page, generated from the run records."""
    lines = ["# Reproducibility", "",
             "Generated from the run records that the figure notebooks write (`book/runs/*.json`).", "",
             "A code version is `git describe --always --dirty` of the checkout that ran: a `-dirty` suffix means "
             "it had uncommitted changes, so the commit alone does not pin the code (the hash of the package's "
             "files, where recorded, does), and *unknown* marks rounds recorded before versions were kept. Such "
             "runs cannot be traced to one commit; re-running them with `python -m lt_utils.book run` from a clean "
             "checkout can.", ""]
    records = sorted(record_dir.glob("*.json")) if record_dir.exists() else []
    if not records:
        lines.append("No figure has been run yet: every figure page says how to produce it.")
    for path in records:
        data = read_run_record(path)
        lines += [f"## {data['notebook']}", ""]
        for run in recorded_runs(data):
            cfg = run["config"]
            compared = " — compared with this page's run" if run in data.get("compared", []) else ""
            lines += [f"### {cfg['name']} (`{run['key']}`){compared}", "",
                      "| | |", "|---|---|",
                      f"| device | {', '.join(run['device'])} |",
                      f"| training step | {', '.join(run.get('step', ['eager']))} |",
                      f"| precision | {', '.join(run.get('precision', ['fp32']))} |",
                      f"| executor | {', '.join(run.get('executor', ['local']))} |",
                      f"| wall time of the training rounds | {run['wall_seconds'] / 60:.1f} min "
                      f"({run['networks_trained']} networks) |",
                      f"| finished | {run['finished']} |",
                      f"| torch | {', '.join(run['torch'])} (a build for CUDA {run['cuda']}) |",
                      f"| python | {run['python']} |",
                      f"| code that produced the numbers | {', '.join(run.get('code') or [UNKNOWN_CODE])} |",
                      f"| package files when trained | "
                      f"{'; '.join(package_note(p) for p in run.get('trained_by_package') or [None])} |",
                      f"| code that drew the page | {run.get('drawn_by_code', 'not recorded')} |",
                      f"| package files when drawn | {package_note(run.get('drawn_by_package'))} |", "",
                      "```json", json.dumps(cfg, indent=1), "```", ""]
    return "\n".join(lines)


def benchmark_table(bench_dir: Path) -> str:
    """Markdown tables of the benchmark reports in ``bench_dir`` (written by ``python -m lt_utils.bench``);
    reports with the plain loop and the device's peak also get a column for each and a summary per model."""
    reports = sorted(bench_dir.glob("*.json")) if bench_dir.exists() else []
    if not reports:
        return "No benchmark has been recorded yet.\n"
    lines = []
    for path in reports:
        report = json.loads(path.read_text())
        if "peak" in report:
            lines += _benchmark_with_peak(report)
            continue
        lines += [f"### {report['device']} ({report['date'][:10]})", "",
                  f"torch {report['torch']}, CPU threads: {report['threads']}; engine timed over "
                  f"{report['iterations']} iterations, reference over {report['reference_iterations']}. "
                  "Each step form: network-iterations per second, its ratio to the reference, and the "
                  "compile time spent before timing.", "",
                  "| model | networks at once | reference (it/s) | engine, by step form | fastest in fp32 "
                  "| projected figure (h) | one run (min) |", "|---|---|---|---|---|---|---|"]
        for name, m in report["models"].items():
            forms = "; ".join(f"{step}: {e['network_iterations_per_s']:.1f} ({e['ratio']:.1f}x"
                              + (f", compiled in {e['compile_seconds']:.0f} s)" if e["compile_seconds"] else ")")
                              for step, e in m["engine"].items())
            lines.append(f"| {name} | {m['networks_at_once']} | {m['reference_iterations_per_s']:.1f} | {forms} "
                         f"| {m['fastest_step']}, {m['ratio']:.1f}x | {m['projected_figure_hours']:.2f} "
                         f"| {m['projected_single_run_minutes']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def _benchmark_with_peak(report: dict[str, Any]) -> list[str]:
    """The lines of a report that times both references and the device's peak (rates at the paper's
    schedule, evaluation included)."""
    peak = report["peak"]
    bf16 = "yes" if peak["bf16_native"] else f"no ({peak.get('bf16_note', 'bf16 left out')})"
    lines = [f"### {report['device']} ({report['date'][:10]})", "",
             f"torch {report['torch']}, CPU threads: {report['threads']}; training steps timed over "
             f"{report['iterations']} iterations (engine) and {report['reference_iterations']} (references), "
             "evaluation timed apart; rates are for the figure's whole schedule, evaluation included "
             "(network-iterations per second). Peak measured in the same run: an fp32 matrix product at "
             f"{peak['matmul_fp32_gflop_per_s']:.1f} GFLOP/s, Conv-2's convolution alone at "
             f"{peak['conv2_conv_fp32_gflop_per_s']:.1f} GFLOP/s; native bf16: {bf16}. Peak memory of the "
             f"benchmark's process: {report.get('peak_memory_gib') or 0:.1f} GiB.", "",
             "| model | networks at once | reference (it/s) | plain loop (it/s) | engine, by step form "
             "| fastest in fp32 | share of peak (matmul, conv) | projected figure (h) | one run (min) |",
             "|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for name, m in report["models"].items():
        forms = "; ".join(f"{step}: {e['network_iterations_per_s']:.2f} ({e['ratio']:.2f}x, {e['ratio_to_plain']:.2f}x"
                          + (f", compiled in {e['compile_seconds']:.0f} s)" if e["compile_seconds"] else ")")
                          for step, e in m["engine"].items())
        at_once = m["networks_at_once"]
        at_once = f"{at_once}" if at_once == m["networks_per_round"] else f"{at_once} (of {m['networks_per_round']})"
        lines.append(f"| {name} | {at_once} | {m['reference_iterations_per_s']:.2f} "
                     f"| {m['plain_iterations_per_s']:.2f} | {forms} "
                     f"| {m['fastest_step']}, {m['ratio']:.2f}x, {m['ratio_to_plain']:.2f}x "
                     f"| {m['share_of_matmul_peak']:.0%}, {m['share_of_conv_peak']:.0%} "
                     f"| {m['projected_figure_hours']:.1f} | {m['projected_single_run_minutes']:.1f} |")
        stacking = m["stacking_step_network_iterations_per_s"]
        stacks = ", ".join(f"{size} at once: {rate:.2f}" for size, rate in stacking.items())
        fastest, plain = m["engine"][m["fastest_step"]], m["plain_parts"]
        notes.append(f"- **{name}**: training steps {fastest['step_network_iterations_per_s']:.2f} "
                     f"network-iterations/s (plain loop {plain['step_network_iterations_per_s']:.2f}); evaluation "
                     f"{fastest['eval_network_images_per_s']:.0f} network-images/s at batch {m['eval_batch']} "
                     f"(plain loop {plain['eval_network_images_per_s']:.0f}); training steps by stack size, "
                     f"eager: {stacks}; {m['gflop_per_network_iteration']:.2f} GFLOP per network-iteration "
                     f"(evaluation included), {m['engine_gflop_per_s']:.1f} GFLOP/s.")
    return [*lines, "", "Ratios: to the reference, then to the plain loop. Per model:", "", *notes, ""]


# --- the performance page's projections on many devices (the arithmetic: lt_utils.bench.projection) ---

DEVICE_COUNTS = (1, 8, 64)
"""The device counts the book projects to."""


def structure_table(figures: dict[str, list[ExperimentConfig]]) -> str:
    """Markdown: each figure's chains, networks, tasks and longest chain, and how much faster its
    chain structure lets it run on ``DEVICE_COUNTS`` devices than on one (equal rates)."""
    gains = " | ".join(f"{g} devices" for g in DEVICE_COUNTS[1:])
    lines = [f"| figure | chains | networks | Ray tasks | longest chain (network-runs in sequence) | {gains} |",
             "|---|---|---|---|---|" + "---|" * len(DEVICE_COUNTS[1:])]
    for title, cfgs in figures.items():
        runs = [chain_runs(cfg) for cfg in cfgs]
        bounds = " | ".join(f"{speedup_bound(cfgs, g):.1f}x faster" for g in DEVICE_COUNTS[1:])
        lines.append(f"| {title} | {len(cfgs)} | {sum(t for _, t in runs):,} | {sum(tasks(c) for c in cfgs):,} "
                     f"| {max(s for s, _ in runs):,} | {bounds} |")
    return "\n".join(lines) + "\n"


def hours_table(figures: dict[str, list[ExperimentConfig]], bench_dir: Path) -> tuple[str, bool]:
    """Markdown: each figure's projected wall time on ``DEVICE_COUNTS`` devices of each kind whose
    stored benchmark report times all its models; and whether any of those devices is a GPU."""
    head = " | ".join(f"{g} device{'s' if g > 1 else ''}" for g in DEVICE_COUNTS)
    lines, gpu = [f"| figure | device (benchmark of) | {head} |", "|---|---|" + "---|" * len(DEVICE_COUNTS)], False
    for title, cfgs in figures.items():
        for report, rates in stored_benchmarks(bench_dir):
            if all(cfg.model in rates for cfg in cfgs):
                gpu |= report_device_type(report) == "cuda"
                hours = " | ".join(f"{projected_hours(cfgs, rates, g, report_device_type(report)):,.1f} h"
                                   for g in DEVICE_COUNTS)
                lines.append(f"| {title} | {report['device']} ({report['date'][:10]}) | {hours} |")
    return "\n".join(lines) + "\n", gpu


def scaling_page_section(figures: dict[str, list[ExperimentConfig]], bench_dir: Path) -> str:
    """The performance page's projections for ``executor="ray"``: structure, then hours."""
    hours, gpu = hours_table(figures, bench_dir)
    note = ("" if gpu else "No GPU benchmark is stored yet, so the hours above are for devices like the stored "
            "CPU benchmark's; `python -m lt_utils.bench --device cuda --out book/bench/<gpu>.json`, then `make "
            "book`, adds a GPU's rows.\n")
    return ("**Projections, not measurements**, computed by `lt_utils.bench.projection` from each figure's chain "
            "structure at the paper's scale and the stored benchmark reports.\n\n"
            "How much faster the structure lets each figure run on more GPUs (every model at the same rate; on a "
            "GPU a round's Lenet or Conv networks train as one stack, one Ray task):\n\n"
            + structure_table(figures) + "\nProjected wall time, from the stored benchmark reports. On a CPU the "
            "engine trains fewer networks per stack (`lt_utils.engine.models.networks_per_stack`), so a round splits "
            "into more tasks than on a GPU, and a CPU's rows can gain more from more devices than the structure "
            "above allows GPUs:\n\n" + hours + "\n" + note)


def patience_section(book_dir: Path) -> str:
    """Markdown for the performance page: what early termination saved in each committed run that
    used it (its own or one a page compares with), read from its table and run record: the share of
    the schedule's network-iterations each kind of network trained, and the run's wall time."""
    lines = []
    for path in sorted((book_dir / "runs").glob("*.json")) if (book_dir / "runs").is_dir() else []:
        for run in recorded_runs(read_run_record(path)):
            cfg = ExperimentConfig.from_dict(run["config"])
            table_path = book_dir / "results" / f"{run['key']}.csv.gz"
            if cfg.train.patience is None or not table_path.exists():
                continue
            lengths = training_lengths(early_stopping(pd.read_csv(table_path)), cfg.train.iterations)
            shares = lengths.groupby("variant")["share_trained"].mean()
            kinds = ", ".join(f"{variant_label(v)} {100 * share:.0f}%" for v, share in shares.items())
            where = "pruned where it stopped" if cfg.prune_at == "stop" else "masks from the end of the schedule"
            networks = f"{len(lengths)} network{'s' * (len(lengths) != 1)}"
            lines.append(f"- `{run['key']}` ({cfg.name}, patience {cfg.train.patience:,}, {where}; "
                         f"{networks} of {cfg.train.iterations:,} iterations): trained "
                         f"{100 * lengths['share_trained'].mean():.0f}% of the schedule's network-iterations "
                         f"({kinds}), in {run['wall_seconds'] / 60:,.0f} min on {', '.join(run['device'])}.")
    runs = ("Measured in the committed runs that used early termination (read from their tables and run "
            "records; a wall time is the run's own, on the machine and under the load it ran with):\n\n"
            + "\n".join(lines) + "\n") if lines else "No committed run used early termination yet.\n"
    return runs + "".join("\n" + settings_table(report) for report in settings_reports(book_dir / "bench"))


def settings_reports(bench_dir: Path) -> list[dict[str, Any]]:
    """The stored reports of ``python -m lt_utils.bench.settings`` (``bench_dir/settings/*.json``), by
    file name: apart from the benchmark reports, which ``benchmark_table`` reads."""
    return [json.loads(path.read_text()) for path in sorted((bench_dir / "settings").glob("*.json"))]


def settings_table(report: dict[str, Any]) -> str:
    """Markdown for one report of ``lt_utils.bench.settings``: each setting's wall time beside the full
    schedule's, measured in the same run, and the network-iterations it trained."""
    cfg = ExperimentConfig.from_dict(report["config"])
    rows = "".join(f"| {row['setting']} | {row['network_iterations']:,} of {row['schedule_network_iterations']:,} "
                   f"({row['network_iterations'] / row['schedule_network_iterations']:.0%}) | {row['seconds']:,.0f} | "
                   f"{row['time_vs_full']:.2f} |\n" for row in report["settings"])
    each = f"the fastest of {report['repeats']} runs of each" if report["repeats"] > 1 else "one run of each"
    trials = f"{cfg.trials} trial{'s' * (cfg.trials != 1)}"
    reinits = f"{cfg.reinits} random reinitialization{'s' * (cfg.reinits != 1)} per pruned round"
    single = ("" if report["repeats"] > 1 else "\n*One run of each*, so the spread between runs is not measured: "
              "a difference between two rows smaller than that spread, such as a setting that does less work taking "
              "longer, may be noise (`--repeats N` times each setting N times).\n")
    return (f"*Timed side by side* (`python -m lt_utils.bench.settings`; {report['device']}, {report['threads']} "
            f"threads, torch {report['torch']}, {report['date'][:10]}): one `{cfg.model}` "
            f"experiment ({cfg.train.iterations:,} iterations, rounds 0 to {cfg.rounds}, {trials}, {reinits}; "
            f"patience {report['patience']:,}) under each setting, in turns, each from an empty results folder. "
            f"Seconds: {each}; the last column divides them by the full schedule's, from the same report.\n\n"
            "| setting | network-iterations trained | seconds | time vs the full schedule |\n"
            "|---|---:|---:|---:|\n" + rows + single)


def write_pages(book_dir: Path, root: Path) -> None:
    """Regenerate the pages computed from records and stored results: reproducibility, the
    benchmark table, what early termination saved, the front page's scoreboard and the pages of
    figures not run yet."""

    (book_dir / "reproducibility.md").write_text(reproducibility_page(book_dir / "runs"))
    (book_dir / "bench").mkdir(exist_ok=True)
    (book_dir / "bench" / "table.md").write_text(benchmark_table(book_dir / "bench"))
    (book_dir / "bench" / "scaling.md").write_text(scaling_page_section(paper_scale_configs(), book_dir / "bench"))
    (book_dir / "bench" / "patience.md").write_text(patience_section(book_dir))
    write_generated_pages(root, book_dir)
