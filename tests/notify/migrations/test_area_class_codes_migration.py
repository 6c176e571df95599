"""Migration 0013: rows notify stored with the area-class label (中心区) hold the code
(central) afterwards, and a mobile kept with its +86 prefix becomes the bare 11 digits."""

from datetime import UTC, date, datetime

import sqlalchemy as sa

from shared.db import create_sync_engine, database_target
from shared.migrations import downgrade, upgrade
from shared.settings import Settings

AT = datetime(2025, 6, 1, 2, tzinfo=UTC)


def _fresh(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "db_schema_prefix": f"{settings.db_schema_prefix}codes_",
            "var_dir": settings.var_dir / "codes",
        }
    )


def _write_labelled_rows(conn: sa.Connection, tables: dict[str, sa.Table]) -> None:
    conn.execute(
        tables["subscribers"].insert(),
        [
            {
                "id": i,
                "account_number": f"A{i}",
                "name": "甲",
                "mobile": mobile,
                "feeder": "F1",
                "transformer_area": "T1",
                "area_class": label,
                "source": "api",
                "served_since": date(2024, 1, 1),
                "created_at": AT,
                "updated_at": AT,
            }
            for i, (label, mobile) in enumerate(
                [("中心区", "+8613800138000"), ("农村", "8613900001234"), ("城镇", "13700000000")],
                start=1,
            )
        ],
    )
    conn.execute(
        tables["outages"]
        .insert()
        .values(
            id=1,
            kind="planned",
            state="restored",
            cause="检修",
            planned_start=AT,
            etr=AT,
            late_notice=False,
            overlap_acknowledged=False,
            created_by="t",
            created_at=AT,
        )
    )
    conn.execute(
        tables["outage_impacts"].insert(),
        [{"outage_id": 1, "area_class": "市区", "customers": 3}],
    )
    conn.execute(
        tables["official_customer_counts"]
        .insert()
        .values(year=2024, area_class="中心区", customers=12, recorded_by="t", recorded_at=AT)
    )


def _read(conn: sa.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {
        "subscribers": conn.execute(
            sa.text("SELECT area_class, mobile FROM subscribers ORDER BY id")
        ).all(),
        "impacts": conn.execute(sa.text("SELECT area_class FROM outage_impacts")).all(),
        "counts": conn.execute(sa.text("SELECT area_class FROM official_customer_counts")).all(),
    }


def test_labels_become_codes_and_back(settings: Settings):
    fresh = _fresh(settings)
    upgrade("notify", fresh, "0012")
    engine = create_sync_engine(database_target(fresh, "notify"))
    try:
        with engine.begin() as conn:
            metadata = sa.MetaData()
            metadata.reflect(conn)
            _write_labelled_rows(conn, dict(metadata.tables))
        upgrade("notify", fresh, "0013")
        with engine.connect() as conn:
            assert _read(conn) == {
                "subscribers": [
                    ("central", "13800138000"),
                    ("rural", "13900001234"),
                    ("town", "13700000000"),
                ],
                "impacts": [("urban",)],
                "counts": [("central",)],
            }
        downgrade("notify", fresh, "0012")
        with engine.connect() as conn:
            assert [r[0] for r in _read(conn)["subscribers"]] == ["中心区", "农村", "城镇"]
            assert _read(conn)["counts"] == [("中心区",)]
    finally:
        engine.dispose()
        downgrade("notify", fresh, "base")
