"""Parent watchdog for moto_server (the Python twin of ../parent-watchdog.cjs).

servers.mjs starts moto_server with PYTHONPATH=<this folder> and TEST_SERVER_PARENT_WATCHDOG=1,
and keeps its stdin open as a pipe. Python imports this module at startup; a daemon thread
waits for EOF on stdin, which happens when the parent test process dies (even by SIGKILL),
and then exits the server. Does nothing unless that variable is set.
"""
import os
import sys
import threading

if os.environ.get("TEST_SERVER_PARENT_WATCHDOG") == "1":
    os.environ.pop("TEST_SERVER_PARENT_WATCHDOG", None)  # don't apply to grandchildren

    def _watch():
        try:
            fd = sys.stdin.fileno()
            while os.read(fd, 4096):
                pass
        except Exception:
            pass
        os._exit(0)

    threading.Thread(target=_watch, name="parent-watchdog", daemon=True).start()
