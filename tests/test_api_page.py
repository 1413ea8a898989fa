"""The API page (book/api.md) names objects that exist, so a rename fails here instead of
leaving an empty entry in the book; and the book's static files are where _config.yml says."""

import importlib
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "api.md"
# ".. autofunction:: lt_utils.x.y" in {eval-rst} blocks, or "```{autofunction} lt_utils.x.y" in MyST.
DIRECTIVE = re.compile(r"^(?:\s*\.\. (auto\w+)::|```\{(auto\w+)\})\s+(\S+)", re.MULTILINE)
MEMBERS = re.compile(r"^\s*:members:\s*(.+)$")
# The entry points a reader reuses: the page must keep documenting them.
REQUIRED = {
    "lt_utils.lottery.presets.preset",
    "lt_utils.lottery.config.ExperimentConfig",
    "lt_utils.engine.hparams.TrainConfig",
    "lt_utils.engine.hparams.PruneConfig",
    "lt_utils.lottery.experiments.run_experiment",
    "lt_utils.lottery.options.RunOptions",
    "lt_utils.lottery.experiments.load_ticket",
    "lt_utils.lottery.experiments.run_experiments",
    "lt_utils.lottery.experiments.load_trained",
    "lt_utils.lottery.results.early_stopping",
    "lt_utils.lottery.results.summarize",
    "lt_utils.lottery.results.accuracy_at",
    "lt_utils.engine.pruning.prune_to_round",
    "lt_utils.chapters.landscape.LandscapeConfig",
    "lt_utils.chapters.landscape.landscape_experiment",
    "lt_utils.chapters.landscape.run_landscape",
    "lt_utils.chapters.landscape.barriers",
    "lt_utils.chapters.landscape.spectrum_summary",
    "lt_utils.chapters.transform.TransformConfig",
    "lt_utils.chapters.transform.DualConfig",
    "lt_utils.chapters.transform.run_dual",
    "lt_utils.chapters.transform.dual_summary",
    "lt_utils.book.claims.evaluate_claims",
    "lt_utils.book.claims.claims_table",
}


def directives() -> list[tuple[str, str, list[str]]]:
    """(directive, dotted name, the names its :members: option lists) for each autodoc directive."""
    lines = PAGE.read_text().splitlines()
    found = []
    for i, line in enumerate(lines):
        match = DIRECTIVE.match(line)
        if not match:
            continue
        members = []
        for option in lines[i + 1:]:
            if not option.strip().startswith(":"):
                break
            listed = MEMBERS.match(option)
            if listed:
                members = [m.strip() for m in listed.group(1).split(",") if m.strip()]
        found.append((match.group(1) or match.group(2), match.group(3), members))
    return found


def resolve(name: str) -> object:
    """Import ``name``: a module, or an attribute path inside the longest importable module."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise ModuleNotFoundError(name)


def test_the_page_documents_the_entry_points():
    names = {name for _, name, _ in directives()}
    assert REQUIRED <= names, f"book/api.md no longer documents {sorted(REQUIRED - names)}"


@pytest.mark.parametrize("directive,name,members", directives(), ids=[name for _, name, _ in directives()])
def test_every_documented_object_is_importable(directive, name, members):
    obj = resolve(name)
    if directive == "automodule":
        assert obj.__name__ == name
    else:
        assert callable(obj), f"{name} ({directive}) is not a function or class"
    for member in members:
        assert hasattr(obj, member), f"{name} has no member {member!r} (listed under :members:)"


def test_the_page_is_in_the_toc_and_autodoc_is_on():
    toc = (ROOT / "_toc.yml").read_text()
    assert "file: book/api\n" in toc
    sphinx = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]
    assert "sphinx.ext.autodoc" in sphinx["extra_extensions"]


def test_the_css_files_are_in_the_static_path():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    for css in config["html_css_files"]:
        assert any((ROOT / folder / css).is_file() for folder in config["html_static_path"]), css
