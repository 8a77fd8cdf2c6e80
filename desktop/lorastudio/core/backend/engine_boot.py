"""The engine process's entry point: ``python -m lorastudio.core.backend.engine_boot``.

The window starts this with the engine runtime's interpreter, which may be another Python
environment than the window's (the installers ship the window without torch, #18), so the two
meet over a ``multiprocessing.connection`` socket instead of multiprocessing's spawn:
  1. the window writes a one-time auth key (hex) and a newline to our stdin, and keeps stdin open;
  2. we listen on a fresh local address (a Unix socket, a named pipe on Windows), print it as one
     JSON line on stdout, and point stdout at stderr (nobody reads stdout after that, and a library
     printing into a full pipe would block us);
  3. the window connects and sends the ProcessOptions; then engine_process's protocol runs.
stdin reaching EOF means the window's process is gone: we exit rather than outlive it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from multiprocessing.connection import Listener


def _exit_when_stdin_closes() -> None:
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    os._exit(0)


def main() -> None:
    key = bytes.fromhex(sys.stdin.buffer.readline().decode("ascii").strip())
    with Listener(authkey=key) as listener:
        print(json.dumps({"address": listener.address, "pid": os.getpid()}), flush=True)
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        threading.Thread(target=_exit_when_stdin_closes, name="parent-watch", daemon=True).start()
        conn = listener.accept()
    options = conn.recv()

    from lorastudio.core.backend.engine_process import engine_main

    engine_main(conn, options)


if __name__ == "__main__":
    main()
