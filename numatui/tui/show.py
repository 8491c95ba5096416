"""Updating a panel only when what it shows changes, and re-laying out the
screen only when its height changes.

``Static.update`` always asks Textual for a layout pass (the panel may have
grown), which re-arranges and repaints the whole screen.  After a key press
most panels show the same text as before, or new text of the same height:
skipping those keeps a key press at one small repaint (the keypress row of
``python -m numatui.bench``).
"""

from __future__ import annotations

from textual.visual import VisualType
from textual.widgets import Static


def update_static(widget: Static, content: VisualType) -> bool:
    """``widget.update(content)`` unless it shows equal content already
    (rich ``Text`` compares text and styles); a layout pass only if the
    widget's width follows its content or its content height changed.
    Returns whether it updated."""
    if type(widget.content) is type(content) and widget.content == content:
        return False
    width = widget.content_region.width
    auto_width = widget.styles.width is not None and widget.styles.width.is_auto
    if not width or auto_width:
        widget.update(content)
        return True
    before = _height(widget, width)
    widget.update(content, layout=False)
    if _height(widget, width) != before:
        widget.refresh(layout=True)
    return True


def _height(widget: Static, width: int) -> int:
    """The content height Textual would lay ``widget`` out with at ``width``."""
    return widget.get_content_height(widget.size, widget.app.size, width)
