from __future__ import annotations

from dataclasses import replace

import pytest

from lorastudio.core.errors import HubAccessDenied, HubError
from lorastudio.core.hub import kinds
from lorastudio.core.hub.card import card_images, fetch_repo_file, model_page, safe_markdown
from lorastudio.core.hub.search import search_models


def test_search_text_kind_base_and_sort(hub, conn):
    everything = search_models("", conn=conn)
    assert [m.repo_id for m in everything][:3] == ["acme/pixel-knight-lora", "acme/dreamy-checkpoint",
                                                   "acme/tiny-pipeline"]
    lora = search_models("pixel", conn=conn)
    assert len(lora) == 1
    m = lora[0]
    assert (m.author, m.downloads, m.likes, m.kind, m.license) == ("acme", 1200, 40, kinds.LORA, "openrail++")
    assert m.base_model == "stabilityai/stable-diffusion-xl-base-1.0"
    assert m.last_modified is not None
    assert m.last_modified.year == 2026

    assert [m.repo_id for m in search_models(kind=kinds.LORA, conn=conn)] == [
        "acme/pixel-knight-lora", "corp/gated-lora", "me/private-lora"]
    assert [m.repo_id for m in search_models(kind=kinds.PIPELINE, conn=conn)] == ["acme/tiny-pipeline"]
    assert [m.repo_id for m in search_models(kind=kinds.CHECKPOINT, conn=conn)] == ["acme/dreamy-checkpoint"]
    sd15 = kinds.BASE_MODELS["SD 1.5"]
    assert [m.repo_id for m in search_models(base_model=sd15, conn=conn)] == ["acme/dreamy-checkpoint"]
    assert search_models(sort="likes", conn=conn)[0].repo_id == "acme/dreamy-checkpoint"
    assert search_models(sort="last_modified", conn=conn)[0].repo_id == "acme/dreamy-checkpoint"
    gated = search_models("gated", conn=conn)[0]
    assert gated.gated is True
    query = hub.requests("GET", "/api/models")[-1]["query"]
    assert "sort=lastModified" not in query  # last call was a plain search


def test_offline_search_says_so(conn):
    with pytest.raises(HubError, match="Offline mode"):
        search_models("x", conn=replace(conn, offline=True))


def test_unreachable_hub_is_one_sentence(conn):
    with pytest.raises(HubError, match="could not be reached"):
        search_models("x", conn=replace(conn, endpoint="http://127.0.0.1:9"))


def test_model_page_files_sizes_and_relevance(conn):
    page = model_page("acme/pixel-knight-lora", conn=conn)
    assert page.kind == kinds.LORA
    assert page.commit == "1" * 40
    weights = page.file("pixel_knight.safetensors")
    assert weights is not None
    assert weights.relevant
    assert weights.size
    assert len(weights.sha256 or "") == 64
    assert not page.file("README.md").relevant
    assert page.default_install() == ["pixel_knight.safetensors"]
    assert page.preview_file == "sample.png"
    assert "Pixel Knight" in page.card_markdown

    pipe = model_page("acme/tiny-pipeline", conn=conn)
    assert pipe.is_pipeline
    assert set(pipe.default_install()) == {"model_index.json", "unet/config.json", "vae/config.json",
                                           "unet/diffusion_pytorch_model.safetensors",
                                           "vae/diffusion_pytorch_model.safetensors"}


def test_card_is_sanitized(conn):
    page = model_page("acme/pixel-knight-lora", conn=conn)
    safe = safe_markdown(page.card_markdown)
    assert "<script" not in safe
    assert "alert('x')" not in safe
    assert "<img" not in safe
    assert "javascript:" not in safe
    assert "evil.example" not in safe
    assert "[docs](https://example.org/docs)" in safe
    assert "*[image: sample]*" in safe
    assert "license:" not in safe  # YAML front matter is not shown

    assert card_images(page.card_markdown, [f.path for f in page.files]) == ["sample.png"]
    local = fetch_repo_file(page, "sample.png", conn=conn)
    allowed = safe_markdown(page.card_markdown, {"sample.png": local})
    assert f"![sample]({local.resolve().as_uri()})" in allowed
    assert "evil.example" not in allowed  # remote images never, even when allowed


def test_missing_and_private_repos(conn):
    with pytest.raises(HubAccessDenied, match="not found, or it is private"):
        model_page("acme/nope", conn=conn)
    with pytest.raises(HubAccessDenied, match="private"):
        model_page("me/private-lora", conn=conn)
    with pytest.raises(HubAccessDenied, match="accept the license on the model page"):
        model_page("corp/gated-lora", conn=conn)
