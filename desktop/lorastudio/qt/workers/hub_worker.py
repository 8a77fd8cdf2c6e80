"""The hub thread: search and model pages run here, one request at a time, off the GUI thread.

``HubClient`` lives in the GUI thread; its private request signal is connected to the worker's
slot, so each request is queued into the hub thread. Answers carry the request id so a page can
drop stale ones (search-as-you-type sends many).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from lorastudio.core.errors import LoraStudioError
from lorastudio.core.paths import DataDir


@dataclass(frozen=True)
class HubRequest:
    id: int
    action: str  # "search" | "page"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PageBundle:
    """A model page plus what it shows: the sanitized card and local image files."""

    page: Any  # core.hub.card.ModelPage
    card: str  # safe Markdown
    preview: Path | None


class HubWorker(QObject):
    """Runs in the hub thread. Signals: answered(int id, object result), failed(int id, str)."""

    answered = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, data: DataDir) -> None:
        super().__init__()
        self._data = data

    @Slot(object)
    def handle(self, request: HubRequest) -> None:
        try:
            from lorastudio.core.hub.tokens import app_connection

            conn = app_connection(self._data)
            if request.action == "search":
                from lorastudio.core.hub.search import search_models

                self.answered.emit(request.id, search_models(conn=conn, **request.params))
            elif request.action == "page":
                self.answered.emit(request.id, self._page(conn, **request.params))
            else:
                raise ValueError(request.action)
        except LoraStudioError as err:
            self.failed.emit(request.id, str(err))
        except Exception as err:  # keep the window alive; the log gets the traceback
            traceback.print_exc()
            self.failed.emit(request.id, f"Unexpected error: {type(err).__name__}.")

    def _page(self, conn: Any, repo_id: str, revision: str = "main", allow_images: bool = False) -> PageBundle:
        from lorastudio.core.hub.card import card_images, fetch_repo_file, model_page, safe_markdown

        page = model_page(repo_id, revision, conn=conn)
        preview = None
        if page.preview_file:
            try:
                preview = fetch_repo_file(page, page.preview_file, conn=conn)
            except LoraStudioError:
                preview = None
        local: dict[str, Path] = {}
        if allow_images:
            for path in card_images(page.card_markdown, [f.path for f in page.files])[:8]:
                try:
                    local[path] = fetch_repo_file(page, path, conn=conn)
                except LoraStudioError:
                    continue
        return PageBundle(page, safe_markdown(page.card_markdown, local), preview)


class HubClient(QObject):
    """GUI-thread end of the hub thread. Signals: answered(int, object), failed(int, str)."""

    answered = Signal(int, object)
    failed = Signal(int, str)
    _request = Signal(object)

    def __init__(self, data: DataDir, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._next = 0
        self._thread = QThread()
        self._thread.setObjectName("hub")
        self._worker = HubWorker(data)
        self._worker.moveToThread(self._thread)
        self._request.connect(self._worker.handle)
        self._worker.answered.connect(self._on_worker_answered)
        self._worker.failed.connect(self._on_worker_failed)
        self._thread.start()

    def send(self, action: str, **params: Any) -> int:
        self._next += 1
        self._request.emit(HubRequest(self._next, action, params))
        return self._next

    @Slot(int, object)
    def _on_worker_answered(self, request_id: int, result: object) -> None:
        self.answered.emit(request_id, result)

    @Slot(int, str)
    def _on_worker_failed(self, request_id: int, message: str) -> None:
        self.failed.emit(request_id, message)

    def shutdown(self) -> None:
        """Stop the thread after the request in progress (requests time out in seconds)."""
        if self._thread.isRunning():
            self._thread.quit()
            self._thread.wait()
