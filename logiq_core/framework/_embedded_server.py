"""Child-process entry point for the embedded nx-27017 server.

nx-27017 logs every command at INFO; Logiq keeps only its warnings, so the log in the data
directory stays small and readable. ``--exit-with-parent PID`` (Logiq's process id) is Logiq's
own option; every other argument is passed through to nx-27017 unchanged.

The server must not outlive Logiq, even when Logiq is killed with SIGKILL. Linux's
``PR_SET_PDEATHSIG`` looks like the tool for this, but it fires when the *thread* that started
the child ends, and Logiq starts the server from a worker thread (``asyncio.to_thread``): the
server would stop whenever that thread did. A watcher thread here checks instead whether the
process that started us is still our parent, and stops the server (SIGTERM, its clean stop)
once it is not.
"""

import logging
import os
import signal
import sys
import threading
import time

from nx_27017.nx_27017 import main

PARENT_OPTION = "--exit-with-parent"
PARENT_CHECK_SECONDS = 0.25


def _take_parent_option(argv: list[str]) -> int | None:
    """Remove ``--exit-with-parent PID`` from ``argv``; the PID, if it was given."""
    if PARENT_OPTION not in argv:
        return None
    at = argv.index(PARENT_OPTION)
    parent = int(argv[at + 1])
    del argv[at : at + 2]
    return parent


def _stop_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    logging.getLogger("nx_27017").setLevel(logging.WARNING)
    parent = _take_parent_option(sys.argv)
    if parent is not None:
        threading.Thread(target=_stop_when_orphaned, args=(parent,), name="parent-watch", daemon=True).start()
    sys.exit(main())
