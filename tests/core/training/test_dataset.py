"""The training folder: captions in several encodings, broken files, buckets without upscaling."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from PIL import Image

from lorastudio.core.errors import TrainingDataError
from lorastudio.core.training.dataset import (
    choose_crop,
    find_replace,
    plan_batches,
    prepend_trigger,
    read_caption,
    scan_dataset,
    write_caption,
)


def _image(path: Path, size: tuple[int, int] = (64, 64)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 30, 30)).save(path)
    return path


def test_nested_folders_and_sidecar_captions(pictures: Path) -> None:
    data = scan_dataset(pictures, resolution=64, step=16)
    assert len(data.images) == 8
    assert not data.skipped
    assert any("more" in str(i.path.parent) for i in data.images)
    assert all(i.caption.startswith("zq disc, ") for i in data.images)
    assert data.tag_frequency()["zq disc"] == 8
    assert data.tag_frequency()["red"] == 1


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_captions_in_unicode_encodings(tmp_path: Path, encoding: str) -> None:
    caption = tmp_path / "a.txt"
    caption.write_bytes("café, naïve\r\nsecond line".encode(encoding))
    if encoding == "utf-16":
        assert caption.read_bytes()[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    assert read_caption(caption) == "café, naïve second line"


def test_caption_in_another_encoding_is_listed_with_a_sentence(tmp_path: Path) -> None:
    _image(tmp_path / "good.png")
    _image(tmp_path / "latin.png")
    (tmp_path / "latin.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    data = scan_dataset(tmp_path, resolution=64, step=16)
    assert [i.path.name for i in data.images] == ["good.png"]
    assert data.skipped[0].reason == "latin.txt is not UTF-8 or UTF-16 text; save it as UTF-8."


def test_corrupt_image_is_skipped_and_named(tmp_path: Path) -> None:
    _image(tmp_path / "ok.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    good = _image(tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 2])  # truncated
    data = scan_dataset(tmp_path, resolution=64, step=16)
    assert [i.path.name for i in data.images] == ["ok.png"]
    assert {s.reason for s in data.skipped} == {"broken.jpg could not be read as an image.",
                                               "cut.png could not be read as an image."}


def test_empty_folder_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no pictures here")
    with pytest.raises(TrainingDataError, match=r"^\S+ holds no png, jpg or webp images\.$"):
        scan_dataset(tmp_path)


def test_only_bad_images_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"garbage")
    with pytest.raises(TrainingDataError, match=r"None of the 1 images .* x\.png could not be read as an image\."):
        scan_dataset(tmp_path)


def test_small_images_are_not_upscaled_and_the_crop_is_recorded() -> None:
    crop = choose_crop((300, 200), resolution=512, step=64)
    assert crop is not None
    assert crop.bucket[0] <= 300
    assert crop.bucket[1] <= 200
    assert crop.bucket == (256, 192)
    assert crop.left >= 0
    assert crop.left + crop.width <= 300
    assert crop.top + crop.height <= 200
    big = choose_crop((2000, 1000), resolution=512, step=64)
    assert big is not None
    assert big.bucket[0] * big.bucket[1] <= 512 * 512
    assert big.bucket[0] > big.bucket[1]  # landscape stays landscape
    assert choose_crop((40, 40), resolution=512, step=64) is None


def test_batches_hold_one_bucket_and_repeat(pictures: Path) -> None:
    data = scan_dataset(pictures, resolution=64, step=16)
    batches = plan_batches(data, batch_size=2, repeats=3, seed=5, epoch=2)
    assert sorted(i for b in batches for i in b) == sorted(list(range(8)) * 3)
    assert all(len({data.images[i].crop.bucket for i in b}) == 1 for b in batches)
    assert batches == plan_batches(data, batch_size=2, repeats=3, seed=5, epoch=2)  # resumable order
    assert batches != plan_batches(data, batch_size=2, repeats=3, seed=5, epoch=3)


def test_caption_edits(tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    captions = [(a, "zq, red dress"), (b, "blue dress")]
    assert find_replace(captions, "dress", "coat") == {a: "zq, red coat", b: "blue coat"}
    assert prepend_trigger(captions, "zq") == {b: "zq, blue dress"}
    _image(a)
    write_caption(a, "zq, red coat")
    assert read_caption(a.with_suffix(".txt")) == "zq, red coat"
    assert not list(tmp_path.glob(".*partial"))
