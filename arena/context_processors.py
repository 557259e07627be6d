from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    """What every page's frame needs to know: which optional parts of the site are on."""
    return {"browse_enabled": settings.ARENA_BROWSE_ENABLED}
