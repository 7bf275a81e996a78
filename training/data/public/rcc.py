"""Qt binary resource bundles (.rcc), where gcompris-qt-data keeps its images."""
from __future__ import annotations

import struct
import zlib
from typing import Iterator

from .packages import DataError


def iter_rcc(data: bytes) -> Iterator[tuple]:
    """Yield (path, bytes) for every file in a Qt binary resource bundle.

    Format: "qres" magic, version, then offsets of the tree, data and name
    tables (Qt's rcc.cpp).  zlib-compressed entries are inflated; zstd ones
    (Qt 6 option) are skipped, as the standard library cannot read them.
    """
    if data[:4] != b"qres":
        raise DataError("not a Qt .rcc file")
    version, tree, payload, names = struct.unpack(">IIII", data[4:20])
    node_size = 22 if version >= 2 else 14

    def name_at(off: int) -> str:
        (length,) = struct.unpack(">H", data[names + off:names + off + 2])
        return data[names + off + 6:names + off + 6 + 2 * length].decode("utf-16-be")

    stack = [(0, "")]
    while stack:
        node, prefix = stack.pop()
        base = tree + node * node_size
        name_off, flags = struct.unpack(">IH", data[base:base + 6])
        name = name_at(name_off) if node else ""
        if flags & 2:                                   # directory
            count, first = struct.unpack(">II", data[base + 6:base + 14])
            stack.extend((c, prefix + name + "/") for c in range(first, first + count))
            continue
        (off,) = struct.unpack(">I", data[base + 10:base + 14])
        (length,) = struct.unpack(">I", data[payload + off:payload + off + 4])
        blob = data[payload + off + 4:payload + off + 4 + length]
        if flags & 4:                                   # zstd
            continue
        if flags & 1:                                   # qCompress: 4-byte size + zlib
            blob = zlib.decompress(blob[4:])
        yield prefix + name, blob
