"""Which storage a trap belongs to: exact matching, never a substring.

Delfin matched a trap to a storage by a substring of the source IP (10.0.0.1 also
matched 10.0.0.11) and could not tell apart several arrays behind one agent. Here the
order is: the exact source address; then the community (v1/v2c) or the v3 user and
engine id the packet authenticated with; then, where several storages still share that
agent, the serial number (or name) their driver's ``parse_alert`` reports.

A ``MatchTable`` is immutable: a reload builds a new one and the receiver swaps the
reference, so the trap path never takes a lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from storfleet.alerts.sources import V3, SourceEntry

MATCHED, AMBIGUOUS, UNKNOWN_SOURCE, WRONG_CREDENTIALS = (
    "matched", "ambiguous", "unknown_source", "wrong_credentials")


@dataclass(frozen=True, slots=True)
class Match:
    status: str
    candidates: tuple[SourceEntry, ...] = ()


_UNKNOWN = Match(UNKNOWN_SOURCE)
_WRONG = Match(WRONG_CREDENTIALS)


class MatchTable:
    def __init__(self, entries: Iterable[SourceEntry] = ()) -> None:
        self.entries = tuple(entries)
        by_address: dict[str, list[SourceEntry]] = {}
        community: dict[tuple[str, bytes], list[SourceEntry]] = {}
        users: dict[tuple[str, bytes | None, str], list[SourceEntry]] = {}
        for entry in self.entries:
            for host in entry.hosts:
                by_address.setdefault(host, []).append(entry)
                if entry.version == V3:
                    if entry.username:
                        users.setdefault((host, entry.engine_id, entry.username), []).append(
                            entry)
                elif entry.community is not None:
                    community.setdefault((host, entry.community), []).append(entry)
        self.addresses = frozenset(by_address)
        self._community = {k: _match(v) for k, v in community.items()}
        self._users = {k: _match(v) for k, v in users.items()}

    def __len__(self) -> int:
        return len(self.entries)

    def by_community(self, address: str, community: bytes) -> Match:
        """A v1/v2c trap: its source address, then its community."""
        found = self._community.get((address, community))
        if found is not None:
            return found
        return _WRONG if address in self.addresses else _UNKNOWN

    def by_user(self, address: str, engine_id: bytes | None, username: str) -> Match:
        """A v3 trap pysnmp authenticated: its source address, then user and engine id."""
        found = self._users.get((address, engine_id, username))
        if found is not None:
            return found
        return _UNKNOWN

    def v3_users(self) -> list[SourceEntry]:
        """Every v3 source, for the USM configuration."""
        return [e for e in self.entries if e.version == V3 and e.username]


def _match(entries: list[SourceEntry]) -> Match:
    unique = tuple({e.storage_id: e for e in entries}.values())
    return Match(MATCHED if len(unique) == 1 else AMBIGUOUS, unique)


def resolve(candidates: tuple[SourceEntry, ...], alert: Mapping[str, Any]) -> SourceEntry | None:
    """The one storage among several behind one agent whose serial number (else name)
    the parsed alert reports; None when it reports neither or names none of them."""
    serial = alert.get("serial_number")
    if serial:
        found = [c for c in candidates if c.serial_number and c.serial_number == str(serial)]
        if len(found) == 1:
            return found[0]
    name = alert.get("storage_name")
    if name:
        found = [c for c in candidates if c.storage_name and c.storage_name == str(name)]
        if len(found) == 1:
            return found[0]
    return None
