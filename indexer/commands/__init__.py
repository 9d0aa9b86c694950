"""The ``indexer`` commands, by concern; ``indexer.cli`` registers them on its root group."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

#: ``indexer events --failed``'s exit status when events have failed (here, where ``indexer
#: --help`` reads it without importing the command).
FAILED_EVENTS_EXIT = 1


@contextmanager
def output_to_a_reader_who_may_leave() -> Iterator[None]:
    """``indexer ... | head``: a reader that closes the pipe early has what it wanted. Writing
    stops quietly (stdout then goes to /dev/null, so the last flush cannot fail) and the command
    ends with its own exit status."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
