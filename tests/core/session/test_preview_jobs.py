"""LoRA preview jobs: the request for one LoRA's preview and where its PNG is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.session.preview_jobs import PREVIEW_SEED, PreviewJobs, preview_request


def _base(**kw: object) -> GenerationRequest:
    values: dict[str, object] = dict(model=Path("/m/model.safetensors"), prompt="", seed=7, width=1024,
                                     height=768, steps=2, batch_count=3,
                                     loras=(LoraSpec(Path("/l/other.safetensors"), 0.3),))
    values.update(kw)
    return GenerationRequest(**values)  # type: ignore[arg-type]


def test_request_has_the_lora_alone_with_its_words_a_fixed_seed_and_a_capped_size() -> None:
    lora = Path("/l/ink.safetensors")
    req = preview_request(_base(), lora, 0.8, ("inkstyle", "lineart"))
    assert req.loras == (LoraSpec(lora, 0.8, name="ink"),)
    assert req.prompt == "inkstyle, lineart, a portrait"
    assert (req.seed, req.width, req.height, req.batch_count) == (PREVIEW_SEED, 512, 512, 1)
    assert req.model == Path("/m/model.safetensors")
    assert req.steps == 2


def test_request_keeps_the_prompt_and_defaults_the_weight_to_one() -> None:
    req = preview_request(_base(prompt="a cat", width=64, height=64), Path("/l/x.safetensors"), None, ())
    assert req.prompt == "a cat"
    assert req.loras[0].weight == 1.0
    assert (req.width, req.height) == (64, 64)


def test_finish_writes_next_to_the_lora_and_counts_progress(tmp_path: Path) -> None:
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    jobs = PreviewJobs(tmp_path / "cache")
    jobs.add("j-1", a)
    jobs.add("j-2", b)
    assert "j-1" in jobs
    assert "other" not in jobs
    assert jobs.progress() == "Preview 1 of 2"
    assert jobs.finish("j-1", b"png-a") == tmp_path / "a.preview.png"
    assert (tmp_path / "a.preview.png").read_bytes() == b"png-a"
    assert jobs.progress() == "Preview 2 of 2"
    jobs.drop("j-2")  # cancelled: nothing written
    assert not (tmp_path / "b.preview.png").exists()
    assert jobs.finish("j-unknown", b"x") is None


def test_missing_previews_never_overwrite_an_existing_one(tmp_path: Path) -> None:
    lora = tmp_path / "a.safetensors"
    (tmp_path / "a.preview.png").write_bytes(b"old")
    jobs = PreviewJobs(tmp_path / "cache")
    jobs.add("j-1", lora, overwrite=False)
    assert jobs.finish("j-1", b"new") is None
    assert (tmp_path / "a.preview.png").read_bytes() == b"old"


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="needs a folder this user cannot write")
def test_read_only_folder_falls_back_to_the_cache(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    lora = folder / "a.safetensors"
    folder.chmod(0o555)
    try:
        jobs = PreviewJobs(tmp_path / "cache")
        jobs.add("j-1", lora, sha256="abc")
        assert jobs.finish("j-1", b"png") == tmp_path / "cache" / "previews" / "abc.preview.png"
    finally:
        folder.chmod(0o755)
