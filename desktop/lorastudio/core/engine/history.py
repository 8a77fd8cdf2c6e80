"""The history of results: the PNGs in the outputs folder, newest first, with their parameters.

The PNGs are the truth: history survives restarts because it reads them, and any PNG copied in
(A1111's, Fooocus') shows up too. Parsed entries are cached in a small JSON index keyed by
(relative path, size, mtime) so reopening a folder of thousands of images reads only new ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lorastudio.core.metadata.infotext import Infotext, parse_infotext, read_png_text

INDEX_VERSION = 1
IMAGE_SUFFIXES = (".png",)


@dataclass(frozen=True)
class HistoryEntry:
    path: Path
    size: int
    mtime_ns: int
    width: int
    height: int
    parameters: str  # the raw ``parameters`` text; "" when the image has none

    @property
    def info(self) -> Infotext:
        return parse_infotext(self.parameters)

    @property
    def title(self) -> str:
        """A short caption: the prompt's first line, else the file name."""
        prompt = self.info.prompt.strip() if self.parameters else ""
        line = prompt.split("\n", 1)[0]
        return (line[:77] + "…") if len(line) > 80 else (line or self.path.name)

    def describe(self) -> str:
        """File, size and the full parameters, for a tooltip or side panel."""
        head = f"{self.path.name} — {self.width}×{self.height}"
        return f"{head}\n\n{self.parameters}" if self.parameters else f"{head}\n\n(no generation parameters)"


def read_entry(path: Path) -> HistoryEntry | None:
    """One entry from an image file; None when it is not a readable PNG."""
    try:
        st = path.stat()
        png = read_png_text(path)
    except (OSError, ValueError):
        return None
    return HistoryEntry(path, st.st_size, st.st_mtime_ns, png.width, png.height, png.text.get("parameters", ""))


def _walk(folder: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            for item in it:
                if item.is_dir(follow_symlinks=False) and not item.name.startswith("."):
                    yield from _walk(Path(item.path))
                elif item.is_file() and item.name.lower().endswith(IMAGE_SUFFIXES):
                    yield item
    except OSError:
        return


class History:
    """Scan, cache and delete results. Not thread-safe: one instance per thread.

    ``index_file`` None: no cache (every scan reads every PNG's text chunks).
    """

    def __init__(self, outputs: Path, index_file: Path | None = None) -> None:
        self.outputs = outputs
        self.index_file = index_file

    # -- index -----------------------------------------------------------------------------
    def _load_index(self) -> dict[str, list[object]]:
        if self.index_file is None:
            return {}
        try:
            data = json.loads(self.index_file.read_text("utf-8"))
        except (OSError, ValueError):
            return {}  # missing or damaged: rebuilt by this scan
        if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def _save_index(self, entries: dict[str, list[object]]) -> None:
        if self.index_file is None:
            return
        try:
            self.index_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.index_file.with_name(self.index_file.name + f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": INDEX_VERSION, "entries": entries}, ensure_ascii=False), "utf-8")
            os.replace(tmp, self.index_file)
        except OSError:
            pass  # a cache: losing it costs a slower next scan, nothing else

    def _key(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.outputs.resolve()).as_posix()
        except ValueError:
            return str(path.resolve())

    # -- public ----------------------------------------------------------------------------
    def scan(self) -> list[HistoryEntry]:
        """Every PNG under the outputs folder, newest first."""
        old = self._load_index()
        fresh: dict[str, list[object]] = {}
        out: list[HistoryEntry] = []
        root = self.outputs.resolve() if self.outputs.exists() else self.outputs
        for item in _walk(root):
            path = Path(item.path)
            try:
                st = item.stat()
            except OSError:
                continue
            key = self._key(path)
            cached = old.get(key)
            if (
                isinstance(cached, list)
                and len(cached) == 5
                and cached[0] == st.st_size
                and cached[1] == st.st_mtime_ns
            ):
                _, _, w, h, params = cached
                entry = HistoryEntry(path, st.st_size, st.st_mtime_ns, int(w), int(h), str(params))  # type: ignore[call-overload]
            else:
                read = read_entry(path)
                if read is None:
                    continue
                entry = read
            fresh[key] = [entry.size, entry.mtime_ns, entry.width, entry.height, entry.parameters]
            out.append(entry)
        if fresh != old:
            self._save_index(fresh)
        out.sort(key=lambda e: (e.mtime_ns, e.path.name), reverse=True)
        return out

    def delete(self, path: Path) -> None:
        """Delete the image file and drop it from the index. OSError when the file can't be removed."""
        path.unlink(missing_ok=True)
        entries = self._load_index()
        if entries.pop(self._key(path), None) is not None:
            self._save_index(entries)
