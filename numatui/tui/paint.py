"""Updating a panel only when what it shows changes, and re-laying out the
screen only when the panel's box changes.

``Static.update`` always asks Textual for a layout pass (the panel may have
grown), which re-arranges and repaints the whole screen.  After a key press
most panels show the same text as before, or new text that fits the box:
skipping those keeps a key press at one small repaint (the keypress row of
``python -m numatui.bench``).
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from rich.style import Style
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.visual import VisualType
from textual.widget import Widget
from textual.widgets import Static

from numatui.core.vm import Vm


def update_static(widget: Static, content: VisualType) -> bool:
    """``widget.update(content)`` unless it shows equal content already (rich
    ``Text`` compares text and styles), with a layout pass only when the
    widget's box must change: its content grew beyond the laid-out region, or
    shrank while the content alone set the region's size (not a min-height,
    min-width or fixed size).  Width counts only for ``width: auto``.
    Returns whether it updated."""
    if type(widget.content) is type(content) and widget.content == content:
        return False
    region = widget.content_region.size
    if not region.width:  # not laid out yet: the first layout sizes it
        widget.update(content)
        return True
    styles = widget.styles
    auto_width = styles.width is not None and styles.width.is_auto
    if not auto_width and styles.height is not None and not styles.height.is_auto:
        widget.update(content, layout=False)  # a fixed box (the status bar): no size to measure
        return True
    viewport = widget.app.size
    measured = _measured.get(widget)  # the size measured after the last update, if still valid
    if measured is not None and measured[:3] == (widget.content, region, viewport):
        before = measured[3]
    else:
        before = _content_size(widget, region, viewport, auto_width)
    widget.update(content, layout=False)
    after = _content_size(widget, region, viewport, auto_width)
    _measured[widget] = (widget.content, region, viewport, after)
    same_box = _keeps(before.height, after.height, region.height) and (
        not auto_width or _keeps(before.width, after.width, region.width))
    if not same_box:
        widget.refresh(layout=True)
    return True


#: per widget: (its content, content region, viewport) and the content size measured then
#: (:func:`update_static`: the "before" of the next update is this one's "after")
_measured: WeakKeyDictionary[Widget, tuple[object, Size, Size, Size]] = WeakKeyDictionary()


def _keeps(old: int, new: int, laid_out: int) -> bool:
    """Whether a box laid out at ``laid_out`` for content ``old`` stays as it
    is for content ``new``: the same content size, or both within a box that
    something other than the content made larger."""
    return old == new or (old < laid_out and new <= laid_out)


def _content_size(widget: Static, region: Size, viewport: Size, auto_width: bool) -> Size:
    """The content size Textual would lay ``widget`` out with: its own width
    when ``width: auto``, else the laid-out width; the height at that width."""
    width = widget.get_content_width(widget.size, viewport) if auto_width else region.width
    return Size(width, widget.get_content_height(widget.size, viewport, max(width, region.width)))


class FollowsVm:
    """A panel drawn from the run's Vm: :meth:`redraw` runs whenever the app's
    ``revision`` moves (:attr:`numatui.tui.app.NumaApp.revision`: QEMU's state
    changed).  List it after the widget base (Textual inherits CSS along the first)."""

    vm: Vm

    def on_mount(self) -> None:
        assert isinstance(self, Widget)
        self.watch(self.app, "revision", self.redraw, init=False)

    def redraw(self) -> None:
        raise NotImplementedError


class LinePainter(Widget):
    """Base of the Line-API widgets: ``base_style`` is the widget's rich style,
    computed once per paint instead of once per line (``Widget.rich_style``
    walks every ancestor's background each time it is read).  List it after
    ``ScrollView`` (Textual inherits CSS along the first base only)."""

    _paint_style: Style | None = None

    @property
    def base_style(self) -> Style:
        return self._paint_style if self._paint_style is not None else self.rich_style

    def render_lines(self, crop: Region) -> list[Strip]:
        self._paint_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._paint_style = None
