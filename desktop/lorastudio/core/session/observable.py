"""Tiny observer helpers: a value that tells its listeners when it really changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Event(Generic[T]):
    """A list of callbacks called with one argument, in the order they connected."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[T], None]] = []

    def connect(self, callback: Callable[[T], None]) -> None:
        self._callbacks.append(callback)

    def disconnect(self, callback: Callable[[T], None]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, value: T) -> None:
        for callback in list(self._callbacks):
            callback(value)


class Observable(Generic[T]):
    """Holds a value; ``changed`` fires only when ``set`` gets a different one (so two-way
    bindings cannot echo forever)."""

    def __init__(self, value: T) -> None:
        self._value = value
        self.changed: Event[T] = Event()

    @property
    def value(self) -> T:
        return self._value

    def set(self, value: T) -> bool:
        if value == self._value:
            return False
        self._value = value
        self.changed.emit(value)
        return True
