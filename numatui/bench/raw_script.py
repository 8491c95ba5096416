"""The raw side of the whole-process rows: a plain script, stdlib only (no
numatui, no qemu.qmp, no asyncio), run as ``python raw_script.py SOCKET
COMMANDS.json``: it connects, sends ``qmp_capabilities``, then each
``[name, arguments]`` of the file one after the other, and prints each reply
as a line of JSON.  What ``numatui show`` or ``numatui apply`` takes beyond
this process is numatui's own cost.
"""

import json
import socket
import sys


def main() -> int:
    path, commands_file = sys.argv[1], sys.argv[2]
    with open(commands_file, encoding="utf-8") as f:
        commands = json.load(f)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
        stream = sock.makefile("rwb")
        stream.readline()  # the greeting
        for name, arguments in [["qmp_capabilities", None], *commands]:
            msg = {"execute": name, **({"arguments": arguments} if arguments else {})}
            stream.write(json.dumps(msg).encode() + b"\n")
            stream.flush()
            while True:
                reply = json.loads(stream.readline())
                if "return" in reply or "error" in reply:
                    break
            if name != "qmp_capabilities":
                sys.stdout.write(json.dumps(reply) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
