"""User errors: export/ raises the product's one UserError, so the CLI edge matches it by class."""
from stylecam.realtime.errors import EXIT_INTERRUPTED, EXIT_USER, UserError

__all__ = ["EXIT_INTERRUPTED", "EXIT_USER", "UserError"]
