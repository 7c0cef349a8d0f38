"""Chunks of scans for the batched model stages (encode, and later counterfactuals, segmentation).

A scan's chunk is a hash of its subject id modulo the number of chunks (config key `chunks`):
independent of the other subjects, so adding subjects reruns only the chunks that receive them,
and all sessions of a subject share a chunk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def chunk_of(participant_id: str, n_chunks: int) -> int:
    """Chunk index in [0, n_chunks) of a subject (SHA-256 of its id; platform independent)."""
    if n_chunks < 1:
        raise ValueError(f"expected n_chunks >= 1, got {n_chunks}")
    digest = hashlib.sha256(f"latentcf-chunk:{participant_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % n_chunks


def chunk_label(index: int) -> str:
    """The {chunk} wildcard of chunk `index`: two digits at least ('03')."""
    return f"{index:02d}"


def chunk_members(
    scans: Iterable[str], participants: Iterable[str], n_chunks: int
) -> dict[str, list[str]]:
    """{chunk label: scans in that chunk, in input order}; only non-empty chunks, sorted."""
    members: dict[str, list[str]] = {}
    for scan, pid in zip(scans, participants, strict=True):
        members.setdefault(chunk_label(chunk_of(pid, n_chunks)), []).append(scan)
    return dict(sorted(members.items()))
