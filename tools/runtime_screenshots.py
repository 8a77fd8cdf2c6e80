"""Screenshots of the engine runtime's first-run dialog and Settings section (run under Xvfb).

  xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb \\
      .venv/bin/python tools/runtime_screenshots.py OUT_DIR [--wheels DIR]

Saves, from the real dialog over a real ``EngineRuntime`` in a temporary data dir:
  runtime-dialog.png           what was detected and why. The detection is core.runtime.detect's,
                               fed a recorded ``nvidia-smi`` answer of a GeForce RTX 4070 on
                               driver 581.57 (this machine has no GPU);
  runtime-dialog-error.png     a real install without network (the sandbox has none): uv's
                               failure as one sentence;
with ``--wheels DIR`` (a wheel folder holding torch and the engine's packages, e.g. the one
tests/helpers/wheelhouse.py builds), also:
  runtime-dialog-progress.png  a real install mid-download, with this machine's own detection (no
                               GPU: the CPU build): uv fetches the wheels over HTTP from a local
                               package index serving DIR, and the dialog shows what uv reports
                               (package, bytes, ETA). The sandbox has no network, so the build's
                               PyTorch index is left out (the local index serves torch);
  runtime-dialog-settings.png  Settings ▸ Engine runtime for that runtime, after Verify.
Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "desktop"))

from PySide6.QtCore import QObject, QTimer, Slot  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from lorastudio.core.cancel import CancelToken  # noqa: E402
from lorastudio.core.runtime import EngineRuntime, InstallProgress, Target, detect  # noqa: E402
from lorastudio.core.runtime.values import RuntimeState  # noqa: E402
from lorastudio.core.settings import SettingsStore  # noqa: E402
from lorastudio.qt.widgets.runtime_dialog import RuntimeDialog  # noqa: E402
from lorastudio.qt.widgets.runtime_section import RuntimeSection  # noqa: E402
from lorastudio.qt.workers import runtime_worker  # noqa: E402

RTX_4070 = "NVIDIA GeForce RTX 4070, 581.57, 12282, 8.9\n"


def recorded_nvidia(command: Sequence[str]) -> str:
    if command and command[0] == "nvidia-smi":
        return RTX_4070
    raise FileNotFoundError(command[0])  # no rocminfo either


def wait_until(app: QApplication, done: Callable[[], bool], timeout_s: float = 600) -> None:
    """Run the event loop until ``done()`` (checked every 50 ms) or the timeout."""
    timer = QTimer()
    timer.setInterval(50)
    elapsed = [0.0]

    def check() -> None:
        elapsed[0] += 0.05
        if done() or elapsed[0] > timeout_s:
            app.quit()

    timer.timeout.connect(check)
    timer.start()
    app.exec()
    timer.stop()
    if not done():
        raise SystemExit(f"timed out after {timeout_s:.0f} s")


def save(widget: QWidget, path: Path) -> None:
    widget.grab().save(str(path))
    print(f"saved {path}")


def serve_simple_index(wheels: Path) -> tuple[ThreadingHTTPServer, str]:
    """A PEP 503 index on 127.0.0.1 for the wheels in ``wheels``: /simple/<project>/ → files."""
    projects: dict[str, list[Path]] = {}
    for wheel in sorted(wheels.glob("*.whl")):
        name = re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
        projects.setdefault(name, []).append(wheel)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._answer(body=True)

        def do_HEAD(self) -> None:  # uv asks for a wheel's size first
            self._answer(body=False)

        def _answer(self, body: bool) -> None:
            parts = [p for p in self.path.split("/") if p]
            if len(parts) == 2 and parts[0] == "simple" and parts[1] in projects:
                links = "".join(f'<a href="/files/{html.escape(w.name)}">{html.escape(w.name)}</a><br>'
                                for w in projects[parts[1]])
                self._send(f"<html><body>{links}</body></html>".encode(), "text/html", body)
            elif len(parts) == 2 and parts[0] == "files" and (wheels / parts[1]).is_file():
                self._send((wheels / parts[1]).read_bytes(), "application/octet-stream", body)
            else:
                self.send_error(404)

        def _send(self, data: bytes, kind: str, body: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # uv dropped a connection it no longer needed

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/simple"


class ProgressShot(QObject):
    """Grabs the dialog once, mid-download, right after the dialog showed that progress value."""

    def __init__(self, dialog: RuntimeDialog, path: Path) -> None:
        super().__init__()
        self.dialog = dialog
        self.path = path
        self.taken = False

    @Slot(object)
    def on_progress(self, p: InstallProgress) -> None:
        # Once torch (about 180 MB) is among the downloads and part of the bytes are in.
        if (not self.taken and p.phase == "download" and p.total_bytes and p.eta_s is not None
                and p.total_bytes > 150 * 1024**2 and 0 < p.done_bytes < p.total_bytes):
            save(self.dialog, self.path)
            self.taken = True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--wheels", type=Path, help="a wheel folder for the real install shots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="lorastudio-runtime-shots-"))

    app = QApplication([])
    from lorastudio.qt.theme import apply_theme

    apply_theme(app, "dark")
    setattr(runtime_worker, "detect", lambda: detect(system="Windows", run=recorded_nvidia))  # noqa: B010

    # 1. What was detected and why.
    store = SettingsStore(tmp / "settings.json")
    runtime = EngineRuntime(tmp / "runtime", this_environment=False)
    dialog = RuntimeDialog(runtime, store, why="Generating on this computer needs the engine runtime.")
    dialog.setFixedWidth(640)
    dialog.show()
    dialog.adjustSize()
    wait_until(app, lambda: dialog.detection is not None, 30)
    save(dialog, args.out / "runtime-dialog.png")
    dialog.close()

    # 2. A failure, as one sentence: no network (this sandbox has none).
    store.update(runtime_target="cpu")
    dialog = RuntimeDialog(runtime, store)
    dialog.setFixedWidth(640)
    dialog.show()
    dialog.adjustSize()
    wait_until(app, lambda: dialog.detection is not None, 30)
    dialog.install_button.click()
    wait_until(app, lambda: not dialog.installing, 300)
    print("failure:", dialog.error.text())
    save(dialog, args.out / "runtime-dialog-error.png")
    dialog.close()

    if args.wheels is None:
        return

    # 3. A real install, mid-download, from a local index serving the wheel folder.
    real_install = runtime_worker.install_runtime

    def install_without_torch_index(runtime: EngineRuntime, target: Target, index_url: str | None,
                                    find_links: Path | None, *, report: Callable[[InstallProgress], None],
                                    cancel: CancelToken) -> RuntimeState:
        # No network here: the local index stands in for PyPI and the PyTorch index both.
        return real_install(runtime, dataclasses.replace(target, index_url=None), index_url, find_links,
                            report=report, cancel=cancel)

    setattr(runtime_worker, "install_runtime", install_without_torch_index)  # noqa: B010
    setattr(runtime_worker, "detect", detect)  # noqa: B010  (this machine's own: no GPU, the CPU build)
    server, index = serve_simple_index(args.wheels.resolve())
    store.update(runtime_target="", runtime_index_url=index)
    runtime = EngineRuntime(tmp / "runtime-installed", this_environment=False)
    dialog = RuntimeDialog(runtime, store)
    dialog.setFixedWidth(640)
    dialog.show()
    dialog.adjustSize()
    wait_until(app, lambda: dialog.detection is not None, 30)
    shot = ProgressShot(dialog, args.out / "runtime-dialog-progress.png")
    dialog.install_button.click()
    assert dialog._install_worker is not None
    dialog._install_worker.progress.connect(shot.on_progress)
    wait_until(app, lambda: not dialog.installing, 1200)
    print("install:", dialog.phase.text(), dialog.error.text())
    if not shot.taken:
        print("no mid-download progress was reported: runtime-dialog-progress.png not written")
    dialog.close()
    server.shutdown()

    # 4. Settings ▸ Engine runtime for it, after Verify.
    section = RuntimeSection(runtime, store)
    section.setFixedWidth(640)
    section.show()
    section.adjustSize()
    section.verify_button.click()
    wait_until(app, lambda: not section._busy, 600)
    save(section, args.out / "runtime-dialog-settings.png")
    section.shutdown()


if __name__ == "__main__":
    main()
