"""The errors of the QMP session layer.

Every error's ``str()`` is one line saying what happened, where, and what to
do; QEMU's own words are passed through unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from numatui.model.preflight import Finding


class SessionError(Exception):
    """Base of every session error: ``str(e)`` is one line."""


class BadAddress(SessionError, ValueError):
    """A QMP address that cannot be parsed."""


class BadRequest(SessionError, ValueError):
    """A request numatui refuses before sending it (e.g. node-id above 127)."""


class ConnectFailed(SessionError):
    """No QMP session: no such socket, refused, not a QMP server, no greeting."""


class CommandTimeout(SessionError):
    """QEMU did not answer a command in time (the session may still be alive)."""

    def __init__(self, command: str, timeout: float) -> None:
        self.command = command
        self.timeout = timeout
        super().__init__(f"QEMU did not answer {command} within {timeout:g} s")


class QemuRefused(SessionError):
    """QEMU answered a command with an error: ``qemu_message`` is its text verbatim."""

    def __init__(self, command: str, qemu_message: str, error_class: str | None = None) -> None:
        self.command = command
        self.qemu_message = qemu_message
        self.error_class = error_class
        super().__init__(f"QEMU refused {command}: {qemu_message}")


class Disconnected(SessionError):
    """QEMU went away (killed, quit, crashed at exit-preconfig).

    ``stderr_tail`` holds QEMU's last stderr lines when numatui launched it.
    """

    def __init__(self, message: str, stderr_tail: str | None = None) -> None:
        self.stderr_tail = stderr_tail or None
        last = _last_line(self.stderr_tail)
        super().__init__(f"{message}: QEMU said: {last}" if last else message)


class PreflightBlocked(SessionError):
    """exit_preconfig refused: ``findings`` holds every finding, blocking first."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        blocking = [f for f in self.findings if str(f.severity.value) == "blocking"]
        first = blocking[0].message if blocking else "blocking finding"
        more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
        super().__init__(
            f"not leaving preconfig: {first}{more}; fix it or force the exit"
        )


def _last_line(text: str | None) -> str:
    if not text:
        return ""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""
