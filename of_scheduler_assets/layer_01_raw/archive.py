"""The raw-file archive (10-ingestion §2.8): content-addressed, written before parsing, never rewritten.

`{root}/reports/{username_std or _unresolved}/{received_date}/{safe(message_id)}_{sha256[:12]}.{ext}` plus a `.json`
sidecar with the provenance. Writing identical bytes again is a no-op; replays read from here because links expire.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from of_scheduler_assets.identity import safe


class ArchiveError(OSError):
    pass


@dataclass(frozen=True)
class ArchivedFile:
    uri: str
    path: Path
    sha256: str
    size: int


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp_")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def archive_report(
    root: Path,
    *,
    username_std: str | None,
    received_at: datetime,
    message_id: str,
    data: bytes,
    ext: str,
    sidecar: dict,
) -> ArchivedFile:
    sha = hashlib.sha256(data).hexdigest()
    folder = root / "reports" / safe(username_std or "_unresolved") / received_at.strftime("%Y-%m-%d")
    path = folder / f"{safe(message_id)}_{sha[:12]}.{ext}"
    try:
        if not (path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == sha):
            _atomic_write(path, data)
        meta = {**sidecar, "message_id": message_id, "sha256": sha, "size": len(data), "detected_type": ext}
        encoded = json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str, indent=1).encode("utf-8")
        sidecar_path = path.with_suffix(path.suffix + ".json")
        if not (sidecar_path.exists() and sidecar_path.read_bytes() == encoded):
            _atomic_write(sidecar_path, encoded)
    except OSError as exc:
        raise ArchiveError(f"archive_failed: {exc}") from exc
    return ArchivedFile(uri=path.resolve().as_uri(), path=path, sha256=sha, size=len(data))


def read_archived(uri: str) -> bytes:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise ArchiveError(f"only file:// archives are readable locally, got {parsed.scheme}://")
    return Path(unquote(parsed.path)).read_bytes()
