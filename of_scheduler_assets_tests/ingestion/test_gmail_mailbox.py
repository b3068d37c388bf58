"""The Gmail adapter driven through the REAL google-api-python-client against a local stand-in server
(gmail_stub.py): pagination, the already-processed filter while paginating, oldest-first order, attachments,
retries, credentials from the environment (catalogue case 39 and §2.1-§2.2)."""

from __future__ import annotations

import base64
import json
import logging
import random
from datetime import UTC, datetime, timedelta

import pytest
from google.auth.credentials import AnonymousCredentials
from googleapiclient.errors import HttpError

from of_scheduler_assets.layer_01_raw.download import fetch_report
from of_scheduler_assets.layer_01_raw.email_parsing import extract_page_name, find_download, is_report_email
from of_scheduler_assets.resources.mailbox import (
    DEFAULT_QUERY,
    GMAIL_SCOPE,
    GmailMailbox,
    Mailbox,
    MailboxError,
    MailboxResource,
    backfill_query_for,
    gmail_credentials,
)
from of_scheduler_assets_tests.ingestion.gmail_stub import GmailStub, StubMessage, report_payload
from of_scheduler_assets_tests.ingestion.test_download import XLSX

USER = "reports@agency.example"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class SleepRecorder(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def add_messages(stub: GmailStub, n: int, *, shuffle: bool = False) -> list[str]:
    """n report messages m000.. one hour apart (m000 oldest); returns ids oldest first."""
    ids = [f"m{i:03d}" for i in range(n)]
    order = list(range(n))
    if shuffle:
        random.Random(7).shuffle(order)
    for i in order:
        when = T0 + timedelta(hours=i)
        stub.add(StubMessage(ids[i], ms(when), report_payload(f"Page {i} Paid", when=when)))
    return ids


@pytest.fixture
def stub():
    with GmailStub(USER) as s:
        yield s


def mailbox(stub: GmailStub, page_size: int = 3, sleeps=None, **kw) -> GmailMailbox:
    return GmailMailbox(USER, AnonymousCredentials(), page_size=page_size, api_endpoint=stub.endpoint,
                        sleep=sleeps if sleeps is not None else SleepRecorder(), **kw)


def test_pagination_across_three_pages_oldest_first(stub):
    ids = add_messages(stub, 8, shuffle=True)
    mb = mailbox(stub, page_size=3)
    assert isinstance(mb, Mailbox)
    refs = mb.list_new(lambda _i: False, max_messages=500)
    assert [r.id for r in refs] == ids  # oldest first, although Gmail lists newest first
    assert [r.received_at for r in refs] == [T0 + timedelta(hours=i) for i in range(8)]
    lists = stub.calls_of("list")
    assert [c.get("pageToken") for c in lists] == [None, "3", "6"]
    assert {c["maxResults"] for c in lists} == {"3"} and {c["q"] for c in lists} == {DEFAULT_QUERY}


def test_already_processed_filter_applies_while_paginating(stub):
    ids = add_messages(stub, 30)
    newest_loaded = set(ids[10:])  # 20 already-loaded ids fill the first 4 pages of 5 (newest first)
    checked: list[str] = []

    def processed(mid: str) -> bool:
        checked.append(mid)
        return mid in newest_loaded

    refs = mailbox(stub, page_size=5).list_new(processed, max_messages=4)
    # the new ids sit behind 20 old ones; a cap applied before the filter would return nothing
    assert [r.id for r in refs] == ["m006", "m007", "m008", "m009"]
    lists = stub.calls_of("list")
    assert [c.get("pageToken") for c in lists] == [None, "5", "10", "15", "20"]  # stops once 4 are collected
    assert "m005" not in checked  # nothing read beyond what was needed


def test_case39_next_run_continues_and_backfill_query(stub):
    ids = add_messages(stub, 12)
    mb = mailbox(stub, page_size=5)
    loaded: set[str] = set()
    runs = []
    while True:
        refs = mb.list_new(loaded.__contains__, max_messages=5)
        if not refs:
            break
        runs.append([r.id for r in refs])
        loaded.update(r.id for r in refs)
    assert sorted(loaded) == ids and [len(r) for r in runs] == [5, 5, 2]
    stub.calls.clear()
    mb.list_new(lambda _i: False, max_messages=1, backfill=True)
    q = stub.calls_of("list")[0]["q"]
    assert "newer_than" not in q and q == backfill_query_for(DEFAULT_QUERY)
    assert q == 'from:no-reply@infloww.com subject:"OF mass message history report is ready for download"'


def test_case1_zero_matches_is_an_empty_listing(stub):
    assert mailbox(stub).list_new(lambda _i: False, max_messages=500) == []
    assert len(stub.calls_of("list")) == 1


def test_fetch_message_with_xlsx_attachment(stub):
    xlsx_name = "Luna Example Paid.xlsx"
    stub.add(StubMessage("att1", ms(T0), report_payload("Luna Example Paid", xlsx=(xlsx_name, "ANGjdJ-aid", XLSX)),
                         attachments={"ANGjdJ-aid": XLSX}))
    mb = mailbox(stub)
    (ref,) = mb.list_new(lambda _i: False, max_messages=10)
    parsed = mb.fetch(ref)
    assert parsed.message_id == "att1" and parsed.received_at == T0
    assert is_report_email(parsed) and extract_page_name(parsed) == "Luna Example Paid"
    target = find_download(parsed, allow_file_urls=False)
    assert target.rule == "attachment" and target.attachment.name == xlsx_name
    result = fetch_report(target, allow_file_urls=False)
    assert result.ok and result.data == XLSX and result.detected_type == "xlsx"
    (att_call,) = stub.calls_of("attachment")
    assert att_call["_path"].endswith("/messages/att1/attachments/ANGjdJ-aid")
    assert [c["format"] for c in stub.calls_of("get")] == ["minimal", "full"]


def test_fetch_message_with_link(stub):
    stub.add(StubMessage("lnk", ms(T0), report_payload("Mia Demo (paid)", "https://media.infloww.com/abc.xlsx")))
    parsed = mailbox(stub).fetch(mailbox(stub).list_new(lambda _i: False, 1)[0])
    assert extract_page_name(parsed) == "Mia Demo (paid)"
    assert find_download(parsed, allow_file_urls=False).url == "https://media.infloww.com/abc.xlsx"
    assert stub.calls_of("attachment") == []


def test_503_on_the_first_list_call_is_retried(stub):
    ids = add_messages(stub, 7)
    stub.fail_next("list", 503)
    sleeps = SleepRecorder()
    refs = mailbox(stub, page_size=3, sleeps=sleeps).list_new(lambda _i: False, max_messages=100)
    assert [r.id for r in refs] == ids
    assert list(sleeps) == [1.0]
    assert [c.get("pageToken") for c in stub.calls_of("list")] == [None, None, "3", "6"]


def test_retry_policy_on_gets_and_give_up(stub):
    add_messages(stub, 1)
    stub.fail_next("get", 429, 500)
    sleeps = SleepRecorder()
    mb = mailbox(stub, sleeps=sleeps)
    (ref,) = mb.list_new(lambda _i: False, 10)
    assert list(sleeps) == [1.0, 2.0]
    stub.fail_next("get", 503, 503, 503, 503, 503)
    sleeps.clear()
    with pytest.raises(HttpError) as err:
        mb.fetch(ref)
    assert err.value.resp.status == 503 and list(sleeps) == [1.0, 2.0, 4.0, 8.0]


def test_other_4xx_is_not_retried(stub):
    sleeps = SleepRecorder()
    mb = mailbox(stub, sleeps=sleeps)
    stub.fail_next("list", 403)
    with pytest.raises(HttpError) as err:
        mb.list_new(lambda _i: False, 10)
    assert err.value.resp.status == 403 and sleeps == [] and len(stub.calls_of("list")) == 1


# ----------------------------------------------------------------------------------------------------------------
# resource + credentials from the environment


def _b64json(obj: dict) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


DUMMY_TOKEN = {
    "token": "dummy-access-token-XYZ",
    "refresh_token": "dummy-refresh-SECRET",
    "client_id": "dummy.apps.example",
    "client_secret": "dummy-client-SECRET",
    "token_uri": "http://127.0.0.1:9/token",  # never reached: the access token below is valid
    "expiry": (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
}


def test_resource_opens_gmail_with_token_from_env(stub, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OF_SCHEDULER_GMAIL_TOKEN", _b64json(DUMMY_TOKEN))
    monkeypatch.delenv("OF_SCHEDULER_GMAIL_CREDENTIALS", raising=False)
    add_messages(stub, 4)
    resource = MailboxResource(mailbox=f"gmail:{USER}", gmail_api_endpoint=stub.endpoint, gmail_list_page_size=2)
    mb = resource.open()
    assert isinstance(mb, GmailMailbox) and mb.page_size == 2 and mb.user == USER
    refs = mb.list_new(lambda _i: False, 10)
    assert [r.id for r in refs] == ["m000", "m001", "m002", "m003"]
    assert set(stub.auth_headers) == {"Bearer dummy-access-token-XYZ"}
    assert "SECRET" not in caplog.text and "dummy-access-token" not in caplog.text


def test_resource_prefers_explicit_fields_and_reports_missing_credentials(monkeypatch):
    monkeypatch.delenv("OF_SCHEDULER_GMAIL_TOKEN", raising=False)
    monkeypatch.delenv("OF_SCHEDULER_GMAIL_CREDENTIALS", raising=False)
    with pytest.raises(MailboxError) as err:
        MailboxResource(mailbox=f"gmail:{USER}", gmail_api_endpoint="http://127.0.0.1:9/").open()
    assert "OF_SCHEDULER_GMAIL_CREDENTIALS" in str(err.value) and "OF_SCHEDULER_GMAIL_TOKEN" in str(err.value)
    monkeypatch.setenv("OF_SCHEDULER_GMAIL_TOKEN", "bm90IGpzb24gU0VDUkVU")  # base64 of "not json SECRET"
    with pytest.raises(MailboxError) as err:
        MailboxResource(mailbox=f"gmail:{USER}").open()
    assert "SECRET" not in str(err.value) and "bm90" not in str(err.value)
    creds = gmail_credentials(USER, token_b64=_b64json(DUMMY_TOKEN))
    assert creds.token == "dummy-access-token-XYZ" and GMAIL_SCOPE in creds.scopes


def test_service_account_credentials_use_delegation_subject(monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": "p", "private_key_id": "k1", "private_key": pem,
            "client_email": "ingest@p.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": "http://127.0.0.1:9/token"}
    monkeypatch.setenv("OF_SCHEDULER_GMAIL_CREDENTIALS", _b64json(info))
    monkeypatch.setenv("OF_SCHEDULER_GMAIL_TOKEN", _b64json(DUMMY_TOKEN))  # the service account wins
    from google.oauth2 import service_account

    creds = gmail_credentials(USER)
    assert isinstance(creds, service_account.Credentials)
    assert creds._subject == USER and list(creds.scopes) == [GMAIL_SCOPE]
