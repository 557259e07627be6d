"""Refusals a client can act on, and the one map from their codes to HTTP statuses.

A service raises a DomainError (VoteRejected, ServeLimited) with a code; the API's exception
handler (arena/api.py) and the site's views (battles/views.py) answer it with the status this map
gives, so the two can never disagree.
"""

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from django.utils.functional import Promise

STATUS_BY_CODE: dict[str, int] = {
    # Votes (battles/services/voting.py)
    "invalid_outcome": 400,
    "not_served_to_voter": 403,
    "unknown_voter": 403,
    "not_open": 409,
    "hold_expired": 409,
    "too_early": 409,
    "voter_rate": 429,
    "ip_rate": 429,
    "daily_cap": 429,
    "proof_missing": 400,
    # New battles and new voters (battles/services/holds.py)
    "serve_voter_rate": 429,
    "serve_ip_rate": 429,
    "held_ip_cap": 429,
    "new_voter_ip_rate": 429,
    # Named verdicts in browse mode (battles/services/browse.py)
    "name_missing": 400,
    "name_too_long": 400,
    "answers_not_comparable": 400,
    "browse_ip_rate": 429,
}


class DomainError(Exception):
    """A refusal by a service: `code` names it (a key of STATUS_BY_CODE), the message is safe to show,
    and MESSAGES holds its translations, formatted with `details`."""

    MESSAGES: ClassVar[Mapping[str, Promise | str]] = {}

    def __init__(
        self,
        message: str,
        *,
        code: str,
        retry_after_seconds: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_seconds = retry_after_seconds
        self.details = details or {}  # the numbers in the message, for its translation

    @property
    def http_status(self) -> int:
        return STATUS_BY_CODE[self.code]

    @property
    def retry_after(self) -> int | None:
        """Whole seconds for a Retry-After header (at least 1), or None."""
        if self.retry_after_seconds is None:
            return None
        return max(1, math.ceil(self.retry_after_seconds))

    def shown_message(self) -> str:
        """The message in the active language."""
        template = self.MESSAGES.get(self.code)
        return str(self) if template is None else str(template) % self.details
