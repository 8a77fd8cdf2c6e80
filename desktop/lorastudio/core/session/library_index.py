"""What the session knows about the library: models, LoRAs and VAEs by path and by name.

Built from the catalog's records (the library panel's scan); resolves ``<lora:name>`` tags, gives
the generation panel its model lists and size presets, and feeds restore with hashes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lorastudio.core.engine.request import LoraSpec
from lorastudio.core.engine.restore import LibraryLora, LibraryModel
from lorastudio.core.library.catalog import CatalogRecord
from lorastudio.core.metadata.detect import FileInfo, inspect_path
from lorastudio.core.types import BaseArch, ModelKind

MODEL_KINDS = (ModelKind.PIPELINE, ModelKind.CHECKPOINT)
LORA_KINDS = (ModelKind.LORA, ModelKind.LYCORIS)

SIZE_PRESETS: dict[str, tuple[tuple[int, int], ...]] = {
    "sd1": ((512, 512), (512, 768), (768, 512), (640, 640)),
    "sd2": ((768, 768), (512, 512), (768, 1024)),
    "sdxl": ((1024, 1024), (832, 1216), (1216, 832), (896, 1152), (1152, 896)),
    "demo": ((128, 128), (64, 64), (256, 256)),
}


@dataclass(frozen=True)
class IndexEntry:
    info: FileInfo
    sha256: str | None = None
    addnet: str | None = None

    @property
    def path(self) -> Path:
        return self.info.path

    @property
    def label(self) -> str:
        return self.info.title or self.info.path.name


class LibraryIndex:
    """An immutable-per-refresh view of the library's usable files."""

    def __init__(self, records: Iterable[CatalogRecord] = ()) -> None:
        self._entries: list[IndexEntry] = [
            IndexEntry(r.info, r.sha256, r.addnet) for r in records if not r.missing]

    @classmethod
    def from_infos(cls, infos: Iterable[FileInfo]) -> LibraryIndex:
        index = cls()
        index._entries = [IndexEntry(info) for info in infos]
        return index

    # -- lists ---------------------------------------------------------------------------------
    def models(self) -> list[IndexEntry]:
        found = [e for e in self._entries if e.info.kind in MODEL_KINDS and e.info.status == "ok"]
        return sorted(found, key=lambda e: e.label.lower())

    def loras(self) -> list[IndexEntry]:
        return [e for e in self._entries if e.info.kind in LORA_KINDS]

    def vaes(self) -> list[IndexEntry]:
        found = [e for e in self._entries if e.info.kind is ModelKind.VAE and e.info.status == "ok"]
        return sorted(found, key=lambda e: e.path.name.lower())

    def model_choices(self) -> list[tuple[str, Path]]:
        """(label, path) pairs for the model picker: "title  [base]"."""
        return [(f"{e.label}  [{e.info.base.label}]", e.path) for e in self.models()]

    def vae_choices(self) -> list[tuple[str, Path]]:
        return [(e.label, e.path) for e in self.vaes()]

    def lora_infos(self) -> list[FileInfo]:
        return [e.info for e in self.loras()]

    def info(self, path: Path) -> FileInfo | None:
        for entry in self._entries:
            if entry.path == path:
                return entry.info
        return None

    # -- look-ups ------------------------------------------------------------------------------
    def resolve_lora(self, name: str) -> LoraSpec | None:
        """A prompt tag's name -> the library LoRA with that file stem or title (case-insensitive)."""
        wanted = name.strip().lower()
        for entry in self.loras():
            if wanted in {entry.path.stem.lower(), entry.info.title.lower()}:
                return LoraSpec(path=entry.path, name=entry.info.title or entry.path.stem)
        return None

    def base_of(self, model: Path | None) -> BaseArch | None:
        """The model's architecture, from the index, else from its headers."""
        if model is None:
            return None
        for entry in self.models():
            if entry.path == model:
                return entry.info.base
        return inspect_path(model).base

    def size_family(self, model: Path | None) -> str:
        """Which size presets fit ``model``: "sd1", "sd2", "sdxl" or "demo" (the tiny demo model)."""
        if model is not None and model.name.startswith("demo-"):
            return "demo"
        base = self.base_of(model)
        return {BaseArch.SDXL: "sdxl", BaseArch.SD2: "sd2"}.get(base, "sd1") if base else "sd1"

    def restore_library(self) -> tuple[list[LibraryLora], list[LibraryModel]]:
        """LoRAs and models with their hashes, as core.engine.restore wants them."""
        loras = [(e.path, e.info.title or e.path.stem, e.sha256, e.addnet) for e in self.loras()]
        models = [(e.path, e.info.title or e.path.stem, e.sha256) for e in self.models()]
        return loras, models
