"""User errors: export/ raises the product's one UserError, so the CLI edge matches it by class."""
from stylecam.realtime.errors import UserError

__all__ = ["UserError"]
