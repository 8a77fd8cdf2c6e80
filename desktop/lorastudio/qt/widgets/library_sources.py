"""Which folders the library reads (the app's own and the external sources kept in settings),
and whether the one-time offer of other apps' installs is still due."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lorastudio.core.library.catalog import CatalogRecord
from lorastudio.core.library.scanner import default_roots
from lorastudio.core.paths import DataDir
from lorastudio.core.settings import settings_store

OFFERED_INSTALLS_KEY = "offered_existing_installs"  # Settings.extra flag: the first-run offer is made once


def library_roots(data: DataDir) -> list[Path]:
    """The app's model folders, then the external sources, as the scanner walks them."""
    settings = settings_store(data.settings_file).value
    return default_roots(data, settings.external_roots)


def add_external_roots(data: DataDir, folders: Iterable[Path]) -> None:
    """Keep ``folders`` as sources (used in place, never copied); settings are only written on a change."""
    settings = settings_store(data.settings_file).value
    roots = list(settings.external_roots)
    for folder in folders:
        if str(folder) not in roots:
            roots.append(str(folder))
    if tuple(roots) != settings.external_roots:
        settings_store(data.settings_file).update(external_roots=tuple(roots))


def installs_offer_due(data: DataDir, records: Iterable[CatalogRecord]) -> bool:
    """No external sources yet, nothing but the app's own folder in the catalog, never offered."""
    settings = settings_store(data.settings_file).value
    if settings.external_roots or settings.extra.get(OFFERED_INSTALLS_KEY):
        return False
    own = data.models
    return all(r.root == own for r in records)


def mark_installs_offered(data: DataDir) -> None:
    settings_store(data.settings_file).update_extra(**{OFFERED_INSTALLS_KEY: True})
