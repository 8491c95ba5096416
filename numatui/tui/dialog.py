"""The box every dialog and editor opens in, and the yes/no dialogs' buttons.

A :class:`Dialog` centres its one box (a ``Vertical`` or ``VerticalScroll``)
over the screen; a subclass's CSS gives the box its width (and a border
colour other than ``$primary``).  A :class:`ButtonDialog` ends with a
cancel and a confirm button that run its ``cancel`` and ``confirm`` actions,
the same as their keys.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer

T = TypeVar("T")


class Dialog(ModalScreen[T]):
    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > Vertical, Dialog > VerticalScroll {
        max-width: 100%; height: auto; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """
    box_title = ""
    #: Whether the footer shows the palette's key (a button dialog's shows its own keys only).
    PALETTE: ClassVar[bool] = True

    def compose(self) -> ComposeResult:
        """The box, titled ``box_title``, holding :meth:`body`; the footer below."""
        with Vertical() as box:
            box.border_title = self.box_title or None
            yield from self.body()
        yield Footer(show_command_palette=self.PALETTE)

    def body(self) -> ComposeResult:
        raise NotImplementedError


class ButtonDialog(Dialog[T]):
    DEFAULT_CSS = """
    ButtonDialog > Vertical { border: thick $warning; }
    ButtonDialog #buttons { height: auto; align-horizontal: right; margin-top: 1; }
    ButtonDialog Button { margin-left: 1; }
    """
    PALETTE = False

    def buttons(self, yes: str, no: str, *, disabled: bool = False) -> ComposeResult:
        """The button row: ``no`` (esc) cancels, ``yes`` (enter) confirms."""
        with Horizontal(id="buttons"):
            yield Button(f"{no} (esc)", id="cancel", compact=True, action="screen.cancel")
            yield Button(f"{yes} (enter)", id="confirm", variant="warning", disabled=disabled,
                         compact=True, action="screen.confirm")
