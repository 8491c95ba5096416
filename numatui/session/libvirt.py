"""libvirt through its own CLI, ``virsh``: read a domain, convert it, define it.

numatui needs no libvirt headers or binding: ``virsh`` runs from an argv
list (never a shell), with a timeout and a bounded read of what it prints.
A remote URI (``qemu+ssh://host/system``) reads and defines the domain there;
the conversion (``domxml-to-native``) and numatui's scratch QEMU stay local.

virsh's failures become numatui's exit codes: no connection -> ConnectFailed
(3), an unknown domain -> BadRequest (2, the input), anything else libvirt
refuses -> LibvirtRefused (1), each as one line with libvirt's own words.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from numatui.model.sanitise import one_line
from numatui.session.errors import BadRequest, ConnectFailed, SessionError

#: How long one virsh call may take: libvirtd's first ``define`` probes every
#: QEMU binary's capabilities (~47 s measured on libvirt 9.0).
VIRSH_TIMEOUT = 180.0
#: The most bytes of virsh output numatui reads (a domain's XML is a few KiB).
OUTPUT_LIMIT = 4 << 20

#: virsh words that mean "no connection" (libvirt 9.0's virsh).
_CONNECT_WORDS = ("failed to connect to the hypervisor", "Failed to connect socket",
                  "no connection driver available", "unable to connect to server",
                  "Cannot recv data", "authentication failed")
_UNKNOWN_WORDS = ("Domain not found", "failed to get domain")


class LibvirtRefused(SessionError):
    """libvirt (or virsh) refused the request: ``str()`` holds its words, one line."""


def _where(uri: str | None) -> str:
    return f"libvirt at {uri}" if uri else "libvirt (its default URI)"


def virsh(uri: str | None, *args: str, timeout: float = VIRSH_TIMEOUT) -> str:
    """``virsh [-c URI] ARGS...``'s stdout; its failure as one of the errors above."""
    program = shutil.which("virsh")
    if program is None:
        raise ConnectFailed("virsh is not installed: install libvirt's client (Debian: "
                            "apt-get install libvirt-clients)")
    argv = [program, "-q", *(["-c", uri] if uri else []), *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                  timeout=timeout, check=False, env=_env())
        except subprocess.TimeoutExpired:
            raise ConnectFailed(f"{_where(uri)} did not answer virsh {args[0]} within "
                                f"{timeout:g} s") from None
        out.seek(0)
        err.seek(0)
        text = out.read(OUTPUT_LIMIT + 1)
        said = err.read(64 << 10).decode("utf-8", "replace")
    if proc.returncode != 0:
        words = one_line(" ".join(ln.strip().removeprefix("error: ") for ln in said.splitlines()
                                  if ln.strip()), 600) or f"virsh exited with {proc.returncode}"
        if any(w in said for w in _CONNECT_WORDS):
            raise ConnectFailed(f"cannot connect to {_where(uri)}: {words}; check the URI "
                                "(--connect) and that libvirtd runs")
        if any(w in said for w in _UNKNOWN_WORDS):
            raise BadRequest(f"{_where(uri)} has no such domain: {words}; "
                             "`virsh list --all` names them")
        raise LibvirtRefused(f"{_where(uri)} refused virsh {args[0]}: {words}")
    if len(text) > OUTPUT_LIMIT:
        raise LibvirtRefused(f"virsh {args[0]} printed more than {OUTPUT_LIMIT} bytes: "
                             "not a domain numatui reads")
    return text.decode("utf-8", "replace")


def _env() -> dict[str, str]:
    """virsh's environment: the caller's, with no pager and the C locale (its
    error words are matched above)."""
    env = dict(os.environ)
    env.update(LC_ALL="C", VIRSH_PAGER="cat")
    return env


def dumpxml(uri: str | None, name: str) -> str:
    """The persistent (inactive) definition of domain ``name``: what ``define`` replaces."""
    return virsh(uri, "dumpxml", "--inactive", "--security-info", "--", name)


def domain_state(uri: str | None, name: str) -> str:
    """``running``, ``shut off``, ...: virsh domstate's word."""
    return virsh(uri, "domstate", "--", name).strip()


def to_native(uri: str | None, xml: str) -> list[str]:
    """``virsh domxml-to-native qemu-argv``: the QEMU argv libvirt would run for ``xml``."""
    from numatui.model.domain_xml import split_native

    with tempfile.TemporaryDirectory(prefix="numatui-domain-") as tmp:
        path = os.path.join(tmp, "domain.xml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(xml)
        os.chmod(tmp, 0o755)  # libvirtd reads the file itself when it runs as another user
        os.chmod(path, 0o644)
        return split_native(virsh(uri, "domxml-to-native", "qemu-argv", "--xml", path))


def define(uri: str | None, xml: str) -> None:
    """``virsh define``: replace the persistent definition (libvirt validates it)."""
    with tempfile.TemporaryDirectory(prefix="numatui-domain-") as tmp:
        path = os.path.join(tmp, "domain.xml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(xml)
        os.chmod(tmp, 0o755)
        os.chmod(path, 0o644)
        virsh(uri, "define", "--validate", path)
