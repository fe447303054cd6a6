"""Object bodies derived from (key, seed): streamed, never held whole in memory, and
re-derivable for verification.

An object of ``size`` bytes is a run of 64 KiB blocks; block ``i`` is the SHA-256 of
``seed|key|i`` repeated, so every block of every object differs (bytes moved within an
object or between objects are caught) and any byte range can be produced on its own:
a 100 MB upload reads through a 64 KiB window, a multipart upload hands each part its
own range, and a seek back (the client re-reading a body to sign or retry it) costs
nothing but regeneration.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

BLOCK = 1 << 16
_REPEAT = BLOCK // 32


class ObjectSource:
    """The bytes of one object (one version of one key)."""

    __slots__ = ("_prefix", "key", "seed", "size")

    def __init__(self, key: str, seed: int | str, size: int) -> None:
        self.key = key
        self.seed = seed
        self.size = size
        self._prefix = f"{seed}|{key}|".encode()

    def block(self, index: int) -> bytes:
        return hashlib.sha256(self._prefix + str(index).encode()).digest() * _REPEAT

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes in [start, end) as a series of at most 64 KiB pieces."""
        end = self.size if end is None else end
        pos = start
        while pos < end:
            index, offset = divmod(pos, BLOCK)
            piece = self.block(index)[offset : offset + min(BLOCK - offset, end - pos)]
            yield piece
            pos += len(piece)

    def sha256(self, start: int = 0, end: int | None = None) -> bytes:
        h = hashlib.sha256()
        for piece in self.chunks(start, end):
            h.update(piece)
        return h.digest()

    def body(self, start: int = 0, end: int | None = None) -> ObjectBody:
        return ObjectBody(self, start, self.size if end is None else end)


class ObjectBody(io.RawIOBase):
    """A seekable, readable file over [start, end) of an ``ObjectSource``: what the S3
    client streams from, with at most one 64 KiB block materialised at a time."""

    def __init__(self, source: ObjectSource, start: int, end: int) -> None:
        super().__init__()
        self.source = source
        self.start = start
        self.end = end
        self.pos = 0
        self._block_index = -1
        self._block = b""

    def __len__(self) -> int:
        return self.end - self.start

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: len(self)}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        absolute = self.start + self.pos
        want = min(len(view), self.end - absolute)
        done = 0
        while done < want:
            index, offset = divmod(absolute + done, BLOCK)
            if index != self._block_index:
                self._block = self.source.block(index)
                self._block_index = index
            n = min(BLOCK - offset, want - done)
            view[done : done + n] = self._block[offset : offset + n]
            done += n
        self.pos += done
        return done

    def read(self, size: int = -1) -> bytes:
        # botocore and urllib3 read in chunks; a plain read() still works, bounded by
        # the caller's choice of range.
        if size is None or size < 0:
            size = self.end - self.start - self.pos
        out = bytearray(max(0, min(size, self.end - self.start - self.pos)))
        n = self.readinto(out)
        return bytes(out[:n])


def b64(digest: bytes) -> str:
    """An S3 ``x-amz-checksum-sha256`` value."""
    return base64.b64encode(digest).decode()


def pick_size(rng: random.Random, classes: Sequence[Any]) -> tuple[str, int]:
    """A (class name, size) draw: the class by weight, the size uniform in it."""
    chosen = rng.choices(classes, weights=[c.weight for c in classes])[0]
    return chosen.name, rng.randint(chosen.min, chosen.max)


@dataclass(frozen=True)
class UploadPlan:
    """The SHA-256 of a whole object and, for a multipart upload, each part's byte range
    and SHA-256 (``parts`` empty: a single PUT)."""

    digest: bytes
    parts: tuple[tuple[int, int, bytes], ...] = ()


def plan_upload(source: ObjectSource, threshold: int, part_size: int) -> UploadPlan:
    """Hash ``source`` in one streaming pass: the whole object, and each part when the
    object is at least ``threshold`` bytes."""
    if source.size < threshold:
        return UploadPlan(source.sha256())
    whole = hashlib.sha256()
    parts = []
    for a in range(0, source.size, part_size):
        b = min(a + part_size, source.size)
        part = hashlib.sha256()
        for piece in source.chunks(a, b):
            part.update(piece)
            whole.update(piece)
        parts.append((a, b, part.digest()))
    return UploadPlan(whole.digest(), tuple(parts))
