"""Presets ("recipes"): save, load, rename, delete, in the catalog database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lorastudio.core.errors import PresetError
from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.presets import Preset, PresetLora, PresetStore
from lorastudio.core.paths import DataDir

MIX = (
    PresetLora(Path("/loras/ink.safetensors"), "Ink Wash", 0.6, None, True),
    PresetLora(Path("/loras/neon.safetensors"), "Neon Glow", -0.25, 0.4, False),
)


def test_save_load_with_and_without_prompt_and_settings(data: DataDir) -> None:
    with PresetStore(data.catalog_db) as store:
        store.save(Preset("Ink night", MIX))
        store.save(
            Preset(
                "Full recipe",
                MIX[:1],
                prompt="a temple, «dusk»\nline two",
                negative_prompt="blurry",
                settings={"steps": 24, "cfg": 6.5, "sampler": "DPM++ 2M Karras", "width": 512},
            )
        )
        assert store.names() == ["Full recipe", "Ink night"]
    # A new store (a restart) reads the same recipes back.
    with PresetStore(data.catalog_db) as store:
        mix_only = store.load("ink night")  # names match case-insensitively
        assert mix_only.name == "Ink night"
        assert mix_only.loras == MIX
        assert (mix_only.prompt, mix_only.negative_prompt, mix_only.settings) == (None, None, None)
        full = store.load("Full recipe")
        assert full.prompt == "a temple, «dusk»\nline two"
        assert full.settings == {"steps": 24, "cfg": 6.5, "sampler": "DPM++ 2M Karras", "width": 512}
        assert full.created > 0
        assert full.updated >= full.created


def test_name_collisions_are_refused_clearly(data: DataDir) -> None:
    with PresetStore(data.catalog_db) as store:
        store.save(Preset("Ink night", MIX))
        with pytest.raises(PresetError, match="A preset named 'Ink night' already exists"):
            store.save(Preset("  ink   NIGHT ", MIX[:1]))
        saved = store.save(Preset("Ink night", MIX[:1]), overwrite=True)
        assert store.load("Ink night").loras == MIX[:1]
        assert saved.updated >= saved.created
        with pytest.raises(PresetError, match="Give the preset a name"):
            store.save(Preset("   ", MIX))
        with pytest.raises(PresetError, match="limited to"):
            store.save(Preset("x" * 500, MIX))


def test_rename_and_delete(data: DataDir) -> None:
    with PresetStore(data.catalog_db) as store:
        store.save(Preset("A", MIX))
        store.save(Preset("B", MIX[:1]))
        with pytest.raises(PresetError, match="'B' already exists"):
            store.rename("A", "b")
        store.rename("A", "a")  # changing only the case of its own name is fine
        store.rename("a", "Ink night v2")
        assert store.names() == ["B", "Ink night v2"]
        assert store.load("Ink night v2").loras == MIX
        with pytest.raises(PresetError, match="no preset named 'A'"):
            store.rename("A", "C")
        store.delete("B")
        assert store.names() == ["Ink night v2"]
        with pytest.raises(PresetError, match="no preset named 'B'"):
            store.delete("B")
        with pytest.raises(PresetError, match="no preset named 'B'"):
            store.load("B")


def test_lives_in_the_catalog_file_next_to_the_library(data: DataDir, catalog: Catalog) -> None:
    with PresetStore(data.catalog_db) as store:
        store.save(Preset("Shared file", MIX))
    assert catalog.count() == 0  # the library tables are untouched
    conn = sqlite3.connect(data.catalog_db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT name FROM presets").fetchall() == [("Shared file",)]
    finally:
        conn.close()


def test_damaged_payload_is_a_clear_error_and_odd_values_are_tolerated(data: DataDir) -> None:
    with PresetStore(data.catalog_db) as store:
        store.save(Preset("Broken", MIX))
        store.save(Preset("Odd", MIX))
    conn = sqlite3.connect(data.catalog_db)
    with conn:
        conn.execute("UPDATE presets SET payload = '{oops' WHERE name = 'Broken'")
        conn.execute("""UPDATE presets SET payload = '{"loras": [{"path": "/x.safetensors", "weight": "heavy"},
                        42, {"name": "no path"}]}' WHERE name = 'Odd'""")
    conn.close()
    with PresetStore(data.catalog_db) as store:
        with pytest.raises(PresetError, match="'Broken' is damaged"):
            store.load("Broken")
        odd = store.load("Odd")
        assert odd.loras == (PresetLora(Path("/x.safetensors"), "", 1.0, None, True),)


def test_block_weights_and_step_range_are_kept(data: DataDir) -> None:
    blocks = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.5)
    lora = PresetLora(Path("/loras/ink.safetensors"), "Ink Wash", 0.8, None, True, blocks, 0.2, 0.7)
    with PresetStore(data.catalog_db) as store:
        store.save(Preset("Blocks", (lora,)))
    with PresetStore(data.catalog_db) as store:
        assert store.load("Blocks").loras == (lora,)
