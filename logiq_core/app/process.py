"""What a Logiq process (``logiq``, ``scripts/gradual_rollout.py``) does as it ends."""

from __future__ import annotations

import gc


def exit_without_final_collection() -> None:
    """Call when the process is about to end, with everything stopped and flushed.

    The interpreter's last garbage collection walks every object still alive (the whole bot
    and its plugins: most of a second) only to free memory the process gives back anyway;
    frozen objects are skipped. Standard streams are still flushed and atexit handlers run.
    """
    gc.freeze()
