"""Split a CSV file into records on the bytes, before decoding: the careful path's parser.

Lines end in LF, CRLF or CR alike (TextIOWrapper's universal newlines over latin-1, which maps
bytes 1:1). A record ends at a line ending outside quotes; under RFC 4180 quotes inside a cell are
doubled, so "outside quotes" is "an even number of quote characters so far". Neither GB18030 nor
UTF-8 uses the bytes of ``"``, ``,``, CR or LF inside a multi-byte character, so splitting before
decoding is safe, and each record can be decoded (and refused) on its own.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from zxt.ingest.refusal import FileRefused

# A quoted cell may span lines, but not without end: past this a quote is unbalanced, not data.
MAX_RECORD_BYTES = 16 << 20


@dataclass(frozen=True)
class Record:
    number: int  # 1 = the header; equals the line number unless a quoted cell spans lines
    raw: bytes  # without its line ending
    terminated: bool  # ended by a line ending (the last record of a cut-off file is not)


def records(path: Path, strict: bool = True) -> Iterator[Record]:
    """Every record of the file. ``strict``: a quote left open at the end of the file or a record
    over MAX_RECORD_BYTES refuses the file (it was cut off, or a quote is unbalanced); otherwise the
    rest of the file is yielded as one last record (to keep a refused file's rows in rejects)."""
    with path.open("rb") as binary:
        text = io.TextIOWrapper(binary, encoding="latin-1", newline="")
        number = 0
        parts: list[str] = []
        quotes = 0
        size = 0
        for line in text:
            parts.append(line)
            quotes += line.count('"')
            size += len(line)
            if quotes % 2 and size <= MAX_RECORD_BYTES:
                continue
            if quotes % 2 and strict:
                raise FileRefused(
                    "unbalanced_quote",
                    f"row {number + 1}: a quoted cell runs on for more than {MAX_RECORD_BYTES >> 20} MiB; "
                    "a quote is not closed",
                )
            number += 1
            whole = "".join(parts)
            body = whole.rstrip("\r\n")
            yield Record(number, body.encode("latin-1"), len(body) != len(whole))
            parts, quotes, size = [], 0, 0
        if parts:
            if quotes % 2 and strict:
                raise FileRefused(
                    "truncated",
                    f"row {number + 1}: the file ends inside a quoted cell; it looks cut off, re-send it",
                )
            number += 1
            yield Record(number, "".join(parts).encode("latin-1"), False)
