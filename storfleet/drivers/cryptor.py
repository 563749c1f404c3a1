"""Delfin's ``cryptor`` shim: ``encode`` / ``decode`` return their input unchanged.

Delfin handed drivers encrypted passwords and drivers called ``cryptor.decode`` before
use. storfleet decrypts access info in the framework (secrets stay encrypted at rest and
never reach driver code in that form), so a driver receives plain text already; these
identity functions keep ported drivers' ``cryptor.decode(password)`` calls working
without decrypting twice or needing the key.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def encode(data: T) -> T:
    """Return ``data`` unchanged (the framework encrypts what it stores)."""
    return data


def decode(data: T) -> T:
    """Return ``data`` unchanged (passwords arrive already decrypted)."""
    return data
