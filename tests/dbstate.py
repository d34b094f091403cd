"""Helpers to assert that the database did (not) change."""

from sqlalchemy import Engine, text

from models import Base


def table_digests(engine: Engine) -> dict[str, str]:
    """md5 of every row of every table, per table, in a stable order."""
    digests = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            digest = conn.execute(
                text(
                    f"SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                    f"FROM {table.name} t"
                )
            ).scalar_one()
            digests[table.name] = digest
    return digests


def row_counts(engine: Engine) -> dict[str, int]:
    """Row count per table."""
    with engine.connect() as conn:
        return {
            table.name: conn.execute(text(f"SELECT count(*) FROM {table.name}")).scalar_one()
            for table in Base.metadata.sorted_tables
        }
