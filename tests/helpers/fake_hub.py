"""A Hugging Face Hub look-alike on 127.0.0.1 for tests (standard library only).

It speaks the routes huggingface_hub 2.4 uses (shared/notes/stack-api-notes.md §6.6) and can inject
the faults the hub code must survive: gated/private repos, 404s, a connection dropped mid-file,
a server that ignores ``Range``, content that does not match its checksum, and a slow link.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

VALID_TOKEN = "hf_test_token_0123456789"
CHUNK = 64 * 1024


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, bytes]
    lfs: frozenset[str] | set[str] = frozenset()
    commit: str = "a" * 40
    tags: list[str] = field(default_factory=list)
    library: str | None = None
    pipeline_tag: str | None = "text-to-image"
    downloads: int = 7
    likes: int = 1
    last_modified: str = "2026-01-01T00:00:00.000Z"
    gated: bool = False
    private: bool = False
    card_data: dict[str, Any] = field(default_factory=dict)

    def meta(self, path: str) -> dict[str, Any]:
        data = self.files[path]
        is_lfs = path in self.lfs
        sha256 = hashlib.sha256(data).hexdigest()
        blob = git_blob_sha1(data)
        return {"data": data, "lfs": is_lfs, "sha256": sha256, "blob_id": blob,
                "etag": sha256 if is_lfs else blob}

    def summary(self, card: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "_id": self.repo_id, "id": self.repo_id, "modelId": self.repo_id,
            "author": self.repo_id.split("/")[0], "downloads": self.downloads, "likes": self.likes,
            "tags": list(self.tags), "library_name": self.library, "pipeline_tag": self.pipeline_tag,
            "lastModified": self.last_modified, "createdAt": "2025-01-01T00:00:00.000Z",
            "private": self.private, "gated": "manual" if self.gated else False, "sha": self.commit,
        }
        if card:
            out["cardData"] = dict(self.card_data)
        return out

    def info(self, blobs: bool) -> dict[str, Any]:
        out = self.summary(card=True)
        siblings = []
        for path in self.files:
            m = self.meta(path)
            entry: dict[str, Any] = {"rfilename": path}
            if blobs:
                entry.update(size=len(m["data"]), blobId=m["blob_id"])
                if m["lfs"]:
                    entry["lfs"] = {"sha256": m["sha256"], "size": len(m["data"]), "pointerSize": 134}
            siblings.append(entry)
        out["siblings"] = siblings
        return out

    def tree(self) -> list[dict[str, Any]]:
        out = []
        for path in self.files:
            m = self.meta(path)
            entry: dict[str, Any] = {"type": "file", "oid": m["blob_id"], "size": len(m["data"]), "path": path}
            if m["lfs"]:
                entry["lfs"] = {"oid": m["sha256"], "size": len(m["data"]), "pointerSize": 134}
            out.append(entry)
        return out


@dataclass
class Faults:
    """Switches a test flips; each applies to every file GET unless narrowed."""

    drop_after: int | None = None  # bytes sent before the connection is cut (once per arming)
    drop_times: int = 1  # how many GETs are cut before the server behaves again
    ignore_range: bool = False  # answer 200 with the whole body even when asked for a Range
    corrupt: set[str] = field(default_factory=set)  # "repo/id:path" served with flipped bytes
    delay: float = 0.0  # seconds slept after each 64 KiB chunk (slow link)
    accepted: set[str] = field(default_factory=set)  # gated repos whose license the token holder accepted


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeHubServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    # -- plumbing --------------------------------------------------------------------------------
    def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None,
              head: bool = False) -> None:
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _json(self, obj: Any, head: bool) -> None:
        self._send(200, json.dumps(obj).encode(), {"Content-Type": "application/json"}, head)

    def _error(self, code: int, error_code: str, message: str, extra: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": "application/json", "X-Error-Message": message, **(extra or {})}
        if error_code:
            headers["X-Error-Code"] = error_code
        self._send(code, json.dumps({"error": message}).encode(), headers, head=self.command == "HEAD")

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None

    def _access(self, repo: FakeRepo | None) -> bool:
        """Answer the hub's access errors; True when the request may proceed."""
        if repo is None:
            self._error(401, "RepoNotFound", "Repository not found")
            return False
        token_ok = self._token() == VALID_TOKEN
        if repo.private and not token_ok:
            self._error(401, "RepoNotFound", "Repository not found")
            return False
        if repo.gated and repo.repo_id not in self.server.faults.accepted:
            if token_ok:
                self._error(403, "GatedRepo", f"Access to model {repo.repo_id} is restricted and you are "
                                              "not in the authorized list.")
            else:
                self._error(401, "GatedRepo", f"Access to model {repo.repo_id} is restricted. You must "
                                              "have access to it and be authenticated to access it.")
            return False
        return True

    # -- routes ----------------------------------------------------------------------------------
    def _route(self, head: bool) -> None:
        srv = self.server
        url = urlparse(self.path)
        path = unquote(url.path)
        query = parse_qs(url.query)
        with srv.lock:
            srv.log.append({"method": self.command, "path": url.path, "query": url.query,
                            "range": self.headers.get("Range"), "auth": self.headers.get("Authorization")})
        if path == "/api/whoami-v2":
            if self._token() == VALID_TOKEN:
                return self._json({"type": "user", "name": "tester"}, head)
            return self._error(401, "", "Invalid credentials in Authorization header")
        if path == "/api/models":
            return self._list(query, head)
        m = re.match(r"^/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?$", path)
        if m:
            repo = srv.repos.get(m.group(1))
            if not self._access(repo):
                return None
            assert repo is not None
            return self._json(repo.tree(), head)
        m = re.match(r"^/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?$", path)
        if m:
            repo = srv.repos.get(m.group(1))
            if not self._access(repo):
                return None
            assert repo is not None
            if m.group(2) not in (None, "main", repo.commit):
                return self._error(404, "RevisionNotFound", "Invalid rev id")
            return self._json(repo.info(blobs="blobs" in query), head)
        m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if m:
            repo = srv.repos.get(m.group(1))
            if not self._access(repo):
                return None
            assert repo is not None
            if m.group(2) not in ("main", repo.commit):
                return self._error(404, "RevisionNotFound", "Invalid rev id")
            if m.group(3) not in repo.files:
                return self._error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": repo.commit})
            return self._serve_file(repo, m.group(3), head)
        return self._error(404, "", "Not found")  # unknown routes: plain 404

    def _list(self, query: dict[str, list[str]], head: bool) -> None:
        repos = list(self.server.repos.values())
        if "search" in query:
            text = query["search"][0].lower()
            repos = [r for r in repos if text in r.repo_id.lower()]
        if "author" in query:
            repos = [r for r in repos if r.repo_id.split("/")[0] == query["author"][0]]
        for flt in query.get("filter", []):
            repos = [r for r in repos if flt in r.tags or flt == r.library]
        if "pipeline_tag" in query:
            repos = [r for r in repos if r.pipeline_tag == query["pipeline_tag"][0]]
        sort = (query.get("sort") or [""])[0]
        keys = {"downloads": lambda r: r.downloads, "likes": lambda r: r.likes,
                "lastModified": lambda r: r.last_modified}
        if sort in keys:
            repos.sort(key=keys[sort], reverse=True)
        if "limit" in query:
            repos = repos[: int(query["limit"][0])]
        want_card = "cardData" in query or "full" in query or "cardData" in query.get("expand", [])
        self._json([r.summary(card=want_card) for r in repos], head)

    def _serve_file(self, repo: FakeRepo, path: str, head: bool) -> None:
        srv = self.server
        meta = repo.meta(path)
        data: bytes = meta["data"]
        if f"{repo.repo_id}:{path}" in srv.faults.corrupt:
            data = bytes(b ^ 0xFF for b in data[:16]) + data[16:]
        headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{meta["etag"]}"', "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        if meta["lfs"]:
            headers["X-Linked-Etag"] = f'"{meta["sha256"]}"'
            headers["X-Linked-Size"] = str(len(data))
        start, code = 0, 200
        rng = self.headers.get("Range")
        if rng and not head and not srv.faults.ignore_range:
            m = re.match(r"bytes=(\d+)-(\d*)$", rng)
            if m:
                start, code = int(m.group(1)), 206
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        headers["Content-Length"] = str(len(body))
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if head:
            return
        with srv.lock:
            drop_at = srv.faults.drop_after if srv.faults.drop_times > 0 else None
        for offset in range(0, len(body), CHUNK):
            if drop_at is not None and offset >= drop_at:
                with srv.lock:
                    srv.faults.drop_times -= 1
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(2)
                return
            self.wfile.write(body[offset:offset + CHUNK])
            if srv.faults.delay:
                self.wfile.flush()
                time.sleep(srv.faults.delay)


class FakeHubServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, repos: list[FakeRepo]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.repos = {r.repo_id: r for r in repos}
        self.faults = Faults()
        self.log: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away (cancelled download) is not an error here

    def start(self) -> FakeHubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)

    def add(self, repo: FakeRepo) -> None:
        self.repos[repo.repo_id] = repo

    def requests(self, method: str | None = None, contains: str = "") -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.log if (method is None or e["method"] == method) and contains in e["path"]]


# -- a ready-made set of repos --------------------------------------------------------------------

def safetensors_bytes(n_floats: int, metadata: dict[str, str] | None = None, seed: int = 0) -> bytes:
    """A valid safetensors file with one float32 tensor (no torch needed)."""
    import struct

    header: dict[str, Any] = {"w": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, 4 * n_floats]}}
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    cycle = bytes((i * 31 + seed) % 251 for i in range(251))
    payload = (cycle * (4 * n_floats // 251 + 1))[: 4 * n_floats]
    return struct.pack("<Q", len(raw)) + raw + payload


def png_bytes(width: int = 96, height: int = 96) -> bytes:
    """A small valid RGB PNG (a pixel-art-ish checker gradient) made with zlib only."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b""
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            on = ((x // 12) + (y // 12)) % 2
            row += bytes((40 + 150 * on, 60 + x * 2 % 190, 120 + y % 130))
        rows += bytes(row)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNG_1PX = png_bytes()

LORA_CARD = """---
license: openrail++
base_model: stabilityai/stable-diffusion-xl-base-1.0
tags: [lora, text-to-image]
---
# Pixel Knight LoRA

A **pixel-art** LoRA. Trigger word: `pxknight`.

<script>alert('x')</script>
<img src="https://evil.example/track.png">

![sample](sample.png)
![remote](https://evil.example/remote.png)

[homepage](javascript:alert(1)) · [docs](https://example.org/docs)
"""


def standard_repos(lora_size: int = 300_000) -> list[FakeRepo]:
    """A LoRA, a single-file checkpoint, a tiny diffusers pipeline, a gated and a private repo."""
    lora = safetensors_bytes(lora_size // 4, {"ss_base_model_version": "sdxl_base_v1-0"})
    sdxl = "stabilityai/stable-diffusion-xl-base-1.0"
    return [
        FakeRepo("acme/pixel-knight-lora",
                 {"pixel_knight.safetensors": lora, "README.md": LORA_CARD.encode(), "sample.png": PNG_1PX},
                 lfs={"pixel_knight.safetensors", "sample.png"}, commit="1" * 40, library="diffusers",
                 tags=["diffusers", "lora", "text-to-image", "license:openrail++", f"base_model:{sdxl}",
                       f"base_model:adapter:{sdxl}"],
                 downloads=1200, likes=40, last_modified="2026-02-01T00:00:00.000Z",
                 card_data={"license": "openrail++", "base_model": sdxl}),
        FakeRepo("acme/dreamy-checkpoint",
                 {"dreamy_v1.safetensors": safetensors_bytes(50_000), "README.md": b"# Dreamy\nA checkpoint.\n",
                  "preview.jpg": b"\xff\xd8\xff\xe0" + b"0" * 60},
                 lfs={"dreamy_v1.safetensors", "preview.jpg"}, commit="2" * 40,
                 tags=["stable-diffusion", "text-to-image", "license:creativeml-openrail-m",
                       "base_model:stable-diffusion-v1-5/stable-diffusion-v1-5"],
                 downloads=900, likes=99, last_modified="2026-03-01T00:00:00.000Z",
                 card_data={"license": "creativeml-openrail-m"}),
        FakeRepo("acme/tiny-pipeline",
                 {"model_index.json": json.dumps({"_class_name": "StableDiffusionPipeline",
                                                  "_diffusers_version": "0.42.1"}).encode(),
                  "unet/config.json": b'{"sample_size": 8}',
                  "unet/diffusion_pytorch_model.safetensors": safetensors_bytes(4000, seed=3),
                  "vae/config.json": b'{"latent_channels": 4}',
                  "vae/diffusion_pytorch_model.safetensors": safetensors_bytes(2000, seed=5),
                  "README.md": b"# Tiny pipeline\n"},
                 lfs={"unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors"},
                 commit="3" * 40, library="diffusers",
                 tags=["diffusers", "text-to-image", "diffusers:StableDiffusionPipeline", "license:mit"],
                 downloads=50, likes=2, last_modified="2025-06-01T00:00:00.000Z",
                 card_data={"license": "mit"}),
        FakeRepo("corp/gated-lora", {"gated.safetensors": safetensors_bytes(1000)}, lfs={"gated.safetensors"},
                 commit="4" * 40, tags=["lora", "license:other"], gated=True, downloads=5, likes=1,
                 card_data={"license": "other"}),
        FakeRepo("me/private-lora", {"mine.safetensors": safetensors_bytes(1000)}, lfs={"mine.safetensors"},
                 commit="5" * 40, tags=["lora"], private=True, downloads=0, likes=0),
    ]


def start_fake_hub(repos: list[FakeRepo] | None = None) -> FakeHubServer:
    return FakeHubServer(standard_repos() if repos is None else repos).start()
