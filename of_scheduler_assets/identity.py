"""Identity rules used everywhere (pure, no Dagster): caption identity (10-ingestion §7, D5), page-name
normalisation (§6.1), the archive path component rule (§2.8) and the hash helpers of 00-overview §6.

One implementation serves ingestion, the warehouse, the ranker and the sample generator, so a caption or a page
name can never be keyed two ways.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from typing import NamedTuple

# --- hashes (00-overview §6) -----------------------------------------------------------------------------------------


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_u64(text: str) -> int:
    """First 8 bytes of sha256(text) as an unsigned big-endian integer."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def hash_uniform(text: str) -> float:
    """hash_u64 / 2^64, in [0, 1): the only source of randomness in the product."""
    return hash_u64(text) / 2**64


# --- caption identity (§7) -------------------------------------------------------------------------------------------

TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(\s[^<>]*)?/?>")  # a well-formed tag; "<3" is not one
_WS_RE = re.compile(r"\s+", re.UNICODE)


def strip_tags(text: str) -> str:
    """Replace every well-formed tag with one space (``<3`` is not a tag)."""
    return TAG_RE.sub(" ", text)


def collapse_ws(text: str) -> str:
    """Every run of Unicode whitespace (newlines included) becomes one space; the ends are trimmed."""
    return _WS_RE.sub(" ", text).strip()


def caption_norm(text: str | None) -> str:
    """``casefold(collapse_ws(NFKC(strip_tags(html.unescape(text)))))`` on the text exactly as received."""
    return collapse_ws(unicodedata.normalize("NFKC", strip_tags(html.unescape(text or "")))).casefold()


_BR_RE = re.compile(r"</?br\s*/?>", re.IGNORECASE)
_NULL_CELLS = frozenset({"nan", "None", "NaN"})


def display_text(raw: str | None) -> str:
    """The caption's display text (10-ingestion §5, message rule): unescape, CRLF/CR -> LF, ``<br>`` -> LF, other
    tags removed, NBSP -> space, U+200B/U+FEFF removed (ZWJ and VS16 kept), trailing spaces of each line and the ends
    trimmed; line breaks are never collapsed. A whole-cell ``nan``/``None``/``NaN`` is empty."""
    if raw is None or raw.strip() in _NULL_CELLS:
        return ""
    s = html.unescape(raw).replace("\r\n", "\n").replace("\r", "\n")
    s = TAG_RE.sub(lambda m: "\n" if _BR_RE.fullmatch(m.group(0)) else "", s)
    s = s.replace("\u00a0", " ").replace("\u200b", "").replace("\ufeff", "")
    return "\n".join(line.rstrip() for line in s.split("\n")).strip()


def caption_hash_from_norm(norm: str) -> str:
    return sha256_hex(norm)


def caption_id_from_hash(caption_hash: str) -> str:
    return "CAP_" + caption_hash[:16]


def caption_hash(text: str | None) -> str:
    return caption_hash_from_norm(caption_norm(text))


def caption_id(text: str | None) -> str:
    return caption_id_from_hash(caption_hash(text))


def caption_id_from_norm(norm: str) -> str:
    return caption_id_from_hash(caption_hash_from_norm(norm))


# --- archive paths (§2.8) --------------------------------------------------------------------------------------------

_SAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


def safe(value: str) -> str:
    """A path component: every run of characters outside ``[A-Za-z0-9._-]`` becomes ``_``; never empty, ``.`` or
    ``..`` (which would name the folder itself or its parent)."""
    out = _SAFE_RE.sub("_", value or "")
    return out if out not in ("", ".", "..") else f"_{out}"


# --- page names (§6.1) -----------------------------------------------------------------------------------------------

_EXT_RE = re.compile(r"\.(xlsx|xls|csv|txt|pdf)$")
_POSSESSIVE_RE = re.compile(r"(\w)['’]s(?=[^0-9a-z]|$)")  # also before "_": luna's_paid_page
_TOKEN_SPLIT_RE = re.compile(r"[^0-9a-z]+")
_NOISE_TOKENS = frozenset({"page", "pages", "account", "model", "creator"})
_PAGE_TYPE_ORDER = ("vip", "paid", "free")


class PageName(NamedTuple):
    alias_key: str  # remaining tokens joined with "_", e.g. "luna_example"
    compact_key: str  # the same without "_", e.g. "lunaexample": the only key names are matched on
    page_type: str | None  # vip | paid | free from the name's own token, else None
    both_marker: bool  # "(Both Pages)": cannot be attributed to one page
    several_page_types: bool  # more than one page-type token: the first of vip, paid, free won (flag the row)


def normalise_page_name(name: str) -> PageName:
    """10-ingestion §6.1: NFKC, casefold, strip diacritics, drop extension and possessive, tokenise, classify."""
    s = unicodedata.normalize("NFKC", name).casefold()
    s = "".join(ch for ch in unicodedata.normalize("NFKD", s) if not unicodedata.combining(ch)).strip()
    s = _POSSESSIVE_RE.sub(r"\1", _EXT_RE.sub("", s))
    types: list[str] = []
    rest: list[str] = []
    both = False
    for token in _TOKEN_SPLIT_RE.split(s):
        if not token or token in _NOISE_TOKENS:
            continue
        if token in _PAGE_TYPE_ORDER:
            types.append(token)
        elif token == "both":
            both = True
        else:
            rest.append(token)
    page_type = next((t for t in _PAGE_TYPE_ORDER if t in types), None)
    alias_key = "_".join(rest)
    return PageName(alias_key, alias_key.replace("_", ""), page_type, both, len(set(types)) > 1)


def compact_key(name: str) -> str:
    return normalise_page_name(name).compact_key


def username_page(username_std: str, page_type: str) -> str:
    return f"{username_std}__{page_type}"
