"""The box every dialog and editor opens in, and the yes/no dialogs' buttons.

A :class:`Dialog` centres its one box (a ``Vertical`` or ``VerticalScroll``)
over the screen; a subclass's CSS gives the box its width (and a border
colour other than ``$primary``).  A :class:`ButtonDialog` ends with a
cancel and a confirm button that run its ``cancel`` and ``confirm`` actions,
the same as their keys.
"""

from __future__ import annotations

from typing import TypeVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button

T = TypeVar("T")


class Dialog(ModalScreen[T]):
    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > Vertical, Dialog > VerticalScroll {
        max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """


class ButtonDialog(Dialog[T]):
    DEFAULT_CSS = """
    ButtonDialog > Vertical { border: thick $warning; }
    ButtonDialog #buttons { height: auto; align-horizontal: right; margin-top: 1; }
    ButtonDialog Button { margin-left: 1; }
    """

    def buttons(self, yes: str, no: str, *, disabled: bool = False) -> ComposeResult:
        """The button row: ``no`` (esc) cancels, ``yes`` (enter) confirms."""
        with Horizontal(id="buttons"):
            yield Button(f"{no} (esc)", id="cancel", compact=True)
            yield Button(f"{yes} (enter)", id="confirm", variant="warning", disabled=disabled, compact=True)

    def action_confirm(self) -> None:
        raise NotImplementedError

    def action_cancel(self) -> None:
        raise NotImplementedError

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()
