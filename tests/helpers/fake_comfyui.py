"""A ComfyUI stand-in on 127.0.0.1: the HTTP routes and WebSocket message sequences of ComfyUI 0.8
(server.py, execution.py, main.py), rendering real PNGs with PIL instead of running models.

What it reproduces: ``/system_stats``, ``/object_info`` (combo option lists name its files),
``/models/{folder}``, ``POST /prompt`` with a client-chosen ``prompt_id`` and validation errors in
ComfyUI's shape, one prompt at a time from a queue, ``/queue`` (list and ``delete``),
``/interrupt`` (by prompt id), ``/history/{id}`` filled after ``execution_success`` and before the
final ``executing {node: null}``, ``/view``, and ``/ws?clientId=`` with ``status``,
``execution_start``, ``execution_cached``, ``executing``, ``progress``, binary preview frames
(4-byte event type 1, 4-byte format 1 = JPEG), ``executed``, ``execution_success``,
``execution_error`` and ``execution_interrupted``.

Test knobs: ``hold`` (clear it to keep prompts pending), ``drop_at_step`` (close every connection
and forget the job, like a crash), ``garbage`` ("ws", "history", "view", "object_info"),
``fail_at`` (a node type that raises), ``lose_prompts`` (accept prompts, never run them),
``token`` (require a bearer token, as a proxy would), ``upload`` (the upload route of
comfyui-tooling-nodes, ``PUT /api/etn/upload/{folder_name}/{filename}``, with its api.py checks and
answers: 400 for an unknown folder or a refused file name, 200 "cached" when the file is there, 201
"success" once stored; without it a PUT gets 405, as from ComfyUI's aiohttp router).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import socket
import struct
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from PIL import Image

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SAMPLERS = ["euler", "euler_ancestral", "heun", "dpm_2", "dpmpp_2m", "dpmpp_2m_sde", "ddim", "uni_pc"]
SCHEDULERS = ["simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal"]


class _WsConn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()

    def send(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            header = struct.pack(">BB", 0x80 | opcode, n)
        elif n < 65536:
            header = struct.pack(">BBH", 0x80 | opcode, 126, n)
        else:
            header = struct.pack(">BBQ", 0x80 | opcode, 127, n)
        with self.lock:
            try:
                self.sock.sendall(header + payload)
            except OSError:
                pass

    def drop(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class FakeComfyUI:
    def __init__(self, output_dir: Path, checkpoints: tuple[str, ...] = ("tiny.safetensors",),
                 loras: tuple[str, ...] = (), vaes: tuple[str, ...] = (), token: str | None = None,
                 step_delay: float = 0.005, device: str = "cuda:0 NVIDIA Fake 24GB : cudaMallocAsync",
                 upload: bool = False) -> None:
        self.output_dir = output_dir
        output_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoints, self.loras, self.vaes = list(checkpoints), list(loras), list(vaes)
        self.token = token
        self.step_delay = step_delay
        self.device = device
        self.previews = True
        self.hold = threading.Event()
        self.hold.set()
        self.drop_at_step: int | None = None
        self.garbage: str | None = None
        self.fail_at: str | None = None
        self.lose_prompts = False
        self.upload = upload
        self.uploads: dict[str, bytes] = {}  # "folder/filename" → the bytes received
        self.prompts: list[dict[str, Any]] = []  # POST /prompt bodies, in order
        self.interrupts: list[dict[str, Any]] = []
        self.deletes: list[str] = []
        self.executed: list[str] = []  # prompt ids run to the end
        self.history: dict[str, Any] = {}
        self._queue: list[tuple[int, str, dict[str, Any], str | None]] = []
        self._running: tuple[int, str, dict[str, Any], str | None] | None = None
        self._interrupt = threading.Event()
        self._number = 0
        self._cond = threading.Condition()
        self._sockets: dict[str, _WsConn] = {}
        self._counter = 0
        self._stop = False
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self._threads = [threading.Thread(target=self.httpd.serve_forever, daemon=True),
                         threading.Thread(target=self._executor, daemon=True)]
        for t in self._threads:
            t.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self._stop = True
        self.hold.set()
        with self._cond:
            self._cond.notify_all()
        for conn in list(self._sockets.values()):
            conn.drop()
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- messages ----------------------------------------------------------------------------
    def send_json(self, event: str, data: dict[str, Any], sid: str | None) -> None:
        text = json.dumps({"type": event, "data": data}).encode()
        targets = [self._sockets.get(sid)] if sid else list(self._sockets.values())
        for conn in targets:
            if conn is not None:
                conn.send(0x1, text)

    def send_raw(self, sid: str | None, opcode: int, payload: bytes) -> None:
        conn = self._sockets.get(sid or "")
        if conn is not None:
            conn.send(opcode, payload)

    def queue_info(self) -> dict[str, Any]:
        with self._cond:
            n = len(self._queue) + (1 if self._running else 0)
        return {"exec_info": {"queue_remaining": n}}

    # -- queue -------------------------------------------------------------------------------
    def enqueue(self, prompt_id: str, prompt: dict[str, Any], client_id: str | None) -> int:
        with self._cond:
            number = self._number
            self._number += 1
            if self.lose_prompts:  # accepted, then lost (a restart between POST and execution)
                return number
            self._queue.append((number, prompt_id, prompt, client_id))
            self._cond.notify_all()
        self.send_json("status", {"status": self.queue_info()}, None)
        return number

    def queue_lists(self) -> tuple[list[Any], list[Any]]:
        def row(item: tuple[int, str, dict[str, Any], str | None]) -> list[Any]:
            return [item[0], item[1], item[2], {"client_id": item[3]}, []]

        with self._cond:
            running = [row(self._running)] if self._running else []
            return running, [row(i) for i in self._queue]

    def delete(self, prompt_id: str) -> None:
        with self._cond:
            self.deletes.append(prompt_id)
            self._queue = [i for i in self._queue if i[1] != prompt_id]

    def interrupt(self, prompt_id: str | None) -> None:
        with self._cond:
            running = self._running
        if running and (prompt_id is None or running[1] == prompt_id):
            self._interrupt.set()

    def _executor(self) -> None:
        while not self._stop:
            self.hold.wait()
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait(0.2)
                if self._stop:
                    return
                if not self.hold.is_set():
                    continue
                self._running = self._queue.pop(0)
                self._interrupt.clear()
            _, pid, prompt, sid = self._running
            try:
                self._execute(pid, prompt, sid)
            finally:
                with self._cond:
                    self._running = None
                self.send_json("status", {"status": self.queue_info()}, None)

    def _execute(self, pid: str, prompt: dict[str, Any], sid: str | None) -> None:
        now = lambda: int(time.time() * 1000)  # noqa: E731
        self.send_json("execution_start", {"prompt_id": pid, "timestamp": now()}, sid)
        self.send_json("execution_cached", {"nodes": [], "prompt_id": pid, "timestamp": now()}, sid)
        if self.garbage == "ws":
            self.send_raw(sid, 0x1, b"{this is not json")
        executed: list[str] = []
        outputs: dict[str, Any] = {}
        seed, size = 0, (64, 64)
        for node_id in sorted(prompt, key=lambda k: int(k) if k.isdigit() else 0):
            node = prompt[node_id]
            kind = node["class_type"]
            inputs = node["inputs"]
            self.send_json("executing", {"node": node_id, "display_node": node_id, "prompt_id": pid}, sid)
            if kind == self.fail_at:
                self.send_json("execution_error", {
                    "prompt_id": pid, "node_id": node_id, "node_type": kind, "executed": executed,
                    "exception_message": "CUDA out of memory. Tried to allocate 2.00 GiB\nmore text",
                    "exception_type": "torch.OutOfMemoryError", "traceback": ["..."], "current_inputs": {},
                    "current_outputs": [], "timestamp": now()}, sid)
                self._finish(pid, prompt, sid, outputs, "error")
                return
            if kind == "EmptyLatentImage":
                size = (int(inputs["width"]), int(inputs["height"]))
            elif kind == "KSampler":
                seed = int(inputs["seed"])
                steps = int(inputs["steps"])
                for step in range(1, steps + 1):
                    if self._interrupt.is_set():
                        self.send_json("execution_interrupted", {
                            "prompt_id": pid, "node_id": node_id, "node_type": kind, "executed": executed,
                            "timestamp": now()}, sid)
                        self._finish(pid, prompt, sid, outputs, "error")
                        return
                    time.sleep(self.step_delay)
                    self.send_json("progress", {"value": step, "max": steps, "prompt_id": pid, "node": node_id}, sid)
                    if self.previews:
                        self.send_raw(sid, 0x2, struct.pack(">II", 1, 1) + _jpeg(seed + step))
                    if self.drop_at_step == step:  # a crash: every connection closes, the job is gone
                        self.drop_at_step = None
                        for conn in list(self._sockets.values()):
                            conn.drop()
                        return
            elif kind == "SaveImage":
                self._counter += 1
                name = f"{inputs['filename_prefix']}_{self._counter:05d}_.png"
                _render(size, seed).save(self.output_dir / name, format="PNG")
                ui = {"images": [{"filename": name, "subfolder": "", "type": "output"}]}
                outputs[node_id] = ui
                self.send_json("executed", {"node": node_id, "display_node": node_id, "output": ui,
                                            "prompt_id": pid}, sid)
            executed.append(node_id)
        self.send_json("execution_success", {"prompt_id": pid, "timestamp": now()}, sid)
        self._finish(pid, prompt, sid, outputs, "success")
        self.executed.append(pid)

    def _finish(self, pid: str, prompt: dict[str, Any], sid: str | None, outputs: dict[str, Any], status: str) -> None:
        self.history[pid] = {"prompt": [0, pid, prompt, {"client_id": sid}, []], "outputs": outputs,
                             "status": {"status_str": status, "completed": status == "success", "messages": []},
                             "meta": {}}
        self.send_json("executing", {"node": None, "prompt_id": pid}, sid)

    # -- validation (execution.validate_prompt, the parts a client meets) ----------------------
    def object_info(self) -> dict[str, Any]:
        def node(required: dict[str, Any], outputs: list[str]) -> dict[str, Any]:
            return {"input": {"required": required}, "output": outputs, "name": "", "category": ""}

        return {
            "CheckpointLoaderSimple": node({"ckpt_name": [self.checkpoints, {}]}, ["MODEL", "CLIP", "VAE"]),
            "LoraLoader": node({"model": ["MODEL"], "clip": ["CLIP"], "lora_name": [self.loras, {}],
                                "strength_model": ["FLOAT", {}], "strength_clip": ["FLOAT", {}]}, ["MODEL", "CLIP"]),
            "CLIPSetLastLayer": node({"clip": ["CLIP"], "stop_at_clip_layer": ["INT", {"min": -24, "max": -1}]},
                                     ["CLIP"]),
            "CLIPTextEncode": node({"clip": ["CLIP"], "text": ["STRING", {}]}, ["CONDITIONING"]),
            "EmptyLatentImage": node({"width": ["INT", {}], "height": ["INT", {}], "batch_size": ["INT", {}]},
                                     ["LATENT"]),
            "KSampler": node({"model": ["MODEL"], "seed": ["INT", {}], "steps": ["INT", {}], "cfg": ["FLOAT", {}],
                              "sampler_name": [SAMPLERS, {}], "scheduler": [SCHEDULERS, {}],
                              "positive": ["CONDITIONING"], "negative": ["CONDITIONING"],
                              "latent_image": ["LATENT"], "denoise": ["FLOAT", {}]}, ["LATENT"]),
            "VAELoader": node({"vae_name": [self.vaes, {}]}, ["VAE"]),
            "VAEDecode": node({"samples": ["LATENT"], "vae": ["VAE"]}, ["IMAGE"]),
            "SaveImage": node({"images": ["IMAGE"], "filename_prefix": ["STRING", {}]}, []),
        }

    def validate(self, prompt: Any) -> dict[str, Any]:
        info = self.object_info()
        errors: dict[str, Any] = {}
        if not isinstance(prompt, dict) or not prompt:
            return {"": {"errors": [{"type": "no_prompt", "message": "No prompt provided", "details": ""}]}}
        for node_id, node in prompt.items():
            kind = node.get("class_type") if isinstance(node, dict) else None
            if kind not in info:
                errors[node_id] = {"errors": [{"type": "invalid_prompt", "message": "Cannot execute because node "
                                               f"{kind} does not exist.", "details": ""}], "class_type": kind}
                continue
            for field, spec in info[kind]["input"]["required"].items():
                value = node["inputs"].get(field)
                if isinstance(spec[0], list) and value not in spec[0]:
                    errors[node_id] = {"errors": [{"type": "value_not_in_list", "message": "Value not in list",
                                                   "details": f"{field}: '{value}' not in {spec[0]}"}],
                                       "class_type": kind, "dependent_outputs": []}
        return errors


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeComfyUI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value: Any, status: int = 200) -> None:
        self._reply(status, json.dumps(value).encode())

    def _authorized(self) -> bool:
        token = self.server_fake.token
        if token and self.headers.get("Authorization") != f"Bearer {token}":
            self._reply(401, b"401: Unauthorized", "text/plain")
            return False
        return True

    def do_GET(self) -> None:
        fake = self.server_fake
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        if not self._authorized():
            return
        if path == "/ws":
            self._websocket(query.get("clientId") or uuid.uuid4().hex)
        elif path == "/system_stats":
            self._json({"system": {"os": "linux", "ram_total": 2**34, "ram_free": 2**33, "comfyui_version": "0.8.0",
                                   "python_version": "3.11", "pytorch_version": "2.13.0", "embedded_python": False,
                                   "argv": ["main.py"]},
                        "devices": [{"name": fake.device, "type": "cuda", "index": 0, "vram_total": 24 * 2**30,
                                     "vram_free": 20 * 2**30, "torch_vram_total": 0, "torch_vram_free": 0}]})
        elif path == "/object_info":
            if fake.garbage == "object_info":
                self._reply(200, b"[1, 2, {oops")
            else:
                self._json(fake.object_info())
        elif path.startswith("/object_info/"):
            name = path.rsplit("/", 1)[1]
            info = fake.object_info()
            self._json({name: info[name]} if name in info else {})
        elif path == "/models":
            self._json(["checkpoints", "loras", "vae"])
        elif path.startswith("/models/"):
            folder = path.rsplit("/", 1)[1]
            lists = {"checkpoints": fake.checkpoints, "loras": fake.loras, "vae": fake.vaes}
            if folder in lists:
                self._json(lists[folder])
            else:
                self._reply(404, b"")
        elif path == "/queue":
            running, pending = fake.queue_lists()
            self._json({"queue_running": running, "queue_pending": pending})
        elif path.startswith("/history/"):
            pid = path.rsplit("/", 1)[1]
            if fake.garbage == "history":
                self._reply(200, b"<html>Bad Gateway</html>", "text/html")
            else:
                self._json({pid: fake.history[pid]} if pid in fake.history else {})
        elif path == "/view":
            name = query.get("filename", "")
            if not name or name[0] == "/" or ".." in name:
                self._reply(400, b"")
                return
            file = fake.output_dir / Path(name).name
            if fake.garbage == "view":
                self._reply(200, b"\x89PNG\r\n\x1a\n but not really", "image/png")
            elif file.is_file():
                self._reply(200, file.read_bytes(), "image/png")
            else:
                self._reply(404, b"")
        else:
            self._reply(404, b"")

    def do_PUT(self) -> None:
        fake = self.server_fake
        if not self._authorized():
            return
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        match = re.fullmatch(r"/api/etn/upload/([^/]+)/([^/]+)", path)
        if not fake.upload or match is None:
            self.close_connection = True
            self._reply(405, b"405: Method Not Allowed", "text/plain")
            return
        folder, filename = match.groups()
        lists = {"checkpoints": fake.checkpoints, "loras": fake.loras, "vae": fake.vaes}
        # api.py's has_invalid_folder_name and has_invalid_filename, in its order
        error = None
        if folder not in (*lists, "embeddings", "upscale_models", "controlnet", "clip", "unet"):
            error = f"Invalid folder path, must be one of {', '.join(lists)}"
        elif not filename.lower().endswith((".sft", ".safetensors")):
            error = "File extension must be .safetensors"
        elif not filename.strip() or len(filename) > 255 or any(c in filename for c in ("..", "\\", "\0")) \
                or filename.startswith(".") or not re.match(r"^[a-zA-Z0-9_\-. ]+$", filename):
            error = "Invalid filename"
        if error is not None:
            self.close_connection = True  # the route answers before reading the body
            self._json({"error": error}, 400)
            return
        names = lists.get(folder)
        if names is not None and filename in names:
            self.close_connection = True
            self._json({"status": "cached"}, 200)
            return
        length = int(self.headers.get("Content-Length") or 0)
        data = bytearray()
        while len(data) < length:
            chunk = self.rfile.read(min(65536, length - len(data)))
            if not chunk:
                break
            data.extend(chunk)
        fake.uploads[f"{folder}/{filename}"] = bytes(data)
        if names is not None:
            names.append(filename)  # ComfyUI lists a new file in its folder on the next /object_info
        self._json({"status": "success"}, 201)

    def do_POST(self) -> None:
        fake = self.server_fake
        if not self._authorized():
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = {}
        path = urllib.parse.urlsplit(self.path).path
        if path == "/prompt":
            fake.prompts.append(body)
            if "prompt" not in body:
                self._json({"error": {"type": "no_prompt", "message": "No prompt provided", "details": "",
                                      "extra_info": {}}, "node_errors": {}}, 400)
                return
            node_errors = fake.validate(body["prompt"])
            if node_errors:
                self._json({"error": {"type": "prompt_outputs_failed_validation",
                                      "message": "Prompt outputs failed validation", "details": "", "extra_info": {}},
                            "node_errors": node_errors}, 400)
                return
            pid = str(body.get("prompt_id") or uuid.uuid4())
            number = fake.enqueue(pid, body["prompt"], body.get("client_id"))
            self._json({"prompt_id": pid, "number": number, "node_errors": {}})
        elif path == "/queue":
            for pid in body.get("delete", []):
                fake.delete(pid)
            self._reply(200, b"", "text/plain")
        elif path == "/interrupt":
            fake.interrupts.append(body)
            fake.interrupt(body.get("prompt_id"))
            self._reply(200, b"", "text/plain")
        else:
            self._reply(404, b"")

    def _websocket(self, sid: str) -> None:
        fake = self.server_fake
        key = self.headers.get("Sec-WebSocket-Key")
        if self.headers.get("Upgrade", "").lower() != "websocket" or not key:
            self._reply(400, b"not a websocket request", "text/plain")
            return
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        conn = _WsConn(self.connection)
        fake._sockets[sid] = conn
        try:
            fake.send_json("status", {"status": fake.queue_info(), "sid": sid}, sid)
            while True:
                try:
                    data = self.connection.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                if data[0] & 0x0F == 0x8:  # a close frame: answer it and end
                    conn.send(0x8, b"")
                    break
        finally:
            if fake._sockets.get(sid) is conn:
                del fake._sockets[sid]
            self.close_connection = True


def _render(size: tuple[int, int], seed: int) -> Image.Image:
    """A deterministic picture for a seed: the colour says which seed made it."""
    color = (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)
    image = Image.new("RGB", size, color)
    image.putpixel((0, 0), (255 - color[0], 255 - color[1], 255 - color[2]))
    return image


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    _render((16, 16), seed).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_safetensors(path: Path, keys: tuple[str, ...], metadata: dict[str, str] | None = None) -> Path:
    """A tiny valid .safetensors file with ``keys`` (one float32 per key), written by hand."""
    header: dict[str, Any] = {}
    for i, key in enumerate(keys):
        header[key] = {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + struct.pack("<f", 0.5) * len(keys))
    return path


def write_checkpoint(path: Path) -> Path:
    return write_safetensors(path, ("model.diffusion_model.input_blocks.0.0.weight",
                                    "cond_stage_model.transformer.text_model.embeddings.position_ids"))


def write_kohya_lora(path: Path) -> Path:
    return write_safetensors(path, (
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight",
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight",
        "lora_unet_down_blocks_0_attentions_0_proj_in.alpha",
        "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight",
        "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight",
    ), {"ss_base_model_version": "sd_v1"})


def write_peft_lora(path: Path) -> Path:
    return write_safetensors(path, (
        "base_model.model.down_blocks.0.attentions.0.proj_in.lora_A.weight",
        "base_model.model.down_blocks.0.attentions.0.proj_in.lora_B.weight",
    ))
