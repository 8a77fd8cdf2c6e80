"""History of results: the outputs folder's PNGs, newest first, with their parameters."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lorastudio.core.engine.history import History, read_entry
from lorastudio.core.engine.output import save_png
from lorastudio.core.engine.request import GenerationRequest


def _result(folder: Path, prompt: str, seed: int, mtime: int) -> Path:
    from PIL import Image

    request = GenerationRequest(
        model=folder / "demo-model", prompt=prompt, negative_prompt="blurry", steps=9, width=32, height=16
    )
    path = save_png(Image.new("RGB", (32, 16), (seed % 255, 0, 0)), request, seed, folder)
    os.utime(path, ns=(mtime * 10**9, mtime * 10**9))
    return path


def test_newest_first_with_parameters_and_survives_a_restart(tmp_path: Path) -> None:
    outputs, index = tmp_path / "outputs", tmp_path / "cache" / "history.json"
    old = _result(outputs, "an old lighthouse", 1, 1_000)
    new = _result(outputs, "a new lighthouse\nwith two lines", 2, 2_000)
    (outputs / "notes.txt").write_text("not an image")
    (outputs / "broken.png").write_bytes(b"garbage")

    entries = History(outputs, index).scan()
    assert [e.path for e in entries] == [new, old]
    assert entries[0].title == "a new lighthouse"
    assert (entries[0].width, entries[0].height) == (32, 16)
    info = entries[0].info
    assert info.negative_prompt == "blurry"
    assert info.get_int("Seed") == 2
    assert info.get_int("Steps") == 9
    assert "Seed: 2" in entries[0].describe()

    # A "restart": a new instance over the same folder sees the same history (from the index).
    again = History(outputs, index).scan()
    assert again == entries
    assert index.exists()


def test_the_index_is_a_cache_the_files_are_the_truth(tmp_path: Path) -> None:
    outputs, index = tmp_path / "outputs", tmp_path / "history.json"
    path = _result(outputs, "first", 1, 1_000)
    History(outputs, index).scan()

    # Rewrite the file in place (another tool re-saved it): new size/mtime, so it is read again.
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    meta.add_text("parameters", "edited prompt\nSteps: 3, Seed: 4, Size: 8x8")
    Image.new("RGB", (8, 8)).save(path, pnginfo=meta)
    os.utime(path, ns=(3_000 * 10**9, 3_000 * 10**9))
    (entry,) = History(outputs, index).scan()
    assert entry.info.prompt == "edited prompt"

    # A damaged index is ignored and rebuilt.
    index.write_text("{not json")
    assert History(outputs, index).scan()[0].info.prompt == "edited prompt"
    assert json.loads(index.read_text())["version"] == 1


def test_images_from_other_tools_and_subfolders_appear(tmp_path: Path) -> None:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    outputs = tmp_path / "outputs"
    (outputs / "2024-05-01").mkdir(parents=True)
    meta = PngInfo()
    meta.add_itxt("parameters", "日本の灯台\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 8x8")
    a1111 = outputs / "2024-05-01" / "00001-1.png"
    Image.new("RGB", (8, 8)).save(a1111, pnginfo=meta)
    plain = outputs / "plain.png"
    Image.new("RGB", (4, 4)).save(plain)
    entries = History(outputs).scan()
    assert {e.path for e in entries} == {a1111.resolve(), plain.resolve()}
    by_name = {e.path.name: e for e in entries}
    assert by_name["00001-1.png"].title == "日本の灯台"
    assert by_name["plain.png"].title == "plain.png"
    assert "(no generation parameters)" in by_name["plain.png"].describe()


def test_delete_removes_the_file_and_the_index_entry(tmp_path: Path) -> None:
    outputs, index = tmp_path / "outputs", tmp_path / "history.json"
    keep = _result(outputs, "keep", 1, 1_000)
    gone = _result(outputs, "gone", 2, 2_000)
    history = History(outputs, index)
    history.scan()
    history.delete(gone)
    assert not gone.exists()
    assert "gone" not in index.read_text()
    assert [e.path for e in History(outputs, index).scan()] == [keep]


def test_missing_outputs_folder_is_an_empty_history(tmp_path: Path) -> None:
    assert History(tmp_path / "nothing-yet", tmp_path / "i.json").scan() == []
    assert read_entry(tmp_path / "nope.png") is None
