"""The one exception type for user mistakes: the CLI prints its message on one line, exit 2."""


class UserError(Exception):
    """Something the user can fix (a bad value, a missing file); the message says how."""
