"""The warehouse model end to end on a generated world: the real asset graph in one run over every partition, the
generator's ground truth as the oracle (issue "Warehouse model", acceptance points 1, 2 and 4)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from of_scheduler_assets_tests.support.world import (
    APPEND_ONLY_LOGS,
    RUN_IDENTITY_COLUMNS,
    all_tables,
    generate_world,
    materialize_all,
    table,
)

pytestmark = pytest.mark.slow

MODEL_SCHEMAS = ("layer_03_foundation", "layer_04_semantic")
MODEL_TABLES = [
    "layer_03_foundation.dim_page", "layer_03_foundation.dim_creator", "layer_03_foundation.dim_scheduler",
    "layer_03_foundation.dim_caption", "layer_03_foundation.fact_message_send",
    "layer_03_foundation.caption_bank_last_use",
    "layer_04_semantic.caption_performance_daily", "layer_04_semantic.page_performance_daily",
    "layer_04_semantic.page_health_7d", "layer_04_semantic.tier_thresholds", "layer_04_semantic.page_tier_assignment",
    "layer_04_semantic.page_state_daily", "layer_04_semantic.page_dow_hod_profile",
    "layer_04_semantic.page_price_profile", "layer_04_semantic.page_price_points",
    "layer_04_semantic.page_volume_profile", "layer_04_semantic.learning_signals_28d",
    "ops.onboarding_queue", "ops_audit.onboarding_changelog", "ops_audit.tos_audit",
    "layer_05_ml.page_priors", "layer_05_ml.caption_priors", "layer_05_ml.feature_store", "layer_05_ml.ranker_backtest",
    "layer_06_rankings.slot_grid_next24", "layer_06_rankings.caption_rank_next24",
    "ops_audit.recommendation_log", "ops_audit.config_assignment_log",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, object]:
    home = generate_world(tmp_path_factory.mktemp("model"), scale=0.03, days=35, seed=5)
    result = materialize_all(home)
    return home, result


def test_whole_model_materializes_with_every_check_passing(world):
    home, result = world
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    failed = [e.asset_check_key.to_user_string() for e in evaluations if not e.passed]
    assert failed == []
    checked = {e.asset_check_key.asset_key.to_user_string() for e in evaluations}
    tables = all_tables(home)
    for name in MODEL_TABLES:
        assert tables[name].height > 0, name
        schema, table_name = name.split(".")
        if schema in MODEL_SCHEMAS:  # every model table is validated by at least its contract
            assert f"{schema}/{table_name}" in checked, name
    # the fact's own checks ran: key, foreign keys, SCD2 join, identities, timestamps, stale partitions
    fact_checks = {e.asset_check_key.name for e in evaluations
                   if e.asset_check_key.asset_key.path[-1] == "fact_message_send"}
    assert {"message_send_key_unique", "username_page_in_dim_page", "caption_version_valid_at_send",
            "metric_identities", "no_future_timestamps", "partitions_current",
            "fact_message_send_contract"} <= fact_checks


def test_fact_holds_every_reported_send_of_the_truth_once(world):
    home, _ = world
    truth = pl.read_parquet(home / "truth" / "events.parquet").filter(pl.col("in_reports"))
    fact = table(home, "layer_03_foundation", "fact_message_send")
    assert fact.height == truth.height
    assert fact["message_send_key"].n_unique() == fact.height
    per_page = fact.group_by("username_page").agg(pl.col("sent").sum()).sort("username_page")
    expected = truth.group_by("username_page").agg(sent=pl.col("recipients").sum()).sort("username_page")
    assert_frame_equal(per_page, expected, check_dtypes=False)
    # the partition column is the UTC date of the send
    assert (fact["send_date"] == fact["sending_ts_utc"].dt.date()).all()
    # every caption of the library joins; the dimension keys every page of the facts
    pages = table(home, "layer_03_foundation", "dim_page")
    assert set(fact["username_page"]) <= set(pages["username_page"])
    assert set(pages["username_page"]) == set(pl.read_parquet(home / "truth" / "pages.parquet")["username_page"])


def test_library_tos_verdicts_match_the_truth_and_flagged_captions_are_never_active(world):
    home, _ = world
    dim = table(home, "layer_03_foundation", "dim_caption").filter(pl.col("is_current"))
    truth = pl.read_parquet(home / "truth" / "captions.parquet").select("caption_id", truth_tos="tos_status")
    joined = dim.join(truth, on="caption_id", how="inner")
    assert joined.height > 0
    assert ((joined["tos_status"] == "flagged") == (joined["truth_tos"] == "flagged")).all()  # truth says ok/flagged
    flagged = dim.filter(pl.col("tos_status") == "flagged")
    assert flagged.height > 0 and not flagged["is_active"].any()
    audit = table(home, "ops_audit", "tos_audit")
    assert set(flagged["caption_id"]) <= set(audit["caption_id"])  # every flagged caption is audited with its rules
    assert (audit["violation_rule_ids"].str.len_chars() > 0).all()


def test_feature_store_covers_every_candidate_of_every_active_page_including_never_sent(world):
    home, _ = world
    store = table(home, "layer_05_ml", "feature_store")
    pages = table(home, "layer_03_foundation", "dim_page").filter(pl.col("is_active"))
    assert store["computed_date"].n_unique() == 1  # the decision layers are built for the evaluation date only
    assert set(store["username_page"]) == set(pages["username_page"])
    assert store.select("username_page", "caption_id").is_duplicated().sum() == 0
    sent = table(home, "layer_03_foundation", "fact_message_send").select("caption_id").unique()
    never_sent = store.join(sent, on="caption_id", how="anti")
    assert never_sent.height > 0 and never_sent["is_cold_start"].all()  # cold start: in the store with priors
    assert never_sent["p_buy_smoothed"].null_count() == 0
    flagged = table(home, "layer_03_foundation", "dim_caption").filter(pl.col("tos_status") == "flagged")
    assert store.join(flagged.select("caption_id"), on="caption_id", how="semi").height == 0


def test_feature_store_takes_the_bank_last_use_where_the_reports_have_none(world):
    home, _ = world
    bank = table(home, "layer_03_foundation", "caption_bank_last_use")
    assert bank.height > 0  # the logger's last-use pages resolve (aliases, 'both' names) onto the world's pages
    assert set(bank["username_page"]) <= set(table(home, "layer_03_foundation", "dim_page")["username_page"])
    store = table(home, "layer_05_ml", "feature_store").select(
        "username_page", "caption_id", "last_used_ts_page", "send_events_all_pages_365d", "computed_at")
    key = ["username_page", "caption_id"]
    sent = table(home, "layer_03_foundation", "fact_message_send").group_by(key).agg(
        report_last=pl.col("sending_ts_utc").max())
    banked = store.join(bank, on=key, how="inner")
    assert banked.height > 0
    fallback = banked.join(sent, on=key, how="anti")
    ts, now = pl.col("bank_last_used_ts_utc"), pl.col("computed_at")
    usable = (ts <= now) & (ts > now - pl.duration(days=365))
    # no report send of the caption on the page: the bank's last use, when it lies in the window before the run
    assert fallback.filter(usable).height > 0
    assert (fallback.filter(usable)["last_used_ts_page"] == fallback.filter(usable)["bank_last_used_ts_utc"]).all()
    assert fallback.filter(~usable)["last_used_ts_page"].null_count() == fallback.filter(~usable).height
    # a report send on the page: the report's last use, whatever the bank says
    reported = banked.join(sent, on=key, how="inner")
    assert reported.height > 0 and (reported["last_used_ts_page"] == reported["report_last"]).all()


def test_rankings_cover_24_slots_per_active_page_and_obey_the_hard_rules(world):
    home, _ = world
    rank = table(home, "layer_06_rankings", "caption_rank_next24")
    active = table(home, "layer_03_foundation", "dim_page").filter(pl.col("is_active"))
    per_page = rank.group_by("username_page").agg(pl.col("slot_ts_utc").n_unique().alias("hours"))
    assert set(per_page["username_page"]) == set(active["username_page"]) and (per_page["hours"] == 24).all()
    per_slot = rank.group_by("username_page", "slot_ts_utc", "slot_type").agg(
        pl.col("rank").sort().alias("ranks"), pl.col("caption_id").n_unique().alias("captions"), pl.len())
    assert (per_slot["len"] <= 10).all() and (per_slot["captions"] == per_slot["len"]).all()
    assert per_slot["ranks"].list.first().eq(1).all()
    primaries = rank.filter(pl.col("rank") == 1)
    assert primaries["selection_probability"].is_between(0, 1).all()
    assert primaries.group_by("username_page", "slot_date_local", "caption_id").len()["len"].max() == 1
    flagged = table(home, "layer_03_foundation", "dim_caption").filter(pl.col("tos_status") == "flagged")
    assert rank.join(flagged.select("caption_id"), on="caption_id", how="semi").height == 0
    # the logs append what was emitted, with the config that made it
    log = table(home, "ops_audit", "recommendation_log")
    assert log.height == rank.height and set(log["config_version"]) == set(rank["config_version"])


def test_semantic_aggregates_are_ratios_of_sums_of_the_fact(world):
    home, _ = world
    fact = table(home, "layer_03_foundation", "fact_message_send").filter(pl.col("is_model_eligible"))
    daily = table(home, "layer_04_semantic", "page_performance_daily")
    by_hand = fact.group_by(metric_date="send_date_local", username_page="username_page").agg(
        rev=pl.col("earnings_gross_usd").cast(pl.Float64).sum(), sent=pl.col("sent").sum())
    joined = daily.join(by_hand, on=["metric_date", "username_page"], how="inner")
    assert joined.height == daily.height
    assert ((joined["rps_gross"] - joined["rev"] / joined["sent"]).abs() < 1e-9).all()
    # the onboarding queue holds every page once, and a page with months of history is not "new"
    queue = table(home, "ops", "onboarding_queue")
    assert sorted(queue["username_page"]) == sorted(table(home, "layer_03_foundation", "dim_page")["username_page"])


def test_rerun_changes_nothing_and_an_edited_caption_opens_a_version(world, tmp_path):
    home = tmp_path / "copy"
    shutil.copytree(world[0], home)
    # dim_page follows the semantic layer in the same run: it carries today's evaluated tiers
    pages = table(home, "layer_03_foundation", "dim_page")
    tiers = table(home, "layer_04_semantic", "page_tier_assignment")
    latest = tiers.filter(pl.col("computed_date") == tiers["computed_date"].max())
    joined = pages.join(latest.select("username_page", assigned="tier"), on="username_page", how="inner")
    assert joined.height > 0 and (joined["tier"] == joined["assigned"]).all()
    before = all_tables(home)
    assert materialize_all(home).success
    after = all_tables(home)
    for name in MODEL_TABLES:
        if name in APPEND_ONLY_LOGS:  # a re-run appends its own run's rows, nothing else changes
            new_rows = after[name].join(before[name].select("run_id").unique(), on="run_id", how="anti")
            assert after[name].height == before[name].height + new_rows.height, name
            continue
        drop = [c for c in RUN_IDENTITY_COLUMNS if c in before[name].columns]  # the run's identity only
        assert_frame_equal(after[name].drop(drop), before[name].drop(drop), check_row_order=False), name

    # Re-export one bank sheet with a caption's text edited (same identity: only its case changes) and another
    # caption moved to a different type.
    bank = home / "inbox" / "caption_bank" / "bank_bump.csv"
    lines = bank.read_bytes().decode("utf-8-sig").split("\r\n")
    dim_before = table(home, "layer_03_foundation", "dim_caption")
    edited_line, moved_line = _editable_rows(lines, dim_before)
    lines[edited_line] = _with_field(lines[edited_line], 1, lambda text: text.upper())
    lines[moved_line] = _with_field(lines[moved_line], 2, lambda _type: "TIP")
    bank.write_bytes("\r\n".join(lines).encode("utf-8"))
    assert materialize_all(home).success

    dim = table(home, "layer_03_foundation", "dim_caption")
    fact = table(home, "layer_03_foundation", "fact_message_send")
    for line, attribute in ((edited_line, "caption_text"), (moved_line, "primary_category")):
        caption_id = _caption_of(lines[line], dim_before)
        versions = dim.filter(pl.col("caption_id") == caption_id).sort("valid_from")
        assert versions.height == 2, caption_id
        old, new = versions.row(0, named=True), versions.row(1, named=True)
        assert not old["is_current"] and new["is_current"] and old["valid_to"] == new["valid_from"]
        assert new["change_reason"] == "changed" and old[attribute] != new[attribute]
        assert old["caption_sk"] == dim_before.filter(pl.col("caption_id") == caption_id)["caption_sk"].item()
        # facts still join the version valid at send time (every send predates the edit)
        sends = fact.filter(pl.col("caption_id") == caption_id)
        assert (sends["caption_sk"] == old["caption_sk"]).all()
    assert dim.filter(pl.col("is_current"))["caption_id"].n_unique() == dim["caption_id"].n_unique()


def _fields(line: str) -> list[str]:
    import csv

    return next(csv.reader([line]))


def _with_field(line: str, index: int, change) -> str:
    import csv
    import io

    fields = _fields(line)
    fields[index] = change(fields[index])
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


def _caption_of(line: str, dim: pl.DataFrame) -> str:
    bank_id = _fields(line)[0]
    return dim.filter(pl.col("bank_ids").list.contains(bank_id))["caption_id"].unique().item()


def _editable_rows(lines: list[str], dim: pl.DataFrame) -> tuple[int, int]:
    """Two data rows of distinct, clean, bump-only captions that some fact row uses."""
    picked: list[int] = []
    current = dim.filter(pl.col("is_current") & (pl.col("tos_status") == "clean") & (pl.col("source") == "both"))
    seen: set[str] = set()
    for i, line in enumerate(lines[1:], start=1):
        if not line.strip():
            continue
        bank_id = _fields(line)[0]
        hit = current.filter(pl.col("bank_ids").list.contains(bank_id) & (pl.col("bank_ids").list.len() == 1)
                             & (pl.col("categories") == ["bump"]))
        if hit.height == 1 and hit["caption_id"][0] not in seen:
            seen.add(hit["caption_id"][0])
            picked.append(i)
        if len(picked) == 2:
            return picked[0], picked[1]
    raise AssertionError("no editable bank rows in the world")


def test_fact_partitions_cover_the_clock():
    # a guard on the partition definition every daily table shares: it reaches today (UTC) and starts in the past
    from of_scheduler_assets.partitions import DAILY

    keys = DAILY.get_partition_keys()
    assert keys[-1] == dt.datetime.now(dt.UTC).date().isoformat()
    assert keys[0] <= "2025-01-01"
