"""Roles and the caller of a request.

Two roles are enough for an operator tool: ``admin`` may do everything, ``reader`` may only
read (GET). The rule is keyed on the HTTP method, so a new mutating endpoint is protected
without anyone having to remember to protect it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Role(enum.StrEnum):
    ADMIN = "admin"
    READER = "reader"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a token (its public id and name) and its role."""

    id: str
    name: str
    role: Role

    def may(self, method: str) -> bool:
        return self.role is Role.ADMIN or method.upper() in READ_METHODS


# The caller when the server runs with --insecure-no-auth (local development only).
INSECURE = Principal("insecure-no-auth", "no authentication (development mode)", Role.ADMIN)
