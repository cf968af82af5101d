"""User errors: caught at the CLI edge and printed as one line, exit code 2."""


class UserError(Exception):
    """Bad input the user can fix; the message names the problem and the fix."""
