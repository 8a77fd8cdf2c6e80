"""A cancellation token shared between the GUI thread and a worker."""

import threading

from lorastudio.core.errors import GenerationCancelled


class CancelToken:
    """Set from any thread; checked by long jobs between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def reset(self) -> None:
        self._event.clear()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise GenerationCancelled("Cancelled.")
