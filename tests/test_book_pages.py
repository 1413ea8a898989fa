"""The built book as a reader sees it: each figure once, no broken image, no machine paths,
and the front page's scoreboard with a row for every claim the claims module checks."""

import hashlib
import re
import socket
import subprocess
from pathlib import Path

import pytest

from lt_utils.book.claims import CLAIMS
from lt_utils.book.runner import build

ROOT = Path(__file__).resolve().parents[1]
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(home|Users|root|tmp|work|mnt|opt|var|srv|usr|private)/|[A-Z]:\\\\")


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    """The committed book, built as `make book` builds it (offline, warnings as errors)."""
    out = tmp_path_factory.mktemp("book")
    build(ROOT, ["--path-output", str(out)])
    return out / "_build" / "html"


def _pages(html: Path) -> list[Path]:
    skip = ("genindex.html", "search.html")
    return [p for p in html.rglob("*.html") if "_static" not in p.parts and p.name not in skip]


def _images(page: Path) -> list[tuple[str, bytes]]:
    import base64

    from bs4 import BeautifulSoup

    found = []
    for img in BeautifulSoup(page.read_text(), "html.parser").find_all("img"):
        src = img.get("src", "")
        if src.startswith("data:"):
            found.append((src[:40], base64.b64decode(src.split(",", 1)[1])))
        elif not src.startswith("http"):
            target = (page.parent / src).resolve()
            found.append((src, target.read_bytes() if target.exists() else b""))
    return found


def test_every_page_shows_each_figure_once(html):
    for page in _pages(html):
        digests = [hashlib.sha256(data).hexdigest() for _, data in _images(page) if data]
        assert len(digests) == len(set(digests)), f"{page.name} shows a figure twice"


def test_no_image_reference_is_broken(html):
    broken = [(page.name, src) for page in _pages(html) for src, data in _images(page) if not data]
    assert not broken


def test_figure_pages_show_figures(html):
    for name in ("lenet_imp", "conv_dropout", "vgg19_warmup"):
        assert _images(html / "book" / "figures" / f"{name}.html"), name


def test_front_page_has_a_scoreboard_row_for_every_claim(html):
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((html / "book" / "intro.html").read_text(), "html.parser")
    cells = {" ".join(td.get_text().replace("\u2019", "'").split()) for td in soup.find_all("td")}  # smart quotes
    for spec in CLAIMS:
        assert " ".join(spec.statement.split()) in cells, (spec.page, spec.key)
    assert any("not run yet" in cell for cell in cells)


def test_no_committed_page_or_notebook_names_a_machine_path():
    files = subprocess.run(["git", "ls-files", "book", "notebooks"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    host = socket.gethostname()
    for name in files:
        if name.endswith((".ipynb", ".md", ".json")):
            text = (ROOT / name).read_text()
            assert not ABSOLUTE_PATH.search(text), (name, ABSOLUTE_PATH.search(text).group(0))
            assert len(host) < 4 or host not in text, name
