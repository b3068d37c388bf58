"""Bad-input catalogue (10-ingestion §14) as injectable faults.

Each kind: (catalogue_no, scope, expected_outcome, expected_reason, needs) where ``needs`` says what the report must
offer (``rows`` >= 1 row, ``paid`` a paid row with views, ``free`` a free row, ``multi`` a creator with several pages).
Row faults mutate exactly one data row (``identical_row`` two) and record its 1-based row number (header excluded).
"""

from __future__ import annotations

KINDS: dict[str, tuple[int | None, str, str, str | None, str]] = {
    # email / file level
    "plain_text_only": (4, "email", "loaded", None, ""),
    "nested_multipart_deep": (4, "email", "loaded", None, ""),
    "undecodable_part": (4, "email", "loaded", None, ""),
    "no_download_link": (5, "email", "failed", "no_download_link", ""),
    "missing_file": (7, "email", "failed", "download_failed", ""),
    "html_error_page": (7, "file", "failed", "download_failed", ""),
    "html_as_xlsx": (8, "file", "failed", "not_a_spreadsheet", ""),
    "tiny_file": (8, "file", "failed", "file_too_small", ""),
    "zip_not_workbook": (8, "file", "failed", "not_a_spreadsheet", ""),
    "csv_instead_of_xlsx": (9, "file", "loaded", None, ""),
    "corrupt_workbook": (10, "report", "report_quarantined", "corrupt_workbook", ""),
    "extra_sheets": (11, "report", "loaded", "extra_sheets_ignored", ""),
    "empty_first_sheet": (11, "report", "report_quarantined", "empty_first_sheet_with_data_elsewhere", "rows"),
    "title_rows_above_header": (11, "report", "loaded", None, ""),
    "trailing_blank_rows": (11, "report", "loaded", None, ""),
    "summary_row": (11, "row", "quarantined", "summary_row", "rows"),
    "headers_only": (12, "report", "loaded_empty", None, ""),
    "header_variants": (13, "report", "loaded", None, ""),
    "missing_sent_column": (14, "report", "report_quarantined", "missing_required_column", ""),
    "duplicate_price_column": (14, "report", "report_quarantined", "duplicate_required_column", ""),
    "page_name_absent": (15, "email", "report_quarantined", "page_name_not_found", ""),
    "both_pages_name": (17, "email", "report_quarantined", "ambiguous_page", "multi"),
    "bare_creator_name": (17, "email", "report_quarantined", "ambiguous_page", "multi"),
    "unknown_page_name": (18, "email", "loaded", "auto_registered", ""),
    "time_extra_spaces": (19, "row", "staged", None, "rows"),
    "time_excel_serial": (19, "row", "staged", None, "rows"),
    "time_garbage": (20, "row", "quarantined", "unparsable_timestamp", "rows"),
    "time_nan": (20, "row", "quarantined", "unparsable_timestamp", "rows"),
    "time_year_2012": (20, "row", "quarantined", "implausible_timestamp", "rows"),
    "time_future": (20, "row", "quarantined", "future_timestamp", "rows"),
    "time_dst_gap": (21, "row", "staged_with_flag", "dst_gap_shifted", "rows"),
    "price_negative_parens": (22, "row", "quarantined", "negative_amount", "paid"),
    "price_implausible": (22, "row", "quarantined", "implausible_price", "paid"),
    "price_unparsable": (22, "row", "quarantined", "unparsable_price", "paid"),
    "earnings_blank": (23, "row", "staged_with_flag", "earnings_imputed", "rows"),
    "viewed_blank": (24, "row", "staged_with_flag", "missing_count", "rows"),
    "count_negative": (24, "row", "quarantined", "negative_count", "rows"),
    "count_non_integer": (24, "row", "quarantined", "non_integer_count", "rows"),
    "sent_blank": (24, "row", "quarantined", "missing_sent", "rows"),
    "view_gt_sent": (25, "row", "staged_with_flag", "view_gt_sent", "rows"),
    "purchase_gt_view": (25, "row", "staged_with_flag", "purchase_gt_view", "paid"),
    "earnings_mismatch": (25, "row", "staged_with_flag", "earnings_mismatch", "paid"),
    "free_with_purchases": (25, "row", "staged_with_flag", "free_with_purchases", "free"),
    "earnings_gt_max": (25, "row", "staged_with_flag", "earnings_gt_max", "paid"),
    "zero_sent_with_activity": (25, "row", "staged_with_flag", "zero_sent_with_activity", "rows"),
    "unsent_without_withdrawer": (26, "row", "staged_with_flag", "unsent_without_withdrawer", "unsent"),
    "unknown_status": (26, "row", "staged_with_flag", "unknown_status", "rows"),
    "message_br_tags": (27, "row", "staged", None, "multiline"),
    "message_zero_width": (27, "row", "staged", None, "rows"),
    "message_crlf": (27, "row", "staged", None, "multiline"),
    "empty_free_message": (28, "row", "quarantined", "empty_free_message", "free"),
    "identical_row": (25, "row", "staged_with_flag", "identical_row_in_report", "rows"),
    "creator_column_mismatch": (13, "row", "staged_with_flag", "creator_column_mismatch", "rows"),
    "duplicate_report_same_day": (30, "email", "loaded", None, ""),
    "duplicate_message_id": (2, "email", "skipped", None, ""),
    "wrong_sender": (None, "email", "ignored", None, ""),
    "replacement_char_in_message": (31, "row", "staged", None, "rows"),
}
# extra anomaly flags a row fault also triggers (besides expected_reason)
EXTRA_FLAGS = {
    "earnings_gt_max": ["earnings_mismatch"],
    "zero_sent_with_activity": ["view_gt_sent"],
    "time_extra_spaces": [],
    "earnings_mismatch": [],
}

NOT_INJECTABLE = {
    1: "no matching email: a property of an empty mailbox, not of a file",
    3: "failure over several runs: needs run state (the single-run form is #7 missing_file)",
    6: "redirects / landing pages / JSON responses need a live HTTP server",
    9: "legacy .xls needs an OLE writer (xlwt-like), not available; the CSV variant is injected",
    39: "volume and pagination: use a larger --scale",
}


def kind_list() -> list[str]:
    return list(KINDS)
