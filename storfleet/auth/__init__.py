"""Who may call the API: bearer tokens (stored hashed), roles, and the audit log."""

from storfleet.auth.roles import Principal, Role
from storfleet.auth.tokens import TokenError, create_token, list_tokens, revoke_token, verify

__all__ = [
    "Principal",
    "Role",
    "TokenError",
    "create_token",
    "list_tokens",
    "revoke_token",
    "verify",
]
