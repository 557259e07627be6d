"""Times read by raw SQL."""

from datetime import UTC, datetime


def as_utc(moment: datetime) -> datetime:
    """A time read by raw SQL, with its zone: PostgreSQL gives it, SQLite (the embedded mode) gives the
    stored UTC time without one."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
