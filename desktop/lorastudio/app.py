"""Composition root: data dir, settings, QApplication, theme, MainWindow."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from lorastudio.core.paths import DataDir, data_dir
from lorastudio.core.settings import load_settings


def create_main_window(data: DataDir):  # type: ignore[no-untyped-def]
    """The window exactly as ``main()`` builds it (the e2e tests use this too)."""
    from lorastudio.qt.main_window import MainWindow

    data.ensure()
    return MainWindow(data, load_settings(data.settings_file))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lorastudio app")
    parser.add_argument("--data-dir")
    parser.add_argument("files", nargs="*")
    args, qt_args = parser.parse_known_args(argv)
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
    apply_theme(app, load_settings(data.settings_file).theme)
    window = create_main_window(data)
    window.show()
    if args.files:
        window.open_files([Path(f) for f in args.files])
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
