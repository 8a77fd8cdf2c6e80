"""One Settings instance per file: a change made in one place is never lost by a save in another."""

from __future__ import annotations

from pathlib import Path

from lorastudio.core.paths import data_dir
from lorastudio.core.settings import Settings, SettingsStore, load_settings, save_settings, settings_store


def test_folder_added_then_settings_dialog_ok_keeps_the_folder(tmp_path: Path) -> None:
    # The reproduced bug: the library adds a folder, then File ▸ Settings ▸ OK saved the window's
    # stale copy and the folder was gone. Both now change their own fields on the one store.
    data = data_dir(tmp_path).ensure()
    store = settings_store(data.settings_file)
    dialog_snapshot = store.value  # the dialog opens before the folder is added
    store.update(external_roots=("/pictures/loras",))  # library_sources.add_external_roots
    store.update(theme="light", vae_tiling=not dialog_snapshot.vae_tiling)  # dialog OK: its fields only
    saved = load_settings(data.settings_file)
    assert saved.external_roots == ("/pictures/loras",)
    assert saved.theme == "light"
    assert saved.vae_tiling is True


def test_library_sources_go_through_the_shared_store(tmp_path: Path) -> None:
    from lorastudio.core.settings import forget_settings_store

    data = data_dir(tmp_path).ensure()
    forget_settings_store(data.settings_file)
    store = settings_store(data.settings_file)
    assert settings_store(data.settings_file) is store
    seen: list[frozenset[str]] = []
    store.connect(lambda value, changed: seen.append(changed))
    store.update(theme="light")
    store.update_extra(offered_existing_installs=True)
    store.update(theme="light")  # no change: not saved, not announced
    assert seen == [frozenset({"theme"}), frozenset({"extra"})]
    assert load_settings(data.settings_file).extra == {"offered_existing_installs": True}


def test_a_change_written_by_another_process_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    store = SettingsStore(path)
    store.update(theme="light")
    # The CLI (another process) adds a folder behind the window's back...
    save_settings(path, load_settings(path).updated(external_roots=("/x",)))
    store.update(auto_trigger_words=True)  # ...and the window's next change keeps it.
    saved = load_settings(path)
    assert saved.external_roots == ("/x",)
    assert saved.theme == "light"
    assert saved.auto_trigger_words is True
    assert store.value == saved


def test_unreadable_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json", "utf-8")
    assert SettingsStore(path).value == Settings()
