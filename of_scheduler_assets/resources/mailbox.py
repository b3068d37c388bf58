"""The mailbox (10-ingestion §2.1-§2.2): one interface, two adapters, one Dagster resource.

* `LocalFolderMailbox`: a folder of RFC 822 `.eml` files, searched recursively (the local default).
* `GmailMailbox`: the Gmail API (read-only scope) through google-api-python-client with its bundled (offline)
  discovery document. Credentials come from environment variables only and are never logged.

Both list message ids oldest first, applying the already-processed filter while paginating so old mail can never
starve new mail, and both return `ParsedEmail` from `fetch`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http.client
import json
import logging
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import dagster as dg
from pydantic import Field

from of_scheduler_assets import settings
from of_scheduler_assets.layer_01_raw.download import MAX_ATTEMPTS, RetryableError, call_with_retries
from of_scheduler_assets.layer_01_raw.email_parsing import (
    DEFAULT_SENDER,
    DEFAULT_SUBJECT_PHRASE,
    ParsedEmail,
    _address,
    _decode_header,
    _parse_date,
    _strip_brackets,
    parse_eml,
    parse_gmail_message,
)

log = logging.getLogger(__name__)

GMAIL_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
DEFAULT_QUERY = (
    'from:no-reply@infloww.com subject:"OF mass message history report is ready for download" newer_than:7d'
)
ENV_CREDENTIALS = "OF_SCHEDULER_GMAIL_CREDENTIALS"  # base64 service-account JSON (domain-wide delegation)
ENV_TOKEN = "OF_SCHEDULER_GMAIL_TOKEN"  # base64 authorized-user token JSON
GMAIL_PREFIX = "gmail:"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class MailboxError(RuntimeError):
    pass


def backfill_query_for(query: str) -> str:
    """§2.2: the windowed query without any `newer_than:` token."""
    return re.sub(r"\s*newer_than:\w+", "", query).strip()


@dataclass(frozen=True)
class MailRef:
    id: str
    received_at: datetime | None
    thread_id: str | None = None
    path: Path | None = None  # local adapter only


@runtime_checkable
class Mailbox(Protocol):
    def list_new(
        self, already_processed: Callable[[str], bool], max_messages: int, backfill: bool = False
    ) -> list[MailRef]: ...

    def fetch(self, ref: MailRef) -> ParsedEmail: ...


def _oldest_first(refs: list[MailRef]) -> list[MailRef]:
    floor = datetime.min.replace(tzinfo=UTC)
    return sorted(refs, key=lambda r: (r.received_at or floor, r.id))


# ----------------------------------------------------------------------------------------------------------------
# local folder


class LocalFolderMailbox:
    """`*.eml` files under `root` (recursive). The sender/subject filter applies; the date bound does not."""

    def __init__(
        self, root: str | Path, sender: str = DEFAULT_SENDER, subject_phrase: str = DEFAULT_SUBJECT_PHRASE
    ) -> None:
        self.root = Path(root).expanduser()
        self.sender = sender
        self.subject_phrase = subject_phrase

    def _scan(self) -> list[MailRef]:
        if not self.root.is_dir():
            return []
        refs: dict[str, MailRef] = {}
        phrase = " ".join(self.subject_phrase.split()).lower()
        for path in sorted(self.root.rglob("*.eml")):
            if not path.is_file():
                continue
            try:
                data = path.read_bytes()
            except OSError as exc:
                log.warning("cannot read %s: %s", path, type(exc).__name__)
                continue
            headers = BytesHeaderParser(policy=compat32).parsebytes(data)
            if _address(headers.get("From")) != self.sender.strip().lower():
                continue
            if phrase not in " ".join(_decode_header(headers.get("Subject")).split()).lower():
                continue
            mid = _strip_brackets(_decode_header(headers.get("Message-ID"))) or hashlib.sha256(data).hexdigest()
            received = _parse_date(headers.get("Date")) or datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
            ref = MailRef(id=mid, received_at=received, path=path)
            prev = refs.get(mid)
            if prev is None or (ref.received_at, str(ref.path)) < (prev.received_at, str(prev.path)):
                refs[mid] = ref  # the same message saved twice: one id, the earliest copy
        return _oldest_first(list(refs.values()))

    def list_new(
        self, already_processed: Callable[[str], bool], max_messages: int, backfill: bool = False
    ) -> list[MailRef]:
        out: list[MailRef] = []
        for ref in self._scan():
            if len(out) >= max_messages:
                break
            if not already_processed(ref.id):
                out.append(ref)
        return out

    def fetch(self, ref: MailRef) -> ParsedEmail:
        path = ref.path
        if path is None:
            path = next((r.path for r in self._scan() if r.id == ref.id), None)
            if path is None:
                raise MailboxError(f"message {ref.id!r} is not in {self.root}")
        mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        return parse_eml(path.read_bytes(), fallback_received_at=mtime)


# ----------------------------------------------------------------------------------------------------------------
# Gmail


def _gmail_retryable(exc: BaseException) -> bool:
    from googleapiclient.errors import HttpError

    if isinstance(exc, RetryableError):
        return True
    if isinstance(exc, HttpError):
        return getattr(exc.resp, "status", None) in RETRYABLE_STATUS
    import httplib2  # google-api-python-client's transport

    if isinstance(exc, httplib2.HttpLib2Error):
        return True
    return isinstance(exc, ConnectionError | TimeoutError | socket.timeout | http.client.HTTPException)


class GmailMailbox:
    """Gmail API adapter (read-only). `credentials` is a google-auth credentials object."""

    def __init__(
        self,
        user: str,
        credentials: Any,
        query: str = DEFAULT_QUERY,
        backfill_query: str | None = None,
        page_size: int = 100,
        api_endpoint: str | None = None,
        *,
        sleep: Callable[[float], Any] = time.sleep,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        from googleapiclient.discovery import build

        self.user = user
        self.query = query
        self.backfill_query = backfill_query if backfill_query is not None else backfill_query_for(query)
        self.page_size = max(1, min(int(page_size), 500))
        self.sleep = sleep
        self.max_attempts = max_attempts
        self.api_calls = 0
        client_options = {"api_endpoint": api_endpoint} if api_endpoint else None
        self._service = build(
            "gmail",
            "v1",
            credentials=credentials,
            static_discovery=True,
            cache_discovery=False,
            client_options=client_options,
        )

    def _execute(self, request: Any, what: str) -> dict:
        def run() -> dict:
            self.api_calls += 1
            return request.execute(num_retries=0)

        result, _ = call_with_retries(
            run, is_retryable=_gmail_retryable, sleep=self.sleep, max_attempts=self.max_attempts, what=what
        )
        return result

    def _get(self, message_id: str, fmt: str) -> dict:
        request = self._service.users().messages().get(userId=self.user, id=message_id, format=fmt)
        return self._execute(request, f"gmail messages.get({fmt})")

    def list_new(
        self, already_processed: Callable[[str], bool], max_messages: int, backfill: bool = False
    ) -> list[MailRef]:
        query = self.backfill_query if backfill else self.query
        messages = self._service.users().messages()
        collected: list[tuple[str, str | None]] = []
        seen: set[str] = set()
        page_token: str | None = None
        pages = 0
        while len(collected) < max_messages:
            kwargs: dict[str, Any] = {"userId": self.user, "q": query, "maxResults": self.page_size}
            if page_token:
                kwargs["pageToken"] = page_token
            page = self._execute(messages.list(**kwargs), "gmail messages.list")
            pages += 1
            for item in page.get("messages") or []:
                mid = item.get("id")
                if not mid or mid in seen:
                    continue
                seen.add(mid)
                if already_processed(mid):
                    continue
                collected.append((mid, item.get("threadId")))
                if len(collected) >= max_messages:
                    break
            page_token = page.get("nextPageToken")
            if not page_token:
                break
        log.info("gmail: %d new message ids over %d page(s)", len(collected), pages)
        refs = []
        for mid, thread_id in collected:
            meta = self._get(mid, "minimal")
            received = None
            if meta.get("internalDate") not in (None, ""):
                received = datetime.fromtimestamp(int(meta["internalDate"]) / 1000.0, tz=UTC)
            refs.append(MailRef(id=mid, received_at=received, thread_id=meta.get("threadId") or thread_id))
        return _oldest_first(refs)

    def fetch(self, ref: MailRef) -> ParsedEmail:
        api_json = self._get(ref.id, "full")
        attachments = self._service.users().messages().attachments()

        def fetch_attachment(attachment_id: str) -> bytes:
            from of_scheduler_assets.layer_01_raw.email_parsing import b64url_decode

            request = attachments.get(userId=self.user, messageId=ref.id, id=attachment_id)
            body = self._execute(request, "gmail attachments.get")
            return b64url_decode(body.get("data") or "")

        return parse_gmail_message(api_json, fetch_attachment)


# ----------------------------------------------------------------------------------------------------------------
# credentials


def _decode_env_json(name: str, value: str) -> dict:
    try:
        raw = base64.b64decode(value.strip() + "=" * (-len(value.strip()) % 4), validate=False)
        info = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        # never echo the value
        raise MailboxError(f"{name} is not base64-encoded JSON") from None
    if not isinstance(info, dict):
        raise MailboxError(f"{name} does not hold a JSON object")
    return info


def gmail_credentials(address: str, credentials_b64: str | None = None, token_b64: str | None = None) -> Any:
    """google-auth credentials for `address`: a service account with domain-wide delegation (subject = the mailbox)
    from `OF_SCHEDULER_GMAIL_CREDENTIALS`, else an authorized-user token from `OF_SCHEDULER_GMAIL_TOKEN`."""
    creds_value = credentials_b64 if credentials_b64 else settings._env(ENV_CREDENTIALS)
    token_value = token_b64 if token_b64 else settings._env(ENV_TOKEN)
    if creds_value:
        from google.oauth2 import service_account

        info = _decode_env_json(ENV_CREDENTIALS, creds_value)
        try:
            return service_account.Credentials.from_service_account_info(
                info, scopes=[GMAIL_SCOPE], subject=address
            )
        except (ValueError, KeyError) as exc:
            raise MailboxError(f"{ENV_CREDENTIALS} is not a service-account key ({type(exc).__name__})") from None
    if token_value:
        from google.oauth2.credentials import Credentials

        info = _decode_env_json(ENV_TOKEN, token_value)
        try:
            return Credentials.from_authorized_user_info(info, scopes=[GMAIL_SCOPE])
        except (ValueError, KeyError) as exc:
            raise MailboxError(f"{ENV_TOKEN} is not an authorized-user token ({type(exc).__name__})") from None
    raise MailboxError(f"gmail mailbox {address!r} needs {ENV_CREDENTIALS} or {ENV_TOKEN} in the environment")


# ----------------------------------------------------------------------------------------------------------------
# Dagster resource


class MailboxResource(dg.ConfigurableResource):
    """Where report emails come from: a folder path (local) or `gmail:<address>`.

    Credentials are read from `gmail_credentials_b64` / `gmail_token_b64` when set (pass `dg.EnvVar(...)`), else from
    the environment variables `OF_SCHEDULER_GMAIL_CREDENTIALS` / `OF_SCHEDULER_GMAIL_TOKEN`.
    `gmail_api_endpoint` points the client at a stand-in server (tests only)."""

    mailbox: str = Field(default_factory=settings.mailbox)
    gmail_query: str = DEFAULT_QUERY
    gmail_backfill_query: str | None = None
    gmail_list_page_size: int = 100
    gmail_api_endpoint: str | None = None
    gmail_credentials_b64: str | None = None
    gmail_token_b64: str | None = None
    sender: str = DEFAULT_SENDER
    subject_phrase: str = DEFAULT_SUBJECT_PHRASE

    @property
    def is_gmail(self) -> bool:
        return self.mailbox.strip().lower().startswith(GMAIL_PREFIX)

    def open(
        self,
        *,
        query: str | None = None,
        backfill_query: str | None = None,
        page_size: int | None = None,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> Mailbox:
        """The adapter; `query` / `page_size` override the resource fields (e.g. with `ops_config.gmail`)."""
        if self.is_gmail:
            address = self.mailbox.strip()[len(GMAIL_PREFIX):].strip()
            if not address:
                raise MailboxError("gmail mailbox without an address (expected gmail:<address>)")
            credentials = gmail_credentials(address, self.gmail_credentials_b64, self.gmail_token_b64)
            q = query or self.gmail_query
            return GmailMailbox(
                user=address,
                credentials=credentials,
                query=q,
                backfill_query=backfill_query or self.gmail_backfill_query or backfill_query_for(q),
                page_size=page_size or self.gmail_list_page_size,
                api_endpoint=self.gmail_api_endpoint,
                sleep=sleep,
            )
        return LocalFolderMailbox(self.mailbox, sender=self.sender, subject_phrase=self.subject_phrase)


def mailbox_resource_from_env() -> MailboxResource:
    """The resource wired to the environment: `OF_SCHEDULER_MAILBOX` and the credential variables as `dg.EnvVar`s
    (so the Dagster UI shows the variable names, never the values)."""
    kwargs: dict[str, Any] = {"mailbox": settings.mailbox()}
    if settings._env(ENV_CREDENTIALS):
        kwargs["gmail_credentials_b64"] = dg.EnvVar(ENV_CREDENTIALS)
    if settings._env(ENV_TOKEN):
        kwargs["gmail_token_b64"] = dg.EnvVar(ENV_TOKEN)
    return MailboxResource(**kwargs)


__all__ = [
    "DEFAULT_QUERY",
    "ENV_CREDENTIALS",
    "ENV_TOKEN",
    "GMAIL_SCOPE",
    "GmailMailbox",
    "LocalFolderMailbox",
    "MailRef",
    "Mailbox",
    "MailboxError",
    "MailboxResource",
    "backfill_query_for",
    "gmail_credentials",
    "mailbox_resource_from_env",
]
