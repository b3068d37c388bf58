"""Pandera (polars) contracts run as Dagster asset checks.

dagster-pandera's type factory declares pandas types and breaks polars IO managers (stack notes), so every table's
pandera model runs inside an asset check instead: blocking by default, with a sample of failure cases in the metadata.
"""

from __future__ import annotations

import dagster as dg
import pandera.errors
import pandera.polars as pa
import polars as pl

FAILURE_SAMPLE_ROWS = 20


def validate_contract(model: type[pa.DataFrameModel], frame: pl.DataFrame) -> tuple[bool, dict]:
    """Validate eagerly and lazily (every check runs); return (passed, metadata) for an AssetCheckResult."""
    try:
        model.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        if not isinstance(cases, pl.DataFrame):  # pandera versions differ in the frame type they return
            cases = pl.from_pandas(cases)
        cases = cases.with_columns(pl.all().cast(pl.String))
        sample = cases.head(FAILURE_SAMPLE_ROWS)
        return False, {
            "rows": frame.height,
            "failure_count": cases.height,
            "failed_checks": sorted({str(c) for c in cases["check"].to_list()}),
            "failure_cases_sample": dg.MetadataValue.md(_markdown(sample)),
        }
    return True, {"rows": frame.height, "failure_count": 0}


def _markdown(frame: pl.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    body = "\n".join("| " + " | ".join((v or "").replace("|", "\\|")[:80] for v in row) + " |" for row in frame.iter_rows())
    return header + body


def contract_check(asset_key: dg.AssetKey, model: type[pa.DataFrameModel], *, blocking: bool = True) -> dg.AssetChecksDefinition:
    """A blocking asset check validating `asset_key`'s stored table against `model`."""

    @dg.asset_check(
        asset=asset_key,
        name=f"{asset_key.path[-1]}_contract",
        blocking=blocking,
        description=f"pandera contract {model.__name__}" + (" (blocking)" if blocking else ""),
    )
    def _check(frame: pl.DataFrame) -> dg.AssetCheckResult:
        passed, metadata = validate_contract(model, frame)
        return dg.AssetCheckResult(passed=passed, metadata=metadata, severity=dg.AssetCheckSeverity.ERROR)

    return _check


# --- checks evaluated inside the asset that writes the table ------------------------------------------------------
# Partitioned tables validate what the run writes (a separate check would reload every partition); the same pandera
# model and metadata shape as `contract_check`.


def contract_spec(asset_key: dg.AssetKey, model: type[pa.DataFrameModel], *, blocking: bool = True) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=f"{asset_key.path[-1]}_contract", asset=asset_key, blocking=blocking,
        description=f"pandera contract {model.__name__}" + (" (blocking)" if blocking else ""),
    )


def contract_result(asset_key: dg.AssetKey, model: type[pa.DataFrameModel], frame: pl.DataFrame) -> dg.AssetCheckResult:
    passed, metadata = validate_contract(model, frame)
    return dg.AssetCheckResult(
        asset_key=asset_key, check_name=f"{asset_key.path[-1]}_contract", passed=passed, metadata=metadata,
        severity=dg.AssetCheckSeverity.ERROR,
    )


def check_spec(asset_key: dg.AssetKey, name: str, description: str, *, blocking: bool = False) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name=name, asset=asset_key, blocking=blocking, description=description)


def check_result(asset_key: dg.AssetKey, name: str, outcome: tuple[bool, dict], *,
                 severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    """An AssetCheckResult from a pure check's ``(passed, metadata)``; list metadata becomes JSON."""
    passed, metadata = outcome
    clean = {k: (dg.MetadataValue.json(v) if isinstance(v, (list, dict)) else v) for k, v in metadata.items()}
    return dg.AssetCheckResult(asset_key=asset_key, check_name=name, passed=bool(passed), metadata=clean, severity=severity)
