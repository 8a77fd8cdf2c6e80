"""Composition root: data dir, log file, settings, QApplication, theme, MainWindow.

The window's process never imports torch: the engine runs in a child process
(core/backend/local_process.py), started on first use.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from lorastudio.core.paths import DataDir, data_dir
from lorastudio.core.settings import settings_store


def create_main_window(data: DataDir):  # type: ignore[no-untyped-def]
    """The window exactly as ``main()`` builds it (the e2e tests use this too)."""
    from lorastudio.qt.main_window import MainWindow

    data.ensure()
    return MainWindow(data, settings_store(data.settings_file))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lorastudio app")
    parser.add_argument("--data-dir")
    parser.add_argument("files", nargs="*")
    args, qt_args = parser.parse_known_args(argv)
    import multiprocessing

    multiprocessing.freeze_support()  # a frozen build spawns the library scan pool from this executable
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from lorastudio.core.paths import resources_dir
    from lorastudio.qt.theme import apply_theme

    app = QApplication([sys.argv[0], *qt_args])
    app.setApplicationName("LoRA Studio")
    app.setOrganizationName("LoRA Studio")
    app.setDesktopFileName("io.github.lorastudio.LoRAStudio")  # matches the .desktop file
    icon = resources_dir() / "icons" / "lorastudio.png"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    data = data_dir(args.data_dir)
    data.ensure()
    from lorastudio.core.logs import install_excepthook, setup_logging

    log_path = setup_logging(data.logs)
    apply_theme(app, settings_store(data.settings_file).value.theme)
    window = create_main_window(data)
    install_excepthook(window.report_exception)
    import logging

    logging.getLogger("lorastudio").info("Window started; log file %s", log_path)
    window.show()
    if args.files:
        window.open_files([Path(f) for f in args.files])
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
