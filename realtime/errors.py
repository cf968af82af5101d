"""User errors: caught at the CLI edge and printed as one line, exit code 2; and every command's exit codes."""

# Exit codes (README, "Exit codes"): 0 done; 1 a bug (traceback); 2 a user error (one line);
# 3 done, but the input ended early (a truncated or damaged file: the output holds what decoded);
# 128 + signal when stopped (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP) with a playable .partial output.
EXIT_USER, EXIT_TRUNCATED, EXIT_INTERRUPTED, EXIT_PIPE = 2, 3, 130, 141  # 141: as a shell reports SIGPIPE


class UserError(Exception):
    """Bad input the user can fix; the message names the problem and the fix."""


def first_line(e: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (libraries' messages run to pages), or its type's name."""
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:limit]
