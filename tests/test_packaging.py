import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch"}


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", requirement).groups()
    return name.lower(), spec.replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = dict(_split(d) for d in env["dependencies"] if isinstance(d, str))
    for requirement in project["dependencies"]:
        name, spec = _split(requirement)
        assert conda.get(CONDA_NAMES.get(name, name)) == spec, f"environment.yml lacks {requirement}"
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    extras = set(re.search(r"\[(.*)\]", pip[0]).group(1).split(","))
    assert extras == set(project["optional-dependencies"])
    assert conda["python"] == project["requires-python"]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make book" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_ray_is_an_optional_extra_that_the_test_command_installs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.lower().startswith("ray") for d in project["dependencies"])
    assert any(d.startswith("ray") for d in project["optional-dependencies"]["cluster"])
    makefile = (ROOT / "Makefile").read_text()
    assert '.[cluster]"' in makefile and re.search(r"^test:.*\.cluster", makefile, re.MULTILINE)
    assert not re.search(r"^book:.*\.cluster", makefile, re.MULTILINE)


def test_the_package_imports_without_ray():
    import subprocess
    import sys

    code = ("import sys, pkgutil, importlib, lt_utils; sys.modules['ray'] = None; "
            "[importlib.import_module(m.name) for m in pkgutil.walk_packages(lt_utils.__path__, 'lt_utils.') "
            "if not m.name.endswith('__main__')]")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def test_hosted_ci_installs_torch_once_the_cpu_build_into_the_project_environment():
    """A hosted runner has no GPU and little disk: one torch, PyTorch's CPU build, in .venv before
    make installs the project there (make keeps an installed torch), and MNIST fetched with it."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    runs = [step.get("run", "") for step in workflow["jobs"]["test-and-build"]["steps"]]
    installs = [line.strip() for run in runs for line in run.splitlines() if re.search(r"\bpip3? install\b", line)]
    torch = [line for line in installs if re.search(r"\btorch(vision)?\b", line)]
    assert len(torch) == 1 and f"--index-url {CPU_TORCH_INDEX}" in torch[0], torch
    assert all(line.startswith(".venv/bin/python -m pip ") for line in installs), installs  # no system Python
    test = runs.index("make test DATA_DIR=mnist-data")
    assert any(CPU_TORCH_INDEX in run for run in runs[:test])
    assert all(run.startswith(".venv/bin/python") for run in runs if "MNIST(" in run)
    makefile = (ROOT / "Makefile").read_text()
    project_install = next(line for line in makefile.splitlines() if '-e ".[test,book]"' in line)
    assert "--upgrade" not in project_install and "--force-reinstall" not in makefile and "--clear" not in makefile
