"""Where a page of an export paged by id ends."""

from collections.abc import Sequence
from typing import Any

from django.db import connection


def page_end(
    *, tables: str, where: str, parameters: Sequence[Any], limit: int | None
) -> tuple[int | None, bool]:
    """With a limit: the id of the page's last row (rows `v` of `tables` under `where`, in id order)
    and whether more rows follow it; (None, False) without a limit or rows."""
    if limit is None:
        return None, False
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT v.id FROM {tables} WHERE {where} ORDER BY v.id LIMIT 2 OFFSET %s",
            [*parameters, limit - 1],
        )
        found = [row[0] for row in cursor.fetchall()]
    if not found:
        return None, False
    return found[0], len(found) == 2
