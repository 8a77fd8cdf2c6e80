"""User block-weight presets: save, list, replace, delete in the catalog database, per block layout."""

from __future__ import annotations

import sqlite3

import pytest

from lorastudio.core.engine.blocks import PRESET_NAMES
from lorastudio.core.errors import PresetError
from lorastudio.core.library.block_presets import BlockPresetStore
from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.presets import Preset, PresetStore
from lorastudio.core.paths import DataDir

FACE_SD1 = (1.0, 1.0, 0.0, 0.5, 0.5, 0.0, 0.0, 1.0, 1.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.5)
FACE_XL = (1.0, 0.0, 0.0, 0.5, 0.5, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0)


def test_presets_round_trip_per_layout_beside_the_catalog(data: DataDir) -> None:
    with Catalog(data.catalog_db):  # the library's own tables in the same file
        pass
    with BlockPresetStore(data.catalog_db) as store:
        assert store.presets(17) == {}
        assert store.save("Face", FACE_SD1) == "Face"
        assert store.save("face", FACE_XL) == "face"  # the same name once per layout
        store.save("  Background   only ", (0.0,) * 17)
    with BlockPresetStore(data.catalog_db) as store:  # reopened: stored, not cached
        assert store.presets(17) == {"Background only": (0.0,) * 17, "Face": FACE_SD1}
        assert store.presets(12) == {"face": FACE_XL}
        assert store.stored_name("FACE", 17) == "Face"
        assert store.stored_name("Hands", 17) is None
    with sqlite3.connect(data.catalog_db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"files", "block_presets"} <= tables


def test_a_taken_name_is_refused_unless_replacing(data: DataDir) -> None:
    with BlockPresetStore(data.catalog_db) as store:
        store.save("Face", FACE_SD1)
        with pytest.raises(PresetError, match="already exists"):
            store.save("FACE", (0.0,) * 17)
        assert store.save("FACE", (0.0,) * 17, overwrite=True) == "FACE"
        assert store.presets(17) == {"FACE": (0.0,) * 17}


def test_built_in_names_and_bad_vectors_are_refused_in_one_sentence(data: DataDir) -> None:
    with BlockPresetStore(data.catalog_db) as store:
        with pytest.raises(PresetError, match="built-in") as err:
            store.save("outd", FACE_SD1, reserved=PRESET_NAMES)
        assert str(err.value).count(".") == 1
        for bad in ((), (1.0,) * 65, (float("nan"),) * 17, (11.0,) * 17):
            with pytest.raises(PresetError):
                store.save("Bad", bad)
        with pytest.raises(PresetError, match="name"):
            store.save("   ", FACE_SD1)
        assert store.presets(17) == {}


def test_delete_and_unknown_names(data: DataDir) -> None:
    with BlockPresetStore(data.catalog_db) as store:
        store.save("Face", FACE_SD1)
        store.save("Face", FACE_XL)
        store.delete("FACE", 17)
        assert store.presets(17) == {}
        assert store.presets(12) == {"Face": FACE_XL}
        with pytest.raises(PresetError, match="no block preset"):
            store.delete("Face", 17)


def test_a_damaged_row_is_skipped_and_mix_presets_are_untouched(data: DataDir) -> None:
    with PresetStore(data.catalog_db) as mixes:
        mixes.save(Preset("Ink night"))
    with BlockPresetStore(data.catalog_db) as store:
        store.save("Face", FACE_SD1)
    with sqlite3.connect(data.catalog_db) as conn:
        conn.execute("INSERT INTO block_presets VALUES ('Broken', 17, '{not json', 0, 0)")
        conn.execute("INSERT INTO block_presets VALUES ('Short', 17, '[1, 0]', 0, 0)")
        conn.execute("INSERT INTO block_presets VALUES ('Huge', 17, ?, 0, 0)", (str([1e9] * 17),))
    with BlockPresetStore(data.catalog_db) as store:
        assert store.presets(17) == {"Face": FACE_SD1}
    with PresetStore(data.catalog_db) as mixes:
        assert mixes.names() == ["Ink night"]
