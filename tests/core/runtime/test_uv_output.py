"""uv's output → install progress and one-sentence failures (recorded uv 0.13.9 output)."""

from __future__ import annotations

from lorastudio.core.errors import IndexUnreachable, NotEnoughDiskSpace, RuntimeInstallFailed
from lorastudio.core.runtime.uv_output import UvProgress, failure, parse_size

# `uv pip install numpy pillow pygments tqdm --index-url http://127.0.0.1:8765/simple` (stderr, no tty)
INSTALL = """\
Using Python 3.11.7 environment at: v
Resolved 4 packages in 290ms
Downloading pygments (1.2MiB)
Downloading numpy (16.1MiB)
Downloading pillow (6.6MiB)
 Downloaded pillow
 Downloaded pygments
 Downloaded numpy
Prepared 4 packages in 1.41s
Installed 4 packages in 149ms
 + numpy==2.4.6
 + pillow==12.3.0
 + pygments==2.21.0
 + tqdm==4.70.1
"""


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_from_a_recorded_install() -> None:
    clock = Clock()
    parser = UvProgress(clock)
    steps = []
    for line in INSTALL.splitlines(keepends=True):
        clock.now += 0.5
        step = parser.feed(line)
        if step is not None:
            steps.append(step)
    assert [s.phase for s in steps] == ["resolve"] + ["download"] * 6 + ["install"] * 6
    assert steps[0].text == "Resolved 4 packages"
    mib = 1024 * 1024
    total = int(1.2 * mib) + int(16.1 * mib) + int(6.6 * mib)
    announced = steps[3]
    assert announced.package == "pillow"
    assert announced.total_bytes == total
    assert announced.done_bytes == 0
    assert announced.eta_s is None  # nothing finished yet: no rate measured
    first_done = steps[4]
    assert first_done.text == "Downloaded pillow"
    assert first_done.done_bytes == int(6.6 * mib)
    # 6.6 MiB took 1.5 s (from the first "Downloading" line): the rest at that rate.
    assert first_done.eta_s is not None
    assert abs(first_done.eta_s - (total - int(6.6 * mib)) / (int(6.6 * mib) / 1.5)) < 1e-6
    last = steps[6]
    assert last.done_bytes == last.total_bytes == total
    assert last.eta_s == 0.0
    assert steps[7].text == "Installing 4 packages"
    assert steps[-1].text == "Installed tqdm 4.70.1"
    assert steps[-1].package == "tqdm"
    assert parser.installed == {"numpy": "2.4.6", "pillow": "12.3.0", "pygments": "2.21.0", "tqdm": "4.70.1"}


def test_a_local_wheel_folder_reports_no_bytes() -> None:
    parser = UvProgress()
    lines = ["Resolved 52 packages in 23ms\n", "Prepared 52 packages in 3.86s\n", "Installed 52 packages in 510ms\n"]
    steps = [parser.feed(line) for line in lines]
    assert [s.text for s in steps if s] == ["Resolved 52 packages", "Installing 52 packages", "Installed 52 packages"]
    assert all(s.total_bytes is None and s.done_bytes == 0 for s in steps if s)
    assert parser.feed("warning: something uv says\n") is None


def test_sizes() -> None:
    assert parse_size("181.4", "MiB") == int(181.4 * 1024**2)
    assert parse_size("2.5", "GiB") == int(2.5 * 1024**3)
    assert parse_size("900", "B") == 900


def test_failures_become_one_sentence() -> None:
    refused = failure(["error: Failed to fetch: `http://127.0.0.1:9/simple/numpy/`",
                       "  cause: error sending request for url (http://127.0.0.1:9/simple/numpy/)",
                       "  cause: tcp connect error", "  cause: Connection refused (os error 111)"],
                      source="http://127.0.0.1:9/simple")
    assert isinstance(refused, IndexUnreachable)
    assert str(refused) == ("Could not reach the package index (http://127.0.0.1:9/simple); check the network "
                            "connection or the index setting, then install again.")
    dns = failure(["  cause: dns error", "  cause: failed to lookup address information"], source="PyPI")
    assert isinstance(dns, IndexUnreachable)
    # The build's PyTorch index failed, not the user's mirror: the sentence names the one that failed.
    torch_index = failure(["error: Failed to fetch: `https://download.pytorch.org/whl/cu130/torch/`",
                           "  cause: dns error: failed to lookup address information"],
                          source="https://mirror.example/simple")
    assert str(torch_index).startswith("Could not reach the package index (https://download.pytorch.org);")
    full = failure(["error: Failed to install: torch-2.13.0", "  cause: No space left on device (os error 28)"],
                   source="PyPI")
    assert isinstance(full, NotEnoughDiskSpace)
    missing = failure(["error: No solution found when resolving dependencies",
                       "  cause: Because torch==2.13.0+cu130 was not found in the package registry and you "
                       "require torch==2.13.0+cu130, we can conclude that your requirements are unsatisfiable."],
                      source="/wheels")
    assert isinstance(missing, RuntimeInstallFailed)
    assert str(missing) == "The packages for this build could not be resolved from /wheels (torch is missing)."
    folder = failure(["error: Failed to read `--find-links` directory: /nonexistent",
                      "  cause: No such file or directory (os error 2)"], source="/nonexistent")
    assert str(folder) == "The wheel folder /nonexistent cannot be read."
    python = failure(["error: No interpreter found for Python 3.11 in managed installations or search path"],
                     source="/w")
    assert "no Python 3.11" in str(python)
    other = failure(["error: Something new went wrong."], source="PyPI")
    assert str(other) == "uv could not install the engine runtime (Something new went wrong)."
    for err in (refused, dns, full, missing, folder, python, other):
        assert "\n" not in str(err)
        assert str(err).endswith(".")
