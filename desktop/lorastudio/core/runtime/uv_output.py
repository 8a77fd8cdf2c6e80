"""Reading uv's output: install progress from its status lines, one sentence from its errors.

uv (0.13) writes, without a terminal, lines like ``Resolved 52 packages in 1.2s``,
``Downloading torch (181.4MiB)``, `` Downloaded torch``, ``Prepared 52 packages in 40s``,
``Installed 52 packages in 3s`` and `` + torch==2.13.0+cpu`` on stderr; its errors end with
``error: ...`` and ``  cause: ...`` lines. Byte counts are what uv announces: the size of each
package it starts to download, counted as done when uv says it finished that package.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

from lorastudio.core.errors import (
    EngineRuntimeError,
    IndexUnreachable,
    NotEnoughDiskSpace,
    RuntimeInstallFailed,
)
from lorastudio.core.runtime.values import InstallProgress

_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}
_RESOLVED = re.compile(r"^Resolved (\d+) packages? in ")
_DOWNLOADING = re.compile(r"^Downloading (\S+) \(([\d.]+)\s*([KMGT]?i?B)\)")
_DOWNLOADED = re.compile(r"^\s*Downloaded (\S+)\s*$")
_PREPARED = re.compile(r"^Prepared (\d+) packages? in ")
_INSTALLED = re.compile(r"^Installed (\d+) packages? in ")
_ADDED = re.compile(r"^ \+ ([A-Za-z0-9._-]+)==(\S+)")
_AUDITED = re.compile(r"^Audited (\d+) packages? in ")


def parse_size(number: str, unit: str) -> int:
    return int(float(number) * _UNITS.get(unit, 1))


class UvProgress:
    """Turns uv's stderr lines, one at a time, into InstallProgress values."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sizes: dict[str, int] = {}
        self._done: set[str] = set()
        self._started: float | None = None
        self.installed: dict[str, str] = {}  # name -> version, from the `` + `` lines

    @property
    def total_bytes(self) -> int:
        return sum(self._sizes.values())

    @property
    def done_bytes(self) -> int:
        return sum(self._sizes[name] for name in self._done)

    def feed(self, line: str) -> InstallProgress | None:
        line = line.rstrip("\r\n")
        if m := _RESOLVED.match(line):
            return InstallProgress("resolve", f"Resolved {m.group(1)} packages")
        if m := _DOWNLOADING.match(line):
            if self._started is None:
                self._started = self._clock()
            self._sizes[m.group(1)] = parse_size(m.group(2), m.group(3))
            return self._download(m.group(1), f"Downloading {m.group(1)}")
        if m := _DOWNLOADED.match(line):
            self._done.add(m.group(1))
            return self._download(m.group(1), f"Downloaded {m.group(1)}")
        if m := _PREPARED.match(line):
            return InstallProgress("install", f"Installing {m.group(1)} packages", done_bytes=self.done_bytes,
                                   total_bytes=self.total_bytes or None)
        if m := _INSTALLED.match(line):
            return InstallProgress("install", f"Installed {m.group(1)} packages")
        if m := _AUDITED.match(line):
            return InstallProgress("install", "All packages are already installed")
        if m := _ADDED.match(line):
            self.installed[m.group(1)] = m.group(2)
            return InstallProgress("install", f"Installed {m.group(1)} {m.group(2)}", package=m.group(1))
        return None

    def _download(self, package: str, text: str) -> InstallProgress:
        total, done = self.total_bytes, self.done_bytes
        return InstallProgress("download", text, package=package, done_bytes=done, total_bytes=total,
                               eta_s=self._eta(done, total))

    def _eta(self, done: int, total: int) -> float | None:
        """Seconds left at the rate measured so far; None until a package has finished."""
        if self._started is None or done <= 0:
            return None
        elapsed = self._clock() - self._started
        if elapsed <= 0:
            return None
        return max(0.0, (total - done) / (done / elapsed))


def failure(lines: Sequence[str], *, source: str) -> EngineRuntimeError:
    """One sentence for a failed uv run, from its last output lines; ``source`` names where the
    packages come from (an index URL or a wheel folder) for the user."""
    text = "\n".join(lines[-40:])
    low = text.lower()
    if "no space left on device" in low or "os error 28" in low or "disk full" in low:
        return NotEnoughDiskSpace("The disk ran full while installing the engine runtime; free some space "
                                  "and install again (what was downloaded is kept).")
    if "--find-links" in text and ("no such file" in low or "failed to read" in low):
        return IndexUnreachable(f"The wheel folder {source} cannot be read.")
    network = ("error sending request", "dns error", "failed to lookup address", "connection refused",
               "tcp connect error", "timed out", "failed to fetch", "connection reset", "network is unreachable",
               "certificate")
    if any(word in low for word in network):
        # Name the server that failed (a build's PyTorch index is asked besides the user's index).
        url = re.search(r"https?://[^\s`'\")/]+", text)
        where = url.group(0) if url and not source.startswith(url.group(0)) else source
        return IndexUnreachable(f"Could not reach the package index ({where}); check the network connection "
                                "or the index setting, then install again.")
    if "no interpreter found" in low:
        return RuntimeInstallFailed("uv found no Python 3.11 on this computer and could not download one; "
                                    "connect to the network once or install Python 3.11.")
    if "no solution found" in low or "not found in the package registry" in low or "unsatisfiable" in low:
        missing = re.search(r"Because (\S+?)(?:==\S+)? was not found", text)
        what = f"{missing.group(1)} is missing" if missing else "some packages are missing"
        return RuntimeInstallFailed(f"The packages for this build could not be resolved from {source} ({what}).")
    last = _last_error(lines)
    return RuntimeInstallFailed(f"uv could not install the engine runtime ({last})." if last else
                                "uv could not install the engine runtime; the details are in the log file.")


def _last_error(lines: Sequence[str]) -> str:
    for line in reversed(lines):
        stripped = line.strip()
        for prefix in ("error:", "cause:", "Caused by:"):
            if stripped.startswith(prefix):
                return stripped[len(prefix):].strip().rstrip(".")[:160]
    return ""
