"""HubPage and DownloadsPanel driven by the fake Hub on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))

from fake_hub import FakeRepo, safetensors_bytes, start_fake_hub

from lorastudio.core.hub.queue import DONE, PAUSED
from lorastudio.core.paths import DataDir


@pytest.fixture
def hub(monkeypatch, tmp_path):
    import huggingface_hub.constants as hub_constants

    import lorastudio.core.hub.download as download
    from lorastudio.core.hub import tokens

    server = start_fake_hub()
    server.add(FakeRepo("studio/big-lora", {"big_lora.safetensors": safetensors_bytes(1_500_000)},
                        lfs={"big_lora.safetensors"}, tags=["lora", "base_model:adapter:x/y"],
                        commit="9" * 40, downloads=3, likes=0))
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", hub_constants.HF_HUB_OFFLINE)
    monkeypatch.setattr(hub_constants, "DOWNLOAD_CHUNK_SIZE", hub_constants.DOWNLOAD_CHUNK_SIZE)
    monkeypatch.setattr(download, "CHUNK_SIZE", 64 * 1024)
    monkeypatch.setattr(tokens, "_keyring_usable", lambda: False)
    yield server
    server.faults.delay = 0
    server.stop()


@pytest.fixture
def page(qtbot, hub, tmp_path):
    from lorastudio.qt.widgets.hub_page import HubPage

    widget = HubPage(DataDir(tmp_path / "data").ensure())
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    yield widget
    widget.shutdown()


def search(qtbot, page, text: str) -> None:
    with qtbot.waitSignal(page._client.answered, timeout=10_000):
        page.search_edit.setText(text)  # debounced search-as-you-type
    qtbot.waitUntil(lambda: "model(s)" in page.status.text() or "No models" in page.status.text(), timeout=5000)


def open_row(qtbot, page, repo_id: str) -> None:
    row = next(r for r in range(page.results.rowCount()) if page.results.summary(r).repo_id == repo_id)
    with qtbot.waitSignal(page._client.answered, timeout=10_000):
        page.table.selectRow(row)
    qtbot.waitUntil(lambda: page.model_view.page is not None, timeout=5000)


def test_search_filters_and_results(qtbot, page):
    search(qtbot, page, "acme")
    assert page.results.rowCount() == 3
    first = [page.results.data(page.results.index(0, c)) for c in range(8)]
    assert first == ["pixel-knight-lora", "acme", "LoRA", "stable-diffusion-xl-base-1.0", "1.2k", "40",
                     "openrail++", "open"]
    with qtbot.waitSignal(page._client.answered, timeout=10_000):
        page.kind_combo.setCurrentIndex(page.kind_combo.findData("pipeline"))
    qtbot.waitUntil(lambda: page.results.rowCount() == 1, timeout=5000)
    assert page.results.summary(0).repo_id == "acme/tiny-pipeline"
    page.kind_combo.setCurrentIndex(0)
    qtbot.waitUntil(lambda: page.results.rowCount() == 3, timeout=5000)
    with qtbot.waitSignal(page._client.answered, timeout=10_000):
        page.sort_combo.setCurrentIndex(page.sort_combo.findData("likes"))
    qtbot.waitUntil(lambda: page.results.summary(0).repo_id == "acme/dreamy-checkpoint", timeout=5000)


def test_gated_flag_and_no_results(qtbot, page):
    search(qtbot, page, "gated")
    assert page.results.data(page.results.index(0, 7)) == "gated"
    search(qtbot, page, "zzz-nothing")
    assert "No models match" in page.status.text()


def test_model_page_and_one_click_install(qtbot, page):
    search(qtbot, page, "pixel")
    open_row(qtbot, page, "acme/pixel-knight-lora")
    view = page.model_view
    html = view.card.toHtml()
    assert "Pixel Knight LoRA" in view.card.toPlainText()
    assert "alert" not in html
    assert "evil.example" not in html
    assert "<script" not in html
    assert view.selected_files() == ("pixel_knight.safetensors",)
    assert view.install_button.isEnabled()
    assert "into LoRAs" in view.install_note.text()
    assert not view.preview.pixmap().isNull()
    with qtbot.waitSignal(page.installed, timeout=20_000) as blocker:
        view.install_button.click()
    installed = Path(blocker.args[0])
    assert installed == page._data.loras / "pixel_knight.safetensors"
    assert installed.is_file()
    qtbot.waitUntil(lambda: not page.downloads.is_busy(), timeout=5000)
    row = next(iter(page.downloads.rows.values()))
    assert row.state == DONE
    assert row.bar.value() == 1000


def test_failures_reach_the_user(qtbot, page, hub):
    search(qtbot, page, "gated")
    with qtbot.waitSignal(page.message, timeout=10_000) as blocker:
        page.open_model("corp/gated-lora")
    assert blocker.args[0] == "error"
    assert "accept the license on the model page" in blocker.args[1]
    assert "accept the license" in page.model_view.title.text()


def test_downloads_pause_resume_and_screenshot(qtbot, page, hub):
    hub.faults.delay = 0.05  # slow link: 64 KiB every 50 ms
    search(qtbot, page, "lora")
    open_row(qtbot, page, "studio/big-lora")
    panel = page.downloads
    page.model_view.install_button.click()
    entry_id = next(iter(panel.rows))
    queued = panel.enqueue("acme/dreamy-checkpoint")
    row = panel.rows[entry_id]
    qtbot.waitUntil(lambda: "of" in row.detail.text() and row.bar.value() > 100, timeout=20_000)
    assert panel.queue.get(queued).state == "queued"
    panel.pause(entry_id)
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=10_000)
    assert panel.queue.get(entry_id).state == PAUSED
    assert row.resume_button.isVisibleTo(row)
    assert not (page._data.loras / "big_lora.safetensors").exists()  # partial data stays out of sight
    hub.faults.delay = 0
    panel.resume(entry_id)
    qtbot.waitUntil(lambda: panel.queue.get(entry_id).state == DONE, timeout=20_000)
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=10_000)
    assert any(r["range"] for r in hub.requests("GET", "big_lora"))
