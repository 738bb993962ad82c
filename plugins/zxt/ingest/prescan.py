"""One pass over a landing file before it is loaded: its hash and the facts that pick the load path.

Reading the whole file once is needed anyway for the SHA-256 (archive key, skip-if-unchanged); the
same pass decides the encoding over the whole file (not a sample: one UTF-8 line deep inside a
GB18030 file must not load as mojibake) and spots what PostgreSQL's COPY would refuse or get wrong
(NUL bytes, a last line without its line ending).
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"
# A UTF-8 encoded CJK character (lead E3-E9, two continuation bytes). GB18030 text can contain the
# same bytes by chance, so a hit only sends the file down the careful path, which judges per row.
_UTF8_CJK = re.compile(rb"[\xe3-\xe9][\x80-\xbf][\x80-\xbf]")


@dataclass(frozen=True)
class FileFacts:
    sha256: str
    size: int
    bom: bool  # starts with a UTF-8 byte-order mark
    ascii: bool  # every byte < 0x80
    utf8: bool  # the whole file is valid UTF-8
    utf8_cjk: bool  # some bytes look like UTF-8 CJK (only meaningful when not utf8)
    nul: bool  # contains a NUL byte
    terminated: bool  # ends with a line ending (an empty file counts as not terminated)


def scan(path: Path) -> FileFacts:
    h = hashlib.sha256()
    dec = codecs.getincrementaldecoder("utf-8")()
    size, is_ascii, utf8, cjk, nul = 0, True, True, False, False
    first = b""
    last = b""
    tail = b""  # the last 2 bytes of the previous chunk, so a character split across chunks is seen
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            if not first:
                first = chunk[:3]
            h.update(chunk)
            size += len(chunk)
            last = chunk[-1:]
            nul = nul or b"\x00" in chunk
            if not chunk.isascii():
                is_ascii = False
                cjk = cjk or _UTF8_CJK.search(tail + chunk) is not None
                if utf8:
                    try:
                        dec.decode(chunk)
                    except UnicodeDecodeError:
                        utf8 = False
            tail = chunk[-2:]
    if utf8:
        try:
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    return FileFacts(
        sha256=h.hexdigest(),
        size=size,
        bom=first.startswith(BOM),
        ascii=is_ascii,
        utf8=utf8,
        utf8_cjk=cjk,
        nul=nul,
        terminated=last in (b"\n", b"\r"),
    )


@dataclass(frozen=True)
class EncodingDecision:
    encoding: str  # utf-8 | gb18030: how the file is decoded
    note: str  # why, for the log and ops.load_batches.encoding
    refuse: str | None = None  # a file-level reason to quarantine, e.g. UTF-8 under a GB18030 contract


def decide_encoding(declared: str, facts: FileFacts, file: str, dataset: str) -> EncodingDecision:
    """Declared encodings are enforced; ``auto`` detects. A BOM always means UTF-8."""
    if declared == "auto":
        if facts.bom:
            return EncodingDecision("utf-8", "utf-8 (detected: byte-order mark)")
        if facts.utf8:
            return EncodingDecision("utf-8", "utf-8 (detected: valid UTF-8 throughout)")
        return EncodingDecision("gb18030", "gb18030 (detected: not valid UTF-8)")
    if declared == "utf-8":
        return EncodingDecision("utf-8", "utf-8 (declared, with BOM)" if facts.bom else "utf-8 (declared)")
    # declared gb18030
    if facts.bom or (facts.utf8 and not facts.ascii):
        return EncodingDecision(
            "utf-8",
            "gb18030 (declared) but the file is UTF-8",
            refuse=f"{file}: file is UTF-8 but the contract of {dataset} says GB18030; re-export it as GB18030",
        )
    return EncodingDecision("gb18030", "gb18030 (declared)")
