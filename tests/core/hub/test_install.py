from __future__ import annotations

import errno
import hashlib
import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from fake_hub import VALID_TOKEN, FakeRepo, safetensors_bytes

from lorastudio.core.errors import DownloadCancelled, DownloadError, HubAccessDenied, HubError
from lorastudio.core.hub.download import Partial, install
from lorastudio.core.hub.queue import CANCELLED, DONE, FAILED, PAUSED, QUEUED, DownloadQueue

LORA = "acme/pixel-knight-lora"
LORA_FILE = "pixel_knight.safetensors"


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def pause_after(n_bytes: int) -> tuple[threading.Event, callable]:
    stop = threading.Event()

    def progress(p) -> None:
        if p.done >= n_bytes:
            stop.set()
    return stop, progress


def test_one_click_lora_lands_verified_with_sidecar_and_preview(hub, data, conn):
    events = []
    result = install(data, LORA, conn=conn, on_progress=events.append)
    path = data.loras / LORA_FILE
    assert result.paths == (path,)
    assert not result.already_present
    expected = hub.repos[LORA].files[LORA_FILE]
    assert path.read_bytes() == expected
    sidecar = json.loads((data.loras / f"{LORA_FILE}.hf.json").read_text())
    assert sidecar["repo_id"] == LORA
    assert sidecar["commit"] == "1" * 40
    assert sidecar["filename"] == LORA_FILE
    assert sidecar["revision"] == "main"
    assert sidecar["sha256"] == hashlib.sha256(expected).hexdigest()
    assert sidecar["downloaded_at"]
    assert (data.loras / "pixel_knight.preview.png").is_file()
    assert visible(data.loras) == sorted([LORA_FILE, f"{LORA_FILE}.hf.json", "pixel_knight.preview.png"])
    assert visible(data.checkpoints) == []
    assert events[-1].stage == "verify"
    assert events[-1].done == len(expected)
    assert any(e.stage == "download" and 0 < e.done < len(expected) for e in events)
    assert not list((data.downloads / "partial").glob("*.part"))

    again = install(data, LORA, conn=conn)
    assert again.already_present
    assert again.paths == (path,)
    assert "already in your library" in again.message


def test_checkpoint_goes_to_checkpoints(data, conn):
    result = install(data, "acme/dreamy-checkpoint", conn=conn)
    assert result.paths == (data.checkpoints / "dreamy_v1.safetensors",)
    assert (data.checkpoints / "dreamy_v1.preview.jpg").is_file()


def test_pipeline_is_stored_once_in_the_hf_cache_and_linked(hub, data, conn):
    result = install(data, "acme/tiny-pipeline", conn=conn)
    link = data.checkpoints / "acme--tiny-pipeline"
    assert result.paths == (link,)
    assert (link / "model_index.json").is_file()
    assert (link / "unet" / "config.json").is_file()
    assert link.resolve().is_relative_to(conn.cache_dir.resolve())  # shared with other tools
    assert (link / "vae/diffusion_pytorch_model.safetensors").read_bytes() == \
        hub.repos["acme/tiny-pipeline"].files["vae/diffusion_pytorch_model.safetensors"]
    sidecar = json.loads((data.checkpoints / "acme--tiny-pipeline.hf.json").read_text())
    assert sidecar["kind"] == "pipeline"
    assert sidecar["commit"] == "3" * 40
    assert install(data, "acme/tiny-pipeline", conn=conn).already_present


def test_pause_then_resume_continues_with_range(hub, data, conn):
    size = len(hub.repos[LORA].files[LORA_FILE])
    stop, progress = pause_after(100_000)
    with pytest.raises(DownloadCancelled):
        install(data, LORA, conn=conn, on_progress=progress, cancel=stop)
    partial = Partial.of(data, LORA, LORA_FILE)
    kept = partial.size()
    assert 0 < kept < size
    assert visible(data.loras) == []  # nothing half-written is visible
    install(data, LORA, conn=conn)
    assert (data.loras / LORA_FILE).read_bytes() == hub.repos[LORA].files[LORA_FILE]
    gets = hub.requests("GET", f"/resolve/1111111111111111111111111111111111111111/{LORA_FILE}")
    assert gets[-1]["range"] == f"bytes={kept}-"


def test_dropped_connection_resumes_and_finishes(hub, data, conn):
    hub.faults.drop_after = 128 * 1024
    install(data, LORA, conn=conn)
    assert (data.loras / LORA_FILE).read_bytes() == hub.repos[LORA].files[LORA_FILE]
    assert any(r["range"] for r in hub.requests("GET", "/resolve/"))


def test_server_ignoring_range_still_gives_a_correct_file(hub, data, conn):
    stop, progress = pause_after(100_000)
    with pytest.raises(DownloadCancelled):
        install(data, LORA, conn=conn, on_progress=progress, cancel=stop)
    hub.faults.ignore_range = True
    install(data, LORA, conn=conn)
    assert (data.loras / LORA_FILE).read_bytes() == hub.repos[LORA].files[LORA_FILE]


def test_wrong_checksum_is_discarded(hub, data, conn):
    hub.faults.corrupt.add(f"{LORA}:{LORA_FILE}")
    with pytest.raises(DownloadError, match="did not match the Hub's checksum"):
        install(data, LORA, conn=conn)
    assert visible(data.loras) == []
    assert Partial.of(data, LORA, LORA_FILE).size() == 0


def test_disk_full_leaves_nothing_visible(hub, data, conn, monkeypatch):
    import huggingface_hub.file_download as fd

    real = fd.http_get

    class FullDisk:
        def __init__(self, f):
            self._f, self.written = f, 0

        def write(self, chunk):
            if self.written > 150_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(chunk)
            return self._f.write(chunk)

        def __getattr__(self, name):
            return getattr(self._f, name)

    monkeypatch.setattr(fd, "http_get", lambda url, f, **kw: real(url, FullDisk(f), **kw))
    with pytest.raises(DownloadError, match="disk is full"):
        install(data, LORA, conn=conn)
    assert visible(data.loras) == []
    monkeypatch.setattr(fd, "http_get", real)
    install(data, LORA, conn=conn)  # after freeing space: resumes and completes
    assert (data.loras / LORA_FILE).read_bytes() == hub.repos[LORA].files[LORA_FILE]


@pytest.mark.parametrize("bad", ["../evil.safetensors", "/abs/evil.safetensors", "..\\evil.safetensors",
                                 "C:/evil.safetensors", "CON.safetensors", "sub/nul.safetensors"])
def test_unsafe_hub_file_names_are_refused(hub, data, conn, bad, tmp_path):
    hub.add(FakeRepo("evil/repo", {bad: safetensors_bytes(100)}, lfs={bad}, tags=["lora"], commit="e" * 40))
    with pytest.raises(DownloadError, match="Refused the Hub file name"):
        install(data, "evil/repo", files=[bad], conn=conn)
    written = [p for p in tmp_path.rglob("*evil*")] + [p for p in tmp_path.rglob("*.safetensors")]
    assert written == []


def test_unsafe_name_inside_a_pipeline_refuses_the_install(hub, data, conn):
    files = {"model_index.json": b"{}", "../escape.json": b"{}"}
    hub.add(FakeRepo("evil/pipe", files, tags=["diffusers"], library="diffusers", commit="f" * 40))
    with pytest.raises(DownloadError, match="Refused"):
        install(data, "evil/pipe", conn=conn)
    assert visible(data.checkpoints) == []


def test_missing_file_and_repo(data, conn):
    with pytest.raises(DownloadError, match="no file named"):
        install(data, LORA, files=["nope.safetensors"], conn=conn)
    with pytest.raises(HubAccessDenied, match="not found"):
        install(data, "acme/nope", conn=conn)


def test_gated_and_private_with_and_without_token(hub, data, conn):
    with pytest.raises(HubAccessDenied, match="accept the license on the model page"):
        install(data, "corp/gated-lora", conn=conn)
    with pytest.raises(HubAccessDenied, match="accept the license on the model page"):
        install(data, "corp/gated-lora", conn=replace(conn, token=VALID_TOKEN))
    hub.faults.accepted.add("corp/gated-lora")
    assert install(data, "corp/gated-lora", conn=replace(conn, token=VALID_TOKEN)).paths
    with pytest.raises(HubAccessDenied, match="private"):
        install(data, "me/private-lora", conn=conn)
    assert install(data, "me/private-lora", conn=replace(conn, token=VALID_TOKEN)).paths
    # The token travelled only to the configured endpoint and never shows up in errors.
    assert all(r["auth"] in (None, f"Bearer {VALID_TOKEN}") for r in hub.log)


def test_offline_mode_is_a_clear_message(data, conn):
    with pytest.raises(HubError, match="Offline mode is on"):
        install(data, LORA, conn=replace(conn, offline=True))


def test_queue_pause_cancel_resume_and_restart(hub, data, conn):
    queue = DownloadQueue(data)
    first = queue.add(LORA)
    second = queue.add("acme/dreamy-checkpoint")
    assert queue.add(LORA).id == first.id  # not queued twice

    def pause_midway(p) -> None:
        if p.entry_id == first.id and p.done >= 100_000:
            queue.pause(first.id)
    seen = []
    queue.run_all(conn, on_progress=lambda p: (seen.append(p), pause_midway(p)))
    assert queue.get(first.id).state == PAUSED
    assert queue.get(second.id).state == DONE
    assert all(p.speed >= 0 for p in seen)

    # The app restarts: a new queue reads the state file; the paused download resumes with Range.
    restarted = DownloadQueue(data)
    assert restarted.get(first.id).state == PAUSED
    restarted.resume(first.id)
    restarted.run_all(conn)
    entry = restarted.get(first.id)
    assert entry.state == DONE
    assert Path(entry.paths[0]).read_bytes() == hub.repos[LORA].files[LORA_FILE]
    assert hub.requests("GET", f"/{LORA_FILE}")[-1]["range"] is not None


def test_queue_cancel_discards_partial_and_failures_are_kept(hub, data, conn):
    queue = DownloadQueue(data)
    entry = queue.add(LORA)

    def cancel_midway(p) -> None:
        if p.done >= 100_000:
            queue.cancel(entry.id)
    queue.run_all(conn, on_progress=cancel_midway)
    assert queue.get(entry.id).state == CANCELLED
    assert Partial.of(data, LORA, LORA_FILE).size() == 0
    bad = queue.add("acme/nope")
    queue.run_all(conn)
    assert queue.get(bad.id).state == FAILED
    assert "not found" in queue.get(bad.id).message


def test_running_state_after_a_crash_is_queued_again(data):
    (data.downloads / "queue.json").write_text(json.dumps({"entries": [
        {"id": "x1", "repo_id": LORA, "revision": "main", "files": [], "state": "running"}]}))
    assert DownloadQueue(data).get("x1").state == QUEUED
    (data.downloads / "queue.json").write_text("{not json")
    assert DownloadQueue(data).entries() == []


def test_shutdown_mid_download_requeues_for_the_next_start(hub, data, conn):
    queue = DownloadQueue(data)
    entry = queue.add(LORA)
    other = queue.add("acme/dreamy-checkpoint")

    def stop_midway(p) -> None:
        if p.done >= 100_000:
            queue.stop_all()
    queue.run_all(conn, on_progress=stop_midway)
    assert queue.get(entry.id).state == QUEUED
    assert queue.get(other.id).state == QUEUED
    assert Partial.of(data, LORA, LORA_FILE).size() > 0
    restarted = DownloadQueue(data)
    assert [e.state for e in restarted.run_all(conn)] == [DONE, DONE]
