"""A node's memory backend: which ``memory-backend-*`` and its options.

A plan node's ``"backend"`` is the ``object-add`` arguments other than
``id``, ``size`` and the host binding (``host-nodes``/``policy``, kept on
the node): ``{"qom-type": "memory-backend-memfd", "share": true}``.  It is
data from a file, so it is checked here against a table of the types and
keys numatui knows and their value types (one line naming the bad key),
and kept as sorted pairs (hashable, comparable); ``()`` is a plain
``memory-backend-ram``.  The same options read from a command line's
``-object`` (QemuOpts strings: ``share=on``, ``hugetlbsize=2M``) convert to
the same typed values, so a backend survives every export and re-import.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from numatui.model.errors import NumaError, whole_number
from numatui.model.smp import escape_opt
from numatui.model.units import format_size, parse_size, qemu_strtosz

#: The backend of a node, sorted ``(key, value)`` pairs, ``qom-type`` among them; () = RAM.
Backend = tuple[tuple[str, Any], ...]

RAM = "memory-backend-ram"
MEMFD = "memory-backend-memfd"
FILE = "memory-backend-file"
#: value kinds: bool (on/off), size (bytes), int, path (a non-empty string)
_COMMON = {"share": "bool", "prealloc": "bool", "merge": "bool", "dump": "bool",
           "reserve": "bool", "prealloc-threads": "int"}
KEYS: dict[str, dict[str, str]] = {
    RAM: _COMMON,
    MEMFD: {**_COMMON, "hugetlb": "bool", "hugetlbsize": "size", "seal": "bool"},
    FILE: {**_COMMON, "mem-path": "path", "align": "size", "discard-data": "bool"},
}
TYPES = tuple(KEYS)
#: keys of an ``-object`` value that are not the backend's own options here
NOT_BACKEND = frozenset({"qom-type", "id", "size", "host-nodes", "policy"})
_BOOL_WORDS = {"on": True, "yes": True, "true": True, "off": False, "no": False, "false": False}


def check_backend(raw: Any, where: str) -> Backend:
    """A plan node's ``"backend"`` (a JSON object) checked and normalised;
    NumaError (one line naming ``where`` and the key) when it is not one."""
    if not isinstance(raw, Mapping):
        raise NumaError(f"{where} must be an object like {{\"qom-type\": \"{MEMFD}\", \"share\": true}}")
    qtype = raw.get("qom-type")
    if qtype not in KEYS:
        raise NumaError(f"{where}.qom-type must be one of {', '.join(TYPES)}, not {json.dumps(qtype)}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "qom-type":
            continue
        kind = KEYS[qtype].get(key)
        if kind is None:
            hint = " (the node's own keys)" if key in NOT_BACKEND else ""
            raise NumaError(_no_key(qtype, key, where) + hint)
        out[key] = _typed(f"{where}.{key}", kind, value)
    if qtype == FILE and "mem-path" not in out:
        raise NumaError(f"{where}: {FILE} needs \"mem-path\" (a file or a directory, e.g. on hugetlbfs)")
    return _normal(qtype, out)


def backend_from_opts(props: Mapping[str, Any], where: str) -> Backend:
    """The backend of an ``-object memory-backend-*`` (QemuOpts strings or JSON
    values); keys numatui does not know stay in that ``-object`` only."""
    qtype = str(props.get("qom-type"))
    known = KEYS.get(qtype)
    if known is None:
        return (("qom-type", qtype),)
    return _normal(qtype, {k: _typed(f"{where}: {k}", known[k], v, opts=True)
                           for k, v in props.items() if k in known})


def unknown_option(props: Mapping[str, Any], where: str) -> str | None:
    """Why a plan cannot carry this ``-object``'s backend (a type or key numatui
    does not know; it would be dropped), or None."""
    qtype = str(props.get("qom-type"))
    if qtype not in KEYS:
        return f"{where}: {qtype} is not a backend a plan can create ({', '.join(TYPES)})"
    key = next((k for k in props if k not in KEYS[qtype] and k not in NOT_BACKEND), None)
    return None if key is None else _no_key(qtype, key, where)


def _no_key(qtype: str, key: str, where: str) -> str:
    return f"{where}: {qtype} has no key {key!r} here; known: {', '.join(sorted(KEYS[qtype]))}"


def backend_args(backend: Backend) -> dict[str, Any]:
    """The ``object-add`` arguments (without id, size, binding)."""
    return dict(backend) if backend else {"qom-type": RAM}


def backend_type(backend: Backend) -> str:
    return str(dict(backend).get("qom-type", RAM))


def backend_opts(backend: Backend) -> str:
    """``,share=on,mem-path=/x`` (QemuOpts) for an ``-object`` value."""
    out = ""
    for key, value in backend:
        if key == "qom-type":
            continue
        if isinstance(value, bool):
            text = "on" if value else "off"
        elif isinstance(value, int) and KEYS[backend_type(backend)].get(key) == "size":
            text = format_size(value)
        else:
            text = escape_opt(str(value))
        out += f",{key}={text}"
    return out


def _normal(qtype: str, opts: Mapping[str, Any]) -> Backend:
    if qtype == RAM and not opts:
        return ()
    return (("qom-type", qtype), *sorted(opts.items()))


def _typed(where: str, kind: str, value: Any, opts: bool = False) -> Any:
    """``value`` as the kind says; strings (``on``, ``2M``) only from a command line."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if opts and isinstance(value, str) and value in _BOOL_WORDS:
            return _BOOL_WORDS[value]
        raise NumaError(f"{where} must be true or false, not {json.dumps(value)}")
    if kind == "size":
        if opts and isinstance(value, str):
            return qemu_strtosz(value, "B", what=where)
        return parse_size(value, what=where) if isinstance(value, str) else whole_number(where, value, 1)
    if kind == "int":
        if opts and isinstance(value, str) and value.isdigit():
            value = int(value)  # numbers: a QemuOpts uint from a command line
        return whole_number(where, value, 1, 1024)
    if not isinstance(value, str) or not value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise NumaError(f"{where} must be a non-empty path without control characters")
    return value


#: What the memory editor offers for a new node's backend, in order (label, backend).
CHOICES: tuple[tuple[str, Backend], ...] = (
    ("ram", ()),
    ("memfd,share=on", ((("qom-type", MEMFD), ("share", True)))),
    ("file /dev/shm,share=on", (("qom-type", FILE), ("mem-path", "/dev/shm"), ("share", True))),
)

