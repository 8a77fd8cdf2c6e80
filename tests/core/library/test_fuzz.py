"""A seeded mutation fuzz over a few hundred hostile files, sidecars, folders and pipes: scan, info
and import never raise, never hang (a per-entry time limit) and always give a status.

The generator is tools/fuzz_library.py; a longer run: ``python tools/fuzz_library.py --count 10000``.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools"))

from fuzz_library import check_entry, generate_corpus, time_limit, warm_imports

from lorastudio.cli import main
from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.scanner import scan

pytestmark = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="the per-entry time limit needs SIGALRM")

COUNT, SEED = 300, 20261129


def test_scan_info_and_import_survive_a_mutated_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entries = generate_corpus(tmp_path / "corpus", COUNT, SEED)
    with time_limit(60), Catalog(tmp_path / "catalog.sqlite3") as catalog:
        result = scan(catalog, [tmp_path / "corpus"])
        rows = catalog.records()
    assert result.seen == len(rows) > COUNT * 0.8  # folders with broken configs are walked, not listed
    assert all(r.info.status in ("ok", "error", "pickle") for r in rows)
    assert {"ok", "error"} <= {r.info.status for r in rows}

    warm_imports()
    outcomes = {path: check_entry(path, tmp_path / "data", timeout=10) for path in entries}
    problems = {str(p): o for p, o in outcomes.items() if o not in ("ok", "error", "pickle")}
    assert problems == {}

    with time_limit(60):
        assert main(["--data-dir", str(tmp_path / "cli"), "scan", str(tmp_path / "corpus")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert len(out.splitlines()) == len(rows) + 1  # one line per file, then the summary
