""""Any free backend": one ``Backend`` that spreads each job's images over several backends.

A job of N images becomes N one-image units (seed, seed+1, … as in A1111, so every image keeps the
seed its infotext states); each unit goes to the first idle member, in order, and the job's result
lists the images in seed order whatever server finished first. A member that goes away mid-unit
(``ENGINE_CRASHED``: unreachable, connection lost) is left out for the rest of that job and its unit
goes back to the front of the queue for another member; when no member is left, the job fails with
one sentence. Any other failure (a missing LoRA, a node error) fails the whole job at once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace

from lorastudio.core.backend.base import (
    Backend,
    BackendEvent,
    BackendStatus,
    BackendStopped,
    ImageResult,
    JobCancelled,
    JobFailed,
    JobPreview,
    JobProgress,
    JobRequest,
    JobResult,
    JobStarted,
    Listener,
    ModelList,
    runs_locally,
)
from lorastudio.core.backend.comfyui.backend import ComfyUIBackend
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.messages import MessageKind

log = logging.getLogger(__name__)


@dataclass
class _Unit:
    job_id: str
    index: int
    request: JobRequest
    attempt: int = 0

    @property
    def id(self) -> str:
        return f"{self.job_id}#{self.index}#{self.attempt}"


@dataclass
class _PoolJob:
    id: str
    count: int
    steps: int
    started: float = field(default_factory=time.perf_counter)
    images: dict[int, tuple[ImageResult, ...]] = field(default_factory=dict)
    running: dict[str, tuple[_Unit, Backend]] = field(default_factory=dict)
    progress: dict[int, int] = field(default_factory=dict)
    excluded: set[int] = field(default_factory=set)  # ids of members that went away during this job
    cancelled: bool = False
    ended: bool = False
    last_loss: str = ""


class PoolBackend(Backend):
    name = "Any free backend"

    def __init__(self, members: list[Backend]) -> None:
        super().__init__()
        if not members:
            raise ValueError("a pool needs at least one backend")
        self.members = list(members)
        self._lock = threading.RLock()
        self._pending: list[_Unit] = []
        self._jobs: dict[str, _PoolJob] = {}
        self._assigned: dict[int, str] = {}  # id(member) → unit id
        for member in self.members:
            member.set_listener(self._listener_for(member))

    # -- Backend -------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._pending) or all(id(m) in self._assigned or m.busy for m in self.members)

    def submit(self, job_id: str, request: JobRequest) -> None:
        if isinstance(request, GenerationRequest):
            units = [_Unit(job_id, i, replace(request, seed=request.seed + i, batch_count=1))
                     for i in range(request.batch_count)]
            job = _PoolJob(job_id, len(units), request.steps)
        else:
            units, job = [_Unit(job_id, 0, request)], _PoolJob(job_id, 1, 1)
        with self._lock:
            self._jobs[job_id] = job
            self._pending.extend(units)
        self.emit(JobStarted(job_id))
        self._dispatch()

    def cancel(self, job_id: str) -> None:
        to_cancel: list[tuple[Backend, str]] = []
        events: list[BackendEvent] = []
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.ended:
                return
            job.cancelled = True
            self._pending = [u for u in self._pending if u.job_id != job_id]
            to_cancel = [(member, unit_id) for unit_id, (_, member) in job.running.items()]
            if not job.running:
                events.append(self._end(job, JobCancelled(job_id)))
        for member, unit_id in to_cancel:
            member.cancel(unit_id)
        self._emit_all(events)

    def list_models(self) -> ModelList:
        """What every reachable member has (a pooled job may land on any of them), by file name."""
        lists = []
        for member in self.members:
            try:
                lists.append(member.list_models())
            except Exception as err:  # an offline member has nothing to offer right now
                log.info("%s cannot list models: %s", member.name, err)
        if not lists:
            return ModelList()

        def common(groups: list[tuple[object, ...]]) -> tuple[object, ...]:
            names = set.intersection(*({getattr(p, "name", str(p)) for p in g} for g in groups))
            return tuple(p for p in groups[0] if getattr(p, "name", str(p)) in names)

        return ModelList(common([m.checkpoints for m in lists]), common([m.loras for m in lists]))  # type: ignore[arg-type]

    def warm_up(self) -> None:
        for member in self.members:
            member.warm_up()

    def shutdown(self) -> None:
        for member in self.members:
            member.shutdown()

    # -- dispatching ---------------------------------------------------------------------------
    def _dispatch(self) -> None:
        starts: list[tuple[Backend, _Unit]] = []
        events: list[BackendEvent] = []
        with self._lock:
            for unit in list(self._pending):
                job = self._jobs.get(unit.job_id)
                if unit not in self._pending or job is None or job.ended:
                    continue  # its job failed earlier in this loop
                usable = [m for m in self.members if id(m) not in job.excluded
                          and not (runs_locally(unit.request) and isinstance(m, ComfyUIBackend))]
                if not usable:
                    self._pending.remove(unit)
                    events.extend(self._fail_job(job, MessageKind.ENGINE_CRASHED,
                                                 f"No backend is left to run the job ({job.last_loss})"))
                    continue
                member = next((m for m in usable if id(m) not in self._assigned and not m.busy), None)
                if member is None:
                    continue
                self._pending.remove(unit)
                self._assigned[id(member)] = unit.id
                job.running[unit.id] = (unit, member)
                starts.append((member, unit))
        self._emit_all(events)
        for member, unit in starts:
            try:
                member.submit(unit.id, unit.request)
            except Exception as err:  # a member that cannot even start: treat it as gone for this job
                log.warning("%s could not start %s: %s", member.name, unit.id, err)
                self._on_member_event(member, JobFailed(unit.id, MessageKind.ENGINE_CRASHED,
                                                        f"{member.name} could not start the job."))

    def _listener_for(self, member: Backend) -> Listener:
        def listener(event: BackendEvent) -> None:
            self._on_member_event(member, event)

        return listener

    def _on_member_event(self, member: Backend, event: BackendEvent) -> None:
        if isinstance(event, BackendStatus):
            self.emit(BackendStatus(f"{member.name}: {event.text}", event.device))
            return
        if isinstance(event, BackendStopped):
            self.emit(BackendStatus(f"{member.name}: {event.message}"))
            return
        events: list[BackendEvent] = []
        with self._lock:
            found = self._find(event.job_id)
            if found is None:
                return
            job, unit = found
            if isinstance(event, JobStarted):
                return
            if isinstance(event, JobProgress):
                job.progress[unit.index] = min(event.step, job.steps)
                done = sum(job.progress.values()) + sum(job.steps for i in job.images if i not in job.progress)
                events.append(JobProgress(job.id, min(done, job.count * job.steps), job.count * job.steps))
            elif isinstance(event, JobPreview):
                events.append(JobPreview(job.id, event.width, event.height, event.rgb))
            else:  # a final event for the unit: the member is free again
                job.running.pop(event.job_id, None)
                if self._assigned.get(id(member)) == event.job_id:
                    del self._assigned[id(member)]
                events.extend(self._unit_ended(job, unit, member, event))
                if job.ended and not job.running:
                    self._jobs.pop(job.id, None)
        self._emit_all(events)
        if not isinstance(event, JobProgress | JobPreview):
            self._dispatch()

    def _find(self, unit_id: str) -> tuple[_PoolJob, _Unit] | None:
        job_id = unit_id.rsplit("#", 2)[0]
        job = self._jobs.get(job_id)
        if job is None or unit_id not in job.running:
            return None
        return job, job.running[unit_id][0]

    def _unit_ended(self, job: _PoolJob, unit: _Unit, member: Backend, event: BackendEvent) -> list[BackendEvent]:
        if job.ended:
            return []
        if job.cancelled:
            return [] if job.running else [self._end(job, JobCancelled(job.id))]
        if isinstance(event, JobResult):
            job.images[unit.index] = event.images
            job.progress[unit.index] = job.steps
            if len(job.images) == job.count:
                images = tuple(img for i in sorted(job.images) for img in job.images[i])
                return [self._end(job, JobResult(job.id, images, time.perf_counter() - job.started))]
            return []
        if isinstance(event, JobCancelled):  # not by us: someone stopped it on the server
            return self._fail_job(job, MessageKind.CANCELLED, f"{member.name} cancelled part of the job.")
        assert isinstance(event, JobFailed)
        if event.kind is MessageKind.ENGINE_CRASHED:
            job.excluded.add(id(member))
            job.last_loss = event.message.rstrip(".")
            job.progress.pop(unit.index, None)
            self._pending.insert(0, replace(unit, attempt=unit.attempt + 1))
            log.warning("Unit %s moves off %s: %s", unit.id, member.name, event.message)
            return []
        return self._fail_job(job, event.kind, event.message)

    def _fail_job(self, job: _PoolJob, kind: MessageKind, message: str) -> list[BackendEvent]:
        if job.ended:
            return []
        self._pending = [u for u in self._pending if u.job_id != job.id]
        for unit_id, (_, member) in list(job.running.items()):
            member.cancel(unit_id)
        text = message if message.endswith(".") else message + "."
        return [self._end(job, JobFailed(job.id, kind, text))]

    def _end(self, job: _PoolJob, event: BackendEvent) -> BackendEvent:
        job.ended = True
        if not job.running:
            self._jobs.pop(job.id, None)
        return event

    def _emit_all(self, events: list[BackendEvent]) -> None:
        for event in events:
            self.emit(event)

