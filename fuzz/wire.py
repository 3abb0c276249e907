"""The message format between the campaign and a plug-in's worker: framed JSON plus raw bytes.

The worker runs hostile code, so nothing it sends is unpickled: a frame is a fixed prefix
(magic, header length, body length), a JSON object, then the raw blobs the header lists.
The reader checks every length against a cap before it buffers anything.
"""

from __future__ import annotations

import json
import os
import struct

MAGIC = b"NSAf"
PREFIX = struct.Struct("<4sIQ")  # magic, header bytes, body bytes
HEADER_CAP = 64 << 20  # a run command carries its cases: 4 of three bs-16385 calls pass 2 MB
DEFAULT_CAP = 256 << 20  # a whole frame, header and blobs
ITEM_END = b"\x00\x1e<nsa-fuzz item end>\x1e\x00"  # in the captured output, after each item


class ProtocolError(Exception):
    """The bytes are not a frame: garbled, truncated where it matters, or inconsistent."""


class OversizeError(Exception):
    """A frame announces more bytes than the cap allows."""


class HeaderTooLarge(Exception):
    """We were about to send a header the reader would refuse: the suite's own limit, never
    a candidate's fault (the campaign turns it into exit 3, not a crash of the candidate)."""


def encode(header: dict, blobs: list[bytes | memoryview] = ()) -> list[bytes | memoryview]:
    """A frame as a list of buffers (written in order; the blobs are not copied)."""
    head = json.dumps({**header, "blobs": [len(b) for b in blobs]}).encode()
    if len(head) > HEADER_CAP:
        raise HeaderTooLarge(
            f"a {header.get('op', '?')!r} command of {len(head):,} bytes passes the wire's "
            f"header cap ({HEADER_CAP:,} bytes)"
        )
    body = sum(len(b) for b in blobs)
    return [PREFIX.pack(MAGIC, len(head), body), head, *blobs]


def write_frame(fd: int, header: dict, blobs: list[bytes | memoryview] = ()) -> None:
    """Write one frame to a blocking fd, whole (os.write may write part of a buffer)."""
    for part in encode(header, blobs):
        view = memoryview(part).cast("B")
        while view:
            view = view[os.write(fd, view) :]


class FrameReader:
    """Feed it bytes as they come; `next()` returns (header, blobs) once a frame is whole."""

    def __init__(self, cap: int = DEFAULT_CAP):
        self.cap = cap
        self.buf = bytearray()
        self._need: tuple[int, int] | None = None

    def feed(self, data: bytes) -> None:
        """Buffer `data`; a bad or oversized prefix raises at once, before more is read."""
        self.buf += data
        self._prefix()

    def _prefix(self) -> tuple[int, int] | None:
        if self._need is None and len(self.buf) >= PREFIX.size:
            magic, head, body = PREFIX.unpack_from(self.buf)
            if magic != MAGIC:
                raise ProtocolError(f"bad frame prefix {bytes(self.buf[: PREFIX.size])!r}")
            if head > HEADER_CAP or head + body > self.cap:
                raise OversizeError(f"a message of {head + body:,} bytes (cap {self.cap:,} bytes)")
            self._need = head, body
        return self._need

    def next(self) -> tuple[dict, list[bytes]] | None:
        if self._prefix() is None:
            return None
        head, body = self._need
        end = PREFIX.size + head + body
        if len(self.buf) < end:
            return None
        header = _header(bytes(self.buf[PREFIX.size : PREFIX.size + head]))
        lengths = header.get("blobs")
        if (
            not isinstance(lengths, list)
            or not all(type(n) is int and n >= 0 for n in lengths)
            or sum(lengths) != body
        ):
            raise ProtocolError(f"blob lengths {str(lengths)[:80]} do not add up to {body}")
        blobs, at = [], PREFIX.size + head
        for n in lengths:
            blobs.append(bytes(self.buf[at : at + n]))
            at += n
        del self.buf[:end]
        self._need = None
        return header, blobs


def _header(raw: bytes) -> dict:
    try:
        header = json.loads(raw.decode())
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise ProtocolError(f"frame header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError(f"frame header is a {type(header).__name__}, not an object")
    return header
