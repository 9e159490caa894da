"""Per-node seeds derived from the config seed and the node's key, so a retry or rescue draws the same numbers."""

from __future__ import annotations

import hashlib
import json

import numpy as np

# Bump the version only on purpose: it changes every seed, hence every generated file.
_DOMAIN = "aframe-dag/node-seed/v1"


def node_seed(seed: int, *key: int | str) -> int:
    """A stable 64-bit seed for the node identified by ``key`` (sha256, never Python's salted ``hash``).

    Key parts are ints or strings and their types count: ``node_seed(1, "a", 3) != node_seed(1, "a", "3")``.
    """
    parts = [seed, *key]
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, (int, str)):
            raise TypeError(f"seed and key parts must be int or str, got {part!r} ({type(part).__name__})")
    canonical = json.dumps([_DOMAIN, *parts], separators=(",", ":"), ensure_ascii=True)
    return int.from_bytes(hashlib.sha256(canonical.encode("ascii")).digest()[:8], "big")


def node_rng(seed: int, *key: int | str) -> np.random.Generator:
    """A numpy Generator for the node identified by ``key``; PCG64 is named so a numpy upgrade keeps the stream."""
    return np.random.Generator(np.random.PCG64(node_seed(seed, *key)))
