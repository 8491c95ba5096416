"""QMP addresses in the syntax of QEMU's ``-qmp`` option.

``unix:PATH``, a bare ``PATH``, ``tcp:HOST:PORT`` or ``HOST:PORT``; the
``,server=on,wait=off`` options of a pasted ``-qmp`` value are ignored.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from numatui.model.errors import NumaError
from numatui.model.numbers import parse_int
from numatui.session.errors import BadAddress

#: ``-qmp``/``-chardev`` socket options a pasted address may carry.
_SOCKET_OPTIONS = {"server", "wait", "nowait", "nodelay", "abstract", "tight", "reconnect",
                   "ipv4", "ipv6", "to", "id"}
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


@dataclass(frozen=True)
class Address:
    """Where QEMU's QMP monitor listens."""

    kind: Literal["unix", "tcp"]
    path: str | None = None
    host: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse ``unix:PATH``, ``PATH``, ``tcp:HOST:PORT`` or ``HOST:PORT``."""
        raw = text
        text = _strip_options(text.strip())
        if not text:
            raise BadAddress("empty QMP address: give unix:PATH, a socket path or HOST:PORT")
        if text.startswith("unix:"):
            path = text[len("unix:"):]
            if not path:
                raise BadAddress(f"QMP address {raw!r}: unix: needs a socket path")
            return cls(kind="unix", path=path)
        if text.startswith("tcp:"):
            return cls._tcp(text[len("tcp:"):], raw)
        for scheme in ("telnet:", "udp:", "vsock:", "fd:", "websocket:"):
            if text.startswith(scheme):
                raise BadAddress(
                    f"QMP address {raw!r}: {scheme[:-1]} is not supported; "
                    "use unix:PATH or tcp:HOST:PORT"
                )
        if "/" not in text and _looks_like_host_port(text):
            return cls._tcp(text, raw)
        return cls(kind="unix", path=text)

    @classmethod
    def _tcp(cls, rest: str, raw: str) -> Address:
        host, sep, port_text = rest.rpartition(":")
        if not sep:
            raise BadAddress(f"QMP address {raw!r}: expected tcp:HOST:PORT with a numeric port")
        try:
            port = parse_int(port_text, "port", lo=1, hi=65535, where=f"QMP address {raw!r}")
        except NumaError as exc:
            raise BadAddress(str(exc)) from None
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host:
            host = "localhost"  # QEMU's tcp::PORT listens on every address; connect locally
        return cls(kind="tcp", host=host, port=port)

    def target(self) -> str | tuple[str, int]:
        """What ``QMPClient.connect`` takes."""
        if self.kind == "unix":
            assert self.path is not None
            return self.path
        assert self.host is not None and self.port is not None
        return (self.host, self.port)

    def is_loopback(self) -> bool:
        """True for unix sockets and TCP to this machine."""
        if self.kind == "unix":
            return True
        host = (self.host or "").lower()
        if host in _LOOPBACK_NAMES:
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def warning(self) -> str | None:
        """A one-line warning for TCP off this machine, else None."""
        if self.is_loopback():
            return None
        return (
            f"{self} is not on this machine and QMP has no authentication: anyone who "
            "reaches that port controls the VM; prefer a unix socket or an SSH tunnel"
        )

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        host = self.host or ""
        if ":" in host:
            host = f"[{host}]"
        return f"tcp:{host}:{self.port}"


def _strip_options(text: str) -> str:
    """Drop trailing ``,server=on,wait=off``-style options (``,,`` is an escaped comma)."""
    parts = text.replace(",,", "\0").split(",")
    while len(parts) > 1 and parts[-1].split("=", 1)[0].strip() in _SOCKET_OPTIONS:
        parts.pop()
    return ",".join(parts).replace("\0", ",")


def _looks_like_host_port(text: str) -> bool:
    """Meant as HOST:PORT.  Any script's digits count here, so that ``host:²`` is
    refused by the port's parser rather than tried as a socket path."""
    host, sep, port = text.rpartition(":")
    return bool(sep and host and port.isdigit())
