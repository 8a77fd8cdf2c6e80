"""Low-memory options are applied (and undone) without reloading; out-of-memory is reported with a
suggestion and the engine keeps working."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lorastudio.core.engine.engine import DiffusersEngine
from lorastudio.core.engine.memory import OFFLOAD_NEEDS_GPU, MemoryOptions, applied_summary
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.errors import OutOfMemory


@pytest.fixture(scope="module")
def engine() -> DiffusersEngine:
    return DiffusersEngine(device="cpu")


def _pixels(engine: DiffusersEngine, model: Path, memory: MemoryOptions = MemoryOptions()) -> np.ndarray:
    request = GenerationRequest(model=model, prompt="a cat", seed=5, steps=2, cfg=6.0, width=64, height=64,
                                memory=memory)
    return np.asarray(engine.generate(request)[0].image)


def test_off_by_default(engine: DiffusersEngine, demo_pipeline: Path) -> None:
    assert GenerationRequest(model=demo_pipeline, prompt="x").memory == MemoryOptions()
    _pixels(engine, demo_pipeline)
    assert applied_summary(engine.pipeline) == {"attention_slicing": False, "vae_tiling": False,
                                                "cpu_offload": False}


def test_slicing_and_tiling_apply_and_undo_without_reload(engine: DiffusersEngine, demo_pipeline: Path) -> None:
    base = _pixels(engine, demo_pipeline)
    loads = engine.stats.pipeline_loads
    sliced = _pixels(engine, demo_pipeline, MemoryOptions(attention_slicing=True, vae_tiling=True))
    assert applied_summary(engine.pipeline)["attention_slicing"]
    assert applied_summary(engine.pipeline)["vae_tiling"]
    # Same maths in slices: the picture stays the same (within rounding of one 8-bit level).
    assert np.abs(sliced.astype(int) - base.astype(int)).max() <= 1
    again = _pixels(engine, demo_pipeline)
    assert applied_summary(engine.pipeline) == {"attention_slicing": False, "vae_tiling": False,
                                                "cpu_offload": False}
    assert np.array_equal(again, base)
    assert engine.stats.pipeline_loads == loads


def test_cpu_offload_is_ignored_on_cpu_with_a_note(engine: DiffusersEngine, demo_pipeline: Path) -> None:
    assert _pixels(engine, demo_pipeline, MemoryOptions(cpu_offload=True)).shape == (64, 64, 3)
    assert engine.memory_notes == (OFFLOAD_NEEDS_GPU,)
    assert not applied_summary(engine.pipeline)["cpu_offload"]


def test_out_of_memory_is_reported_with_a_suggestion_and_engine_recovers(
        engine: DiffusersEngine, demo_pipeline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    base = _pixels(engine, demo_pipeline)

    def out_of_memory(self: object, *args: object, **kwargs: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    with monkeypatch.context() as patch:
        patch.setattr(type(engine.pipeline), "__call__", out_of_memory)
        with pytest.raises(OutOfMemory, match=r"ran out of memory\. Try a smaller size.*VAE tiling"):
            _pixels(engine, demo_pipeline)
    assert np.array_equal(_pixels(engine, demo_pipeline), base)


def test_vae_tiling_decodes_large_images_in_tiles(engine: DiffusersEngine, demo_pipeline: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _pixels(engine, demo_pipeline)
    vae_cls = type(engine.pipeline.vae)
    calls: list[tuple[int, ...]] = []
    real = vae_cls.tiled_decode

    def spy(self: object, z: object, *args: object, **kwargs: object) -> object:
        calls.append(tuple(z.shape))  # type: ignore[attr-defined]
        return real(self, z, *args, **kwargs)

    monkeypatch.setattr(vae_cls, "tiled_decode", spy)
    request = GenerationRequest(model=demo_pipeline, prompt="a cat", seed=5, steps=1, cfg=1.0,
                                width=256, height=256, memory=MemoryOptions(vae_tiling=True))
    assert engine.generate(request)[0].image.size == (256, 256)
    assert calls == [(1, 4, 32, 32)]  # latents larger than one tile went through the tiled decoder
