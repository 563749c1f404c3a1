"""Cheap deterministic hashing: every value of the fake array derives from these.

A ``random.Random`` per record would cost tens of microseconds; splitmix64's finaliser on
Python ints costs well under one, and is identical in every process (no PYTHONHASHSEED).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import lru_cache

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
TO_UNIT = 2.0**-53  # (h >> 11) * TO_UNIT is uniform in [0, 1)
TO_UNIT32 = 2.0**-32  # (h & 0xFFFFFFFF) * TO_UNIT32 is uniform in [0, 1)


def mix64(x: int) -> int:
    """splitmix64: a well-spread 64-bit hash of a 64-bit integer."""
    z = (x + GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def unit(h: int) -> float:
    """A hash as a float uniform in [0, 1)."""
    return (h >> 11) * TO_UNIT


def digest64(*parts: object) -> int:
    """A 64-bit hash of arbitrary values (strings included); for setup, not per record."""
    text = "\x1f".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def hex_digest(*parts: object, size: int = 6) -> str:
    """A stable hex string of ``2 * size`` characters (serial numbers, match keys)."""
    text = "\x1f".join(map(str, parts)).encode()
    return hashlib.blake2b(text, digest_size=size).hexdigest()


BLOCK = 1000  # decimal blocks: the low three digits of an index select a table entry


class BlockHasher:
    """Tabulation hash of a record index, fast when indices are walked in order.

    ``h(i) = low[i % 1000] ^ mid[i // 1000 % 1000] ^ mix64(high_salt + i // 10**6)``: two
    list lookups and an XOR instead of a splitmix per record, with the same spread for our
    purposes (every table entry is a splitmix output). Decimal blocks because native ids
    are decimal: a block's id prefix is formatted once and its records only concatenate.
    """

    __slots__ = ("high_salt", "low", "mid_salt")

    def __init__(self, salt: int) -> None:
        self.low = [mix64((salt + k) & MASK64) for k in range(BLOCK)]
        # The middle digits' entries are computed per block, not tabled: one per 1000
        # records, where a table cost 1000 splitmixes per array and kind up front.
        self.mid_salt = salt + BLOCK
        self.high_salt = mix64(salt ^ 0x5BD1E9955BD1E995)

    def high(self, block: int) -> int:
        """The part shared by every index of ``block`` (= i // 1000)."""
        return (mix64((self.mid_salt + block % BLOCK) & MASK64)
                ^ mix64((self.high_salt + block // BLOCK) & MASK64))

    def __call__(self, index: int) -> int:
        return self.low[index % BLOCK] ^ self.high(index // BLOCK)

    def walk(self, start: int, stop: int) -> Iterator[tuple[int, int, range]]:
        """(block, shared hash, low digits) for every block overlapping [start, stop)."""
        if stop <= start:
            return
        for block in range(start // BLOCK, (stop - 1) // BLOCK + 1):
            base = block * BLOCK
            low = range(max(start, base) - base, min(stop, base + BLOCK) - base)
            yield block, self.high(block), low


@lru_cache(maxsize=256)
def block_hasher(salt: int) -> BlockHasher:
    """Shared per salt: ~0.5 ms to build, reused by every driver instance of the same seed."""
    return BlockHasher(salt)


LOW_DIGITS: tuple[str, ...] = tuple(f"{k:03d}" for k in range(BLOCK))
