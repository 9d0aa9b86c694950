"""Stripe-shaped object ids, deterministic for a given seed."""

from __future__ import annotations

import hashlib
import random
import threading

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# prefix -> (lead characters after the prefix, random length); modelled on real ids such as
# "pi_3RlP7uLq8ZcW4nB01qW7eR9t", "prod_QXg1hqf4jFNsqG", "cs_test_a1YS1URlnyQ…".
_SHAPES: dict[str, tuple[str, int]] = {
    "prod": ("", 14),
    "cus": ("", 14),
    "si": ("", 14),
    "req": ("", 14),
    "acct": ("1", 15),
    "pi": ("3", 23),
    "ch": ("3", 23),
    "py": ("3", 23),
    "txn": ("3", 23),
    "pm": ("1", 23),
    "price": ("1", 23),
    "plink": ("1", 23),
    "in": ("1", 23),
    "ii": ("1", 23),
    "sub": ("1", 23),
    "evt": ("1", 23),
    "re": ("1", 23),
    "dp": ("1", 23),
    "inpay": ("1", 23),
    "clock": ("1", 23),
    "seti": ("1", 23),
    "we": ("1", 23),
    "frr": ("1", 23),
    "file": ("1", 23),
}


def _b62(n: int, length: int) -> str:
    out = []
    for _ in range(length):
        n, r = divmod(n, 62)
        out.append(ALPHABET[r])
    return "".join(out)


# Random bytes -> base-62 characters in one C call (ids are made by the million when seeding
# history); the slight bias of ``byte % 62`` does not matter for fake ids.
_BYTE_TO_B62 = bytes(ALPHABET[i % 62].encode()[0] for i in range(256))


class IdFactory:
    """Makes ids from a seeded RNG, so a seeded store always produces the same ids."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    def new(self, prefix: str, livemode: bool = False) -> str:
        if prefix == "cs":
            with self._lock:
                raw = self._rng.randbytes(58)
            return ("cs_live_a1" if livemode else "cs_test_a1") + raw.translate(_BYTE_TO_B62).decode()
        lead, length = _SHAPES[prefix]
        with self._lock:
            raw = self._rng.randbytes(length)
        return f"{prefix}_{lead}{raw.translate(_BYTE_TO_B62).decode()}"


def child_id(prefix: str, parent_id: str, index: int) -> str:
    """A stable id for the index-th child of a parent (checkout/link line items, invoice lines).

    Deriving instead of storing these ids keeps per-line memory down to a small tuple.
    """
    digest = hashlib.blake2b(f"{parent_id}:{index}".encode(), digest_size=18).digest()
    return f"{prefix}_1{_b62(int.from_bytes(digest, 'big'), 23)}"


def request_id(rng: random.Random) -> str:
    return "req_" + _b62(rng.getrandbits(90), 14)
