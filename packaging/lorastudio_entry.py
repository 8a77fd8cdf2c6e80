"""Entry point of the frozen app (PyInstaller runs this file as ``__main__``).

Same behaviour as the ``lorastudio`` console script: no arguments opens the window,
``--self-test`` runs the install checks, subcommands work headless.
"""

from __future__ import annotations

import multiprocessing
import os
import sys


def _main() -> int:
    # The windowed Windows build ("LoRA Studio.exe") has no console: sys.stdout/stderr are None,
    # and libraries that print (tqdm, logging) would crash the app.
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
    from lorastudio.cli import main

    return main()


if __name__ == "__main__":
    multiprocessing.freeze_support()
    raise SystemExit(_main())
