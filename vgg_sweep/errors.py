"""What the user is told: the one exception type for their mistakes (the CLI prints its
message on one line, exit 2) and the one form of a warning."""

import sys

WARNING_PREFIX = "vgg-sweep: warning: "


class UserError(Exception):
    """Something the user can fix (a bad value, a missing file); the message says how."""


def warn(message: str) -> None:
    """One warning line on stderr (the CLI contract allows these beside the one error line)."""
    print(f"{WARNING_PREFIX}{message}", file=sys.stderr, flush=True)
