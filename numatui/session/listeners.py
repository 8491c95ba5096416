"""Callbacks: adding one gives back its remover; one that raises stops no other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Listeners(Generic[T]):
    def __init__(self) -> None:
        self._callbacks: list[Callable[[T], object]] = []

    def add(self, cb: Callable[[T], object]) -> Callable[[], None]:
        """Call ``cb`` from now on; returns a function removing it."""
        self._callbacks.append(cb)
        return lambda: self.discard(cb)

    def discard(self, cb: Callable[[T], object]) -> None:
        if cb in self._callbacks:
            self._callbacks.remove(cb)

    def call(self, value: T, failed: Callable[[Callable[[T], object], Exception], object]) -> None:
        """``cb(value)`` for each; ``failed(cb, exc)`` for one that raised."""
        for cb in list(self._callbacks):
            try:
                cb(value)
            except Exception as exc:
                failed(cb, exc)
