"""A training folder: images (png/jpg/webp, nested folders ok), their captions and buckets.

Captions come from kohya's ``name.txt`` sidecar next to each image. Images that cannot be read,
and captions that are not text we can decode, are listed with one sentence each and skipped: a
bad file never stops the scan. Each image goes to an aspect-ratio bucket no larger than the image
itself (small images are never upscaled) and its crop is recorded, so the page can show it.
"""

from __future__ import annotations

import codecs
import math
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lorastudio.core.errors import TrainingDataError
from lorastudio.core.metadata.untrusted import clean_text

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MAX_IMAGES = 20_000
MAX_CAPTION_BYTES = 64 * 1024
MAX_IMAGE_PIXELS = 64_000_000  # a decompression bomb is refused, not decoded
DEFAULT_BUCKET_STEP = 64  # SD's VAE (8x) times its UNet's three downsamplings


@dataclass(frozen=True)
class Crop:
    """The part of the original image that is trained on, in original pixels, and its bucket."""

    left: int
    top: int
    width: int
    height: int
    bucket: tuple[int, int]  # (width, height) the crop is resized to


@dataclass(frozen=True)
class TrainImage:
    path: Path
    caption: str
    size: tuple[int, int]  # original (width, height)
    crop: Crop

    @property
    def caption_path(self) -> Path:
        return caption_path(self.path)


@dataclass(frozen=True)
class SkippedFile:
    path: Path
    reason: str  # one sentence


@dataclass(frozen=True)
class Dataset:
    folder: Path
    images: tuple[TrainImage, ...]
    skipped: tuple[SkippedFile, ...]

    def tag_frequency(self) -> dict[str, int]:
        """Comma-separated caption tags and how many images carry each (kohya's ``ss_tag_frequency``)."""
        counts: Counter[str] = Counter()
        for image in self.images:
            counts.update({t.strip() for t in image.caption.split(",") if t.strip()})
        return dict(counts.most_common())

    def buckets(self) -> dict[tuple[int, int], int]:
        return dict(Counter(image.crop.bucket for image in self.images))

    def with_captions(self, captions: dict[Path, str]) -> Dataset:
        """The same images with some captions replaced (edits from the caption grid)."""
        images = tuple(replace(i, caption=captions.get(i.path, i.caption)) for i in self.images)
        return replace(self, images=images)


def caption_path(image: Path) -> Path:
    return image.with_suffix(".txt")


def find_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive, hidden folders skipped), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TrainingDataError(f"{clean_text(str(folder))} is not a folder.")
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith("."):
                found.append(Path(root) / name)
                if len(found) > MAX_IMAGES:
                    raise TrainingDataError(f"{folder.name} holds more than {MAX_IMAGES} images; train on fewer.")
    return found


def read_caption(path: Path) -> str:
    """The caption in ``path``: UTF-8 (with or without BOM) or UTF-16 with a BOM, one line per tag
    line joined by spaces; raise ``TrainingDataError`` for anything else."""
    name = clean_text(path.name)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CAPTION_BYTES + 1)
    except OSError as err:
        raise TrainingDataError(f"{name} could not be read: {err.strerror or err}.") from None
    if len(raw) > MAX_CAPTION_BYTES:
        raise TrainingDataError(f"{name} is longer than {MAX_CAPTION_BYTES // 1024} KB; a caption is a line or two.")
    try:
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text = raw.decode("utf-16")
        else:
            text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TrainingDataError(f"{name} is not UTF-8 or UTF-16 text; save it as UTF-8.") from None
    return " ".join(clean_text(line).strip() for line in text.splitlines() if line.strip())


def write_caption(image: Path, caption: str) -> None:
    """Save ``caption`` as the image's ``.txt`` sidecar (UTF-8), via a temp file and a rename."""
    target = caption_path(image)
    tmp = target.with_name(f".{target.name}.partial")
    try:
        tmp.write_text(caption.strip() + "\n", "utf-8")
        os.replace(tmp, target)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise TrainingDataError(f"The caption {clean_text(target.name)} could not be saved: "
                                f"{err.strerror or err}.") from None


def choose_crop(size: tuple[int, int], resolution: int, step: int = DEFAULT_BUCKET_STEP) -> Crop | None:
    """The bucket and centred crop for an image of ``size``: the largest ``step``-multiple box with
    the image's aspect ratio and at most ``resolution²`` pixels that fits inside the image (never
    upscaled); None when the image is smaller than one ``step`` on a side."""
    w, h = size
    if w < step or h < step:
        return None
    area = min(resolution * resolution, w * h)
    aspect = w / h
    bw = max(step, min(w, int(math.sqrt(area * aspect))) // step * step)
    bh = max(step, min(h, int(math.sqrt(area / aspect))) // step * step)
    # Scale the image so that it covers the bucket, then centre the crop: in original pixels the
    # crop is the bucket divided by that scale.
    scale = max(bw / w, bh / h)
    cw, ch = min(w, round(bw / scale)), min(h, round(bh / scale))
    return Crop(left=(w - cw) // 2, top=(h - ch) // 2, width=cw, height=ch, bucket=(bw, bh))


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        w, h = image.size
        if w * h > MAX_IMAGE_PIXELS:
            raise ValueError("too large")
        image.verify()  # reads the whole file: a truncated or corrupt one fails here, not mid-training
    return int(w), int(h)


def scan_dataset(folder: Path, resolution: int = 512, step: int = DEFAULT_BUCKET_STEP,
                 captions: dict[Path, str] | None = None) -> Dataset:
    """Read ``folder``: every image with its caption and crop; bad files go to ``skipped``.

    ``captions`` overrides sidecars (unsaved edits). Raises ``TrainingDataError`` when no image
    can be trained on.
    """
    folder = Path(folder)
    paths = find_images(folder)
    if not paths:
        raise TrainingDataError(f"{clean_text(folder.name)} holds no png, jpg or webp images.")
    images: list[TrainImage] = []
    skipped: list[SkippedFile] = []
    for path in paths:
        shown = clean_text(str(path.relative_to(folder)))
        try:
            size = _image_size(path)
        except ValueError as err:
            why = "is too large to train on" if str(err) == "too large" else "could not be read as an image"
            skipped.append(SkippedFile(path, f"{shown} {why}."))
            continue
        except Exception:  # PIL raises OSError, SyntaxError, struct.error... for broken files
            skipped.append(SkippedFile(path, f"{shown} could not be read as an image."))
            continue
        crop = choose_crop(size, resolution, step)
        if crop is None:
            skipped.append(SkippedFile(path, f"{shown} is smaller than {step}×{step} pixels."))
            continue
        if captions is not None and path in captions:
            caption = captions[path]
        elif caption_path(path).is_file():
            try:
                caption = read_caption(caption_path(path))
            except TrainingDataError as err:
                skipped.append(SkippedFile(path, str(err)))
                continue
        else:
            caption = ""
        images.append(TrainImage(path, caption, size, crop))
    if not images:
        raise TrainingDataError(f"None of the {len(paths)} images in {clean_text(folder.name)} can be used: "
                                f"{skipped[0].reason}")
    return Dataset(folder, tuple(images), tuple(skipped))


def load_crop(image: TrainImage) -> Any:
    """The image's crop resized to its bucket, as an RGB PIL image."""
    from PIL import Image

    c = image.crop
    with Image.open(image.path) as opened:
        rgb = opened.convert("RGB")
    box = (c.left, c.top, c.left + c.width, c.top + c.height)
    return rgb.resize(c.bucket, Image.Resampling.LANCZOS, box=box)


def plan_batches(dataset: Dataset, batch_size: int, repeats: int, seed: int, epoch: int) -> list[list[int]]:
    """The epoch's batches as lists of image indices: each image ``repeats`` times, only images of
    one bucket in a batch, shuffled by ``(seed, epoch)`` so a resumed run sees the same order."""
    import random

    rng = random.Random(seed * 100_003 + epoch)
    by_bucket: dict[tuple[int, int], list[int]] = {}
    for index, image in enumerate(dataset.images):
        by_bucket.setdefault(image.crop.bucket, []).extend([index] * repeats)
    batches: list[list[int]] = []
    for bucket in sorted(by_bucket):
        indices = by_bucket[bucket]
        rng.shuffle(indices)
        batches.extend(indices[i:i + batch_size] for i in range(0, len(indices), batch_size))
    rng.shuffle(batches)
    return batches


def steps_per_epoch(dataset: Dataset, batch_size: int, repeats: int) -> int:
    return len(plan_batches(dataset, batch_size, repeats, 0, 0))


def find_replace(captions: Iterable[tuple[Path, str]], find: str, replace_with: str) -> dict[Path, str]:
    """Captions with ``find`` replaced (only those that change)."""
    if not find:
        return {}
    return {p: c.replace(find, replace_with) for p, c in captions if find in c}


def prepend_trigger(captions: Iterable[tuple[Path, str]], trigger: str) -> dict[Path, str]:
    """Captions that do not start with ``trigger`` get it in front, kohya style (``trigger, …``)."""
    trigger = trigger.strip()
    if not trigger:
        return {}
    out: dict[Path, str] = {}
    for path, caption in captions:
        first = caption.split(",", 1)[0].strip()
        if first != trigger:
            out[path] = f"{trigger}, {caption}" if caption.strip() else trigger
    return out
