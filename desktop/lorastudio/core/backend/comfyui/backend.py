"""``ComfyUIBackend``: runs jobs on one ComfyUI server.

A job runs on a thread of its own: check what the server cannot do exactly, match the files, open
the event stream (/ws with our client id), then for each image ``POST /prompt`` with our own
prompt id and the image's seed, turn the stream's events into progress and previews, and fetch the
result through ``/history`` and ``/view``. The image is re-encoded here with the same A1111 infotext
as a local image; nothing the server names is ever used as a local path.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lorastudio.core.backend.base import (
    Backend,
    BackendBusy,
    BuildDemo,
    ImageResult,
    JobCancelled,
    JobFailed,
    JobPreview,
    JobProgress,
    JobRequest,
    JobResult,
    JobStarted,
    ModelList,
)
from lorastudio.core.backend.comfyui.client import ComfyClient, WsEvent, WsPreview, open_image, parse_ws_message
from lorastudio.core.backend.comfyui.errors import (
    RemoteError,
    RemoteMissingFiles,
    RemoteUnreachable,
    RemoteUnsupported,
)
from lorastudio.core.backend.comfyui.models import (
    ServerModels,
    check_lora_formats,
    fetch_server_models,
    resolve_names,
)
from lorastudio.core.backend.comfyui.workflow import Workflow, build_workflow, check_exact
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.errors import LoraStudioError, OutOfMemory
from lorastudio.core.messages import MessageKind, kind_of
from lorastudio.core.metadata.untrusted import clean_text

log = logging.getLogger(__name__)

POLL = 0.2  # how often the job thread looks at the cancel flag while waiting for events
MODELS_TTL = 30.0  # seconds a server's file list is reused before asking again
HISTORY_WAIT = 10.0  # /history is filled just after the stream reports success
CANCEL_WAIT = 15.0  # an interrupted prompt that never confirms is treated as cancelled after this
MAX_STEPS_REPORTED = 100_000


class _Cancelled(Exception):
    pass


@dataclass
class _Job:
    id: str
    request: GenerationRequest
    cancel: threading.Event = field(default_factory=threading.Event)
    prompt_id: str | None = None
    started: bool = False  # the server began executing the current prompt
    cancel_sent: float = 0.0


def failure_kind(err: BaseException) -> MessageKind:
    """What kind of failure a remote error is; the pool moves ENGINE_CRASHED jobs to another server."""
    if isinstance(err, RemoteMissingFiles):
        return MessageKind.LORA_MISSING
    if isinstance(err, RemoteUnreachable):
        return MessageKind.ENGINE_CRASHED
    if isinstance(err, RemoteError | RemoteUnsupported):
        return MessageKind.GENERATION
    return kind_of(err)


class ComfyUIBackend(Backend):
    """One ComfyUI server. ``stall_check``: seconds without events before asking the server whether
    it still knows the job (loading a big checkpoint sends nothing for a while)."""

    def __init__(self, url: str, name: str = "", token: str | None = None, *, timeout: float = 30.0,
                 stall_check: float = 15.0) -> None:
        super().__init__()
        self.client = ComfyClient(url, token, timeout)
        self.name = name or self.client.label
        self.client_id = uuid.uuid4().hex
        self.stall_check = stall_check
        self._lock = threading.Lock()
        self._job: _Job | None = None
        self._thread: threading.Thread | None = None
        self._models: tuple[float, ServerModels] | None = None

    # -- Backend -------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._job is not None

    def submit(self, job_id: str, request: JobRequest) -> None:
        with self._lock:
            if self._job is not None:
                raise BackendBusy(f"Job {self._job.id} is still running on {self.name}.")
            if isinstance(request, BuildDemo):
                self.emit(JobFailed(job_id, MessageKind.GENERAL, "The demo library is built on this computer only."))
                return
            if not isinstance(request, GenerationRequest):  # training, text: local-only jobs
                self.emit(JobFailed(job_id, MessageKind.GENERAL, "This job runs on this computer only."))
                return
            job = _Job(job_id, request)
            self._job = job
            self._thread = threading.Thread(target=self._run, args=(job,), name=f"comfyui-{self.name}", daemon=True)
            self._thread.start()

    def cancel(self, job_id: str) -> None:
        job = self._job
        if job is not None and job.id == job_id:
            job.cancel.set()  # the job thread sends /interrupt or /queue delete: no network here

    def list_models(self) -> ModelList:
        models = self.server_models(refresh=True)
        return ModelList(tuple(Path(n) for n in models.checkpoints), tuple(Path(n) for n in models.loras))

    def shutdown(self) -> None:
        job, thread = self._job, self._thread
        if job is not None:
            job.cancel.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=CANCEL_WAIT + 5)

    def server_models(self, refresh: bool = False) -> ServerModels:
        cached = self._models
        if cached is not None and not refresh and time.monotonic() - cached[0] < MODELS_TTL:
            return cached[1]
        models = fetch_server_models(self.client)
        self._models = (time.monotonic(), models)
        return models

    # -- the job thread ------------------------------------------------------------------------
    def _run(self, job: _Job) -> None:
        started = time.perf_counter()
        final: Any
        try:
            self.emit(JobStarted(job.id))
            images = self._generate(job)
            final = JobResult(job.id, images, time.perf_counter() - started)
        except _Cancelled:
            final = JobCancelled(job.id)
        except LoraStudioError as err:
            log.info("Job %s on %s failed: %s", job.id, self.name, err)
            final = JobFailed(job.id, failure_kind(err), str(err))
        except Exception as err:  # a bug or a reply shape we did not foresee: the job fails, we don't
            log.exception("Job %s on %s failed unexpectedly", job.id, self.name)
            final = JobFailed(job.id, MessageKind.UNEXPECTED,
                              f"The job on {self.name} failed ({type(err).__name__}); details are in the log file.")
        with self._lock:
            if self._job is job:
                self._job = None
        self.emit(final)

    def _generate(self, job: _Job) -> tuple[ImageResult, ...]:
        request = job.request
        check_exact(request)
        check_lora_formats(request)
        try:
            names = resolve_names(request, self.server_models(), self.name)
        except RemoteMissingFiles:  # the user may just have copied the files over: ask again once
            names = resolve_names(request, self.server_models(refresh=True), self.name)
        from lorastudio.core.backend.engine_process import encode_png

        ws = self.client.connect_ws(self.client_id)
        try:
            images = []
            for index in range(request.batch_count):
                if job.cancel.is_set():
                    raise _Cancelled
                seed = request.seed + index
                workflow = build_workflow(request, names, seed)
                image = self._run_prompt(job, ws, workflow, index)
                images.append(ImageResult(encode_png(image, request, seed), seed))
            return tuple(images)
        finally:
            try:
                ws.close()
            except Exception:  # closing a dead socket
                pass

    def _lost(self) -> RemoteUnreachable:
        return RemoteUnreachable(
            f"The connection to the ComfyUI server at {self.client.label} was lost during the job.")

    def _run_prompt(self, job: _Job, ws: Any, workflow: Workflow, index: int) -> Any:
        from websockets.exceptions import ConnectionClosed

        request = job.request
        prompt_id = str(uuid.uuid4())
        body: dict[str, Any] = {"prompt": workflow.graph, "client_id": self.client_id, "prompt_id": prompt_id}
        if request.preview_every > 0:
            body["extra_data"] = {"preview_method": "auto"}
        status, reply = self.client.post_json("/prompt", body)
        if status != 200:
            raise RemoteError(self._prompt_refusal(status, reply))
        if isinstance(reply, dict) and isinstance(reply.get("prompt_id"), str):
            prompt_id = reply["prompt_id"][:200]  # a server older than 0.3.45 picks its own
        job.prompt_id, job.started = prompt_id, False
        sampler_node = next(k for k, v in workflow.graph.items() if v["class_type"] == "KSampler")
        idle = 0.0
        while True:
            if job.cancel.is_set():
                self._cancel_prompt(job)
            try:
                message = ws.recv(timeout=POLL)
            except TimeoutError:
                idle += POLL
                if idle >= self.stall_check:
                    idle = 0.0
                    state = self._job_state(prompt_id)
                    if state == "done":
                        break
                    if state == "gone":
                        raise RemoteUnreachable(f"The ComfyUI server at {self.client.label} no longer knows "
                                                "the job (it may have restarted).") from None
                continue
            except ConnectionClosed:
                raise self._lost() from None
            idle = 0.0
            try:
                parsed = parse_ws_message(message)
            except ValueError as err:
                raise RemoteError(
                    f"The ComfyUI server at {self.client.label} sent a malformed event ({err}).") from None
            if isinstance(parsed, WsPreview):
                if job.started and parsed.prompt_id in (None, prompt_id):
                    self.emit(JobPreview(job.id, parsed.width, parsed.height, parsed.rgb))
                continue
            if not isinstance(parsed, WsEvent) or parsed.data.get("prompt_id") != prompt_id:
                continue  # status broadcasts, other clients' prompts, events we do not use
            if self._on_event(job, parsed, sampler_node, index):
                break
        return self._fetch_image(job, prompt_id, workflow)

    def _on_event(self, job: _Job, event: WsEvent, sampler_node: str, index: int) -> bool:
        """Apply one event of our prompt; True when the prompt is finished."""
        data, kind = event.data, event.type
        if kind == "execution_start":
            job.started = True
        elif kind == "progress":
            value, total = data.get("value"), data.get("max")
            if (isinstance(value, int) and isinstance(total, int) and not isinstance(value, bool)
                    and 0 <= value <= total <= MAX_STEPS_REPORTED and data.get("node") in (None, sampler_node)):
                steps = job.request.steps
                self.emit(JobProgress(job.id, index * steps + min(value, steps), job.request.batch_count * steps))
        elif kind == "execution_error":
            node = clean_text(str(data.get("node_type") or "a node"))[:60]
            text = clean_text(str(data.get("exception_message") or "no details"), keep_newlines=True).strip()
            first = (text.splitlines() or ["no details"])[0][:200].rstrip(".")
            message = f"ComfyUI at {self.client.label} failed in {node}: {first}."
            if "OutOfMemory" in str(data.get("exception_type")):
                raise OutOfMemory(message)
            raise RemoteError(message)
        elif kind == "execution_interrupted":
            if job.cancel.is_set():
                raise _Cancelled
            raise RemoteError(f"The job was interrupted on the ComfyUI server at {self.client.label}.")
        elif kind == "execution_success":
            return True
        elif kind == "executing" and "node" in data and data["node"] is None:
            return True  # the end of the prompt; /history says whether it produced the image
        return False

    def _prompt_refusal(self, status: int, reply: Any) -> str:
        detail = ""
        if isinstance(reply, dict):
            error = reply.get("error")
            if isinstance(error, dict):
                detail = str(error.get("message") or "")
            elif isinstance(error, str):
                detail = error
            nodes = reply.get("node_errors")
            if isinstance(nodes, dict):
                for entry in list(nodes.values())[:1]:
                    errors = entry.get("errors") if isinstance(entry, dict) else None
                    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                        detail = f"{detail}: {errors[0].get('details') or errors[0].get('message') or ''}"
        detail = clean_text(detail).strip(" :.")[:200]
        suffix = f" ({detail})" if detail else ""
        return f"The ComfyUI server at {self.client.label} refused the job (HTTP {status}){suffix}."

    def _cancel_prompt(self, job: _Job) -> None:
        """Ask the server to stop our prompt; raises ``_Cancelled`` once nothing more will come."""
        now = time.monotonic()
        pid = job.prompt_id
        if job.cancel_sent:
            if now - job.cancel_sent > CANCEL_WAIT:
                raise _Cancelled
            return
        job.cancel_sent = now
        try:
            if job.started:
                self.client.post_json("/interrupt", {"prompt_id": pid})
                return  # execution_interrupted follows
            self.client.post_json("/queue", {"delete": [pid]})
            state = self._job_state(pid or "")
        except RemoteError:
            raise _Cancelled from None  # the server is gone: there is nothing left to stop
        if state == "running":  # it started between our last event and the delete
            job.started = True
            try:
                self.client.post_json("/interrupt", {"prompt_id": pid})
            except RemoteError:
                raise _Cancelled from None
            return
        raise _Cancelled

    def _job_state(self, prompt_id: str) -> str:
        """'done', 'running', 'pending' or 'gone' (deleted, or lost in a restart) for our prompt."""
        history = self.client.get_json(f"/history/{prompt_id}")
        if isinstance(history, dict) and prompt_id in history:
            return "done"
        queue = self.client.get_json("/queue")
        if isinstance(queue, dict):
            for state, key in (("running", "queue_running"), ("pending", "queue_pending")):
                items = queue.get(key)
                if isinstance(items, list) and any(
                        isinstance(item, list) and len(item) > 1 and item[1] == prompt_id for item in items[:10_000]):
                    return state
        return "gone"

    def _fetch_image(self, job: _Job, prompt_id: str, workflow: Workflow) -> Any:
        deadline = time.monotonic() + HISTORY_WAIT
        delay = 0.05
        entry: Any = None
        while True:
            history = self.client.get_json(f"/history/{prompt_id}")
            if not isinstance(history, dict):
                raise RemoteError(f"The ComfyUI server at {self.client.label} sent an unreadable job history.")
            entry = history.get(prompt_id)
            if entry is not None or time.monotonic() > deadline:
                break
            if job.cancel.is_set():
                raise _Cancelled
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        if not isinstance(entry, dict):
            raise RemoteError(f"The ComfyUI server at {self.client.label} finished the job but lists no result.")
        ref = _image_ref(entry, workflow.output_node)
        if ref is None:
            raise RemoteError(f"The ComfyUI server at {self.client.label} finished the job without an image.")
        data = self.client.view(*ref)
        try:
            image = open_image(data, ("PNG",))
        except ValueError as err:
            raise RemoteError(f"The ComfyUI server at {self.client.label} sent an unusable image ({err}).") from None
        want = (job.request.width, job.request.height)
        if image.size != want:
            raise RemoteError(f"The ComfyUI server at {self.client.label} sent a {image.width}x{image.height} image "
                              f"instead of {want[0]}x{want[1]}.")
        return image.convert("RGB")


def _safe_name(value: object, allow_slash: bool) -> str | None:
    if not isinstance(value, str) or len(value) > 512 or "\x00" in value:
        return None
    parts = value.replace("\\", "/").split("/")
    if ".." in parts or value.startswith(("/", "\\")) or (not allow_slash and len(parts) > 1):
        return None
    return value


def _image_ref(entry: dict[str, Any], node: str) -> tuple[str, str, str] | None:
    """(filename, subfolder, type) of the first image of ``node`` in a /history entry, if well formed."""
    outputs = entry.get("outputs")
    node_out = outputs.get(node) if isinstance(outputs, dict) else None
    images = node_out.get("images") if isinstance(node_out, dict) else None
    if not isinstance(images, list):
        return None
    for item in images[:16]:
        if not isinstance(item, dict):
            continue
        name = _safe_name(item.get("filename"), allow_slash=False)
        sub = _safe_name(item.get("subfolder", ""), allow_slash=True)
        kind = item.get("type", "output")
        if name and sub is not None and kind in ("output", "temp"):
            return name, sub, str(kind)
    return None
