"""Sizes: QEMU's qemu_strtosz, and parse_size (the same grammar, or an int)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from numatui.model.errors import NumaError
from numatui.model.units import format_size, human_size, parse_size, qemu_strtosz

G = 1 << 30


@pytest.mark.parametrize(
    "text, unit, size",
    [("2G", "b", 2 * G), ("1.5G", "b", 3 * G // 2), ("512", "m", G // 2),
     ("4096", "b", 4096), (" 1g ", "b", G), (4096, "b", 4096)],
)
def test_parse_size(text: str | int, unit: str, size: int) -> None:
    assert parse_size(text, default_unit=unit) == size


@pytest.mark.parametrize("bad", ["", "G", "-1", "inf", "nan", "1e5", "1_000", "2X", "2Gi", "2GiB", "1 g",
                                 -1, True, 1.5, None])
def test_parse_size_refuses(bad: object) -> None:
    with pytest.raises(NumaError):
        parse_size(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text, default, size",
    [("1.5G", "B", 3 * G // 2), ("0x100", "B", 256), ("100B", "M", 100), ("2g", "B", 2 * G),
     ("1024", "M", G), ("1.5", "M", 3 << 19), ("1k", "B", 1024), ("+8", "B", 8)],
)
def test_qemu_strtosz(text: str, default: str, size: int) -> None:
    assert qemu_strtosz(text, default) == size


@pytest.mark.parametrize("bad", ["1GiB", "1.5", "1e3", "-1", "0x1.5G", "", "G", "1 G", "99999999999E"])
def test_qemu_strtosz_refuses_what_qemu_refuses(bad: str) -> None:
    with pytest.raises(NumaError):
        qemu_strtosz(bad)


@given(st.integers(0, 1 << 50))
def test_format_size_round_trips(size: int) -> None:
    assert parse_size(format_size(size)) == size
    assert qemu_strtosz(format_size(size)) == size


def test_human_size() -> None:
    assert human_size(3 * G // 2) == "1.5 GiB" and human_size(512) == "512 B"
