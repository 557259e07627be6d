from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers

API_PREFIX = "/api/"


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def api_language(accept_language: str) -> str:
    """The API's language for an Accept-Language header: Simplified Chinese for zh, zh-CN, zh-SG and
    zh-Hans (with any region), English for English and for every language we do not speak."""
    ranges = []
    for position, item in enumerate(accept_language.split(",")):
        tag, _separator, parameters = item.strip().partition(";")
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _equals, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranges.append((-quality, position, tag.strip().lower()))
    for _quality, _position, tag in sorted(ranges):
        subtags = tag.split("-")
        if subtags[0] == "zh" and (len(subtags) == 1 or subtags[1] in {"hans", "cn", "sg", "my"}):
            return "zh-hans"
        if subtags[0] == "en":
            return "en"
    return "en"


class CookieLanguageMiddleware:
    """The site speaks Chinese unless the visitor chose another language (kept in a cookie); the API
    follows the client's Accept-Language, English by default.

    Django's LocaleMiddleware would follow the browser's Accept-Language on the site too; our voters mostly
    read Chinese on devices set to other languages, so the arena starts in Chinese and remembers a choice.
    API clients are programs: they get the language they ask for, and English when they ask for none.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.supported = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_request(request):
            language = api_language(request.headers.get("Accept-Language", ""))
            varies_with = "Accept-Language"
        else:
            chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
            language = chosen if chosen in self.supported else settings.LANGUAGE_CODE
            varies_with = "Cookie"
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, (varies_with,))
        translation.deactivate()
        return response
