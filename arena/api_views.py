"""API views that count their throttle along with their own limits (see CountedAlong)."""

from typing import Any

from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView

from arena import stores
from arena.cache import windows_count_forget, windows_count_settle


class CountedAlong(APIView):
    """An API view whose anonymous throttle is counted in the same round trip to Redis as the
    view's own limits (the voting endpoints: each of their requests counts something in Redis
    anyway), so that the throttle costs no round trip of its own. A request over the throttle is
    refused (429) there, before the view changes anything; if the view counted nothing, the
    throttle is counted as the response goes out, and may still turn it into a 429."""

    throttle_counted_along = True

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            stores.call(stores.CACHE, "API throttle", windows_count_settle, fallback=lambda: None)
        except exceptions.Throttled as throttled:
            response = self.handle_exception(throttled)
        finally:
            windows_count_forget()
        return super().finalize_response(request, response, *args, **kwargs)
