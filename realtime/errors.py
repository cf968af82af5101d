"""User errors: caught at the CLI edge and printed as one line, exit code 2."""


class UserError(Exception):
    """Bad input the user can fix; the message names the problem and the fix."""


def first_line(e: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (libraries' messages run to pages), or its type's name."""
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:limit]
