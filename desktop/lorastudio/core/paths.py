"""Where LoRA Studio keeps its state.

Everything (catalog, settings, models, outputs) lives under one data dir, chosen by
``--data-dir``, else ``$LORASTUDIO_HOME``, else the platform's user data dir. Tests and portable
installs point it at a folder of their own.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ENV_HOME = "LORASTUDIO_HOME"


@dataclass(frozen=True)
class DataDir:
    """The layout of one data dir; creating it is explicit (``ensure``)."""

    root: Path

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def checkpoints(self) -> Path:
        return self.models / "checkpoints"

    @property
    def loras(self) -> Path:
        return self.models / "loras"

    @property
    def vae(self) -> Path:
        return self.models / "vae"

    @property
    def embeddings(self) -> Path:
        return self.models / "embeddings"

    @property
    def text_models(self) -> Path:
        return self.models / "text"

    @property
    def text_adapters(self) -> Path:
        return self.models / "text-adapters"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def thumbnails(self) -> Path:
        return self.cache / "thumbnails"

    @property
    def downloads(self) -> Path:
        """Partial downloads live here, never inside a models folder."""
        return self.root / "downloads"

    @property
    def catalog_db(self) -> Path:
        return self.root / "catalog.sqlite3"

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    @property
    def logs(self) -> Path:
        """Rotating log files (File ▸ Open log folder): details and tracebacks live here."""
        return self.root / "logs"

    @property
    def queue_file(self) -> Path:
        """Unfinished generation jobs, so they survive a restart."""
        return self.root / "queue.json"

    @property
    def runtime(self) -> Path:
        """The engine runtime: a Python environment with torch made by uv (#18), and uv's cache."""
        return self.root / "runtime"

    def ensure(self) -> DataDir:
        for folder in (self.checkpoints, self.loras, self.vae, self.embeddings, self.text_models,
                       self.text_adapters, self.outputs, self.thumbnails, self.downloads, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def default_root() -> Path:
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("LoRA Studio", "LoRA Studio"))


def data_dir(root: str | os.PathLike[str] | None = None) -> DataDir:
    """The data dir for an explicit root, or the default one."""
    return DataDir(Path(root).expanduser().resolve() if root else default_root())


def package_root() -> Path:
    """The folder holding the ``lorastudio`` package, for an engine runtime's interpreter that
    lacks it (#18): the bundle's plain copy of the sources when frozen, else where this package
    was imported from. Append it to that interpreter's sys.path, never prepend: a root that is a
    whole site-packages must not shadow the runtime's own packages."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen is not None:
        return Path(frozen) / "engine_src"
    return Path(__file__).resolve().parents[2]


def runtime_command(python: Path, module: str, *args: str) -> list[str]:
    """The command running ``module``'s ``main()`` with ``python`` (another environment's)."""
    boot = (f"import sys; sys.path.append({str(package_root())!r}); "
            f"from {module} import main; main()")
    return [str(python), "-c", boot, *args]


def runtime_env() -> dict[str, str]:
    """The environment for another Python environment's processes (the engine runtime's): nothing
    from the window's Python leaks in, and a frozen window's library path (PyInstaller points
    LD_LIBRARY_PATH at its own bundled libraries) is put back as it was before the window started."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONSTARTUP")}
    env["PYTHONNOUSERSITE"] = "1"
    if getattr(sys, "frozen", False):
        for var in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"):
            original = env.pop(f"{var}_ORIG", None)
            env.pop(var, None)
            if original:
                env[var] = original
    return env


def resources_dir() -> Path:
    """Shipped resources: in a frozen bundle, a checkout (``resources/``) or a wheel install."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    checkout = Path(__file__).resolve().parents[3] / "resources"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "lorastudio" / "resources"
