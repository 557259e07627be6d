"""Staff logins are limited against password guessing: real logins through /admin/login/, counted in
PostgreSQL per username and per address, refused without checking the password once over the limit."""

import re
import threading
import time
from collections.abc import Iterator

import pytest
from django.contrib.auth.signals import user_login_failed
from django.db import connection
from django.test import Client, override_settings

from arena import stores
from arena.models import LoginAttempt
from battles.services.voting import ip_hash_of
from tests.private_stores import private_redis

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-password-0123"
REFUSED = "Too many failed logins for this username or from this address."


@pytest.fixture(autouse=True)
def _limits(settings) -> None:
    settings.ARENA_ADMIN_LOGIN_FAILURES_ALLOWED = 3
    settings.ARENA_ADMIN_LOGIN_WINDOW_SECONDS = 900


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.org", PASSWORD)


@pytest.fixture
def password_checks() -> Iterator[list[str]]:
    """The usernames of the passwords Django's authentication found wrong, in order."""
    checked: list[str] = []
    lock = threading.Lock()

    def failed(credentials, **kwargs) -> None:
        with lock:
            checked.append(credentials["username"])

    user_login_failed.connect(failed, dispatch_uid="test-password-checks")
    yield checked
    user_login_failed.disconnect(dispatch_uid="test-password-checks")


def log_in(username: str, password: str, *, address: str) -> tuple[int, str, bool]:
    """POST the admin's login form from this address: (status, page, whether it logged in)."""
    client = Client(REMOTE_ADDR=address)
    client.cookies["arena_language"] = "en"
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password, "next": "/admin/"}
    )
    return response.status_code, response.content.decode(), "_auth_user_id" in client.session


def test_failed_logins_for_one_username_are_refused_without_checking_the_password(
    staff_user, password_checks
):
    for _ in range(3):
        status, page, logged_in = log_in("staff", "a-guess", address="198.51.100.1")
        assert (status, logged_in) == (200, False)
        assert "Please enter the correct username and password" in page
    assert password_checks == ["staff"] * 3
    # The right password now, from another address: refused all the same, and not even checked.
    status, page, logged_in = log_in("staff", PASSWORD, address="198.51.100.2")
    assert (status, logged_in) == (429, False)
    assert re.search(
        rf"{REFUSED} Try again in 1[0-5] minutes\.", page
    )  # the window's 15, less the time taken
    status, _, _ = log_in("staff", "another-guess", address="198.51.100.3")
    assert status == 429 and password_checks == ["staff"] * 3
    assert LoginAttempt.objects.count() == 3  # refusals are not failures: the window does not grow


def test_the_refusal_says_when_to_come_back(staff_user):
    for _ in range(3):
        log_in("staff", "a-guess", address="198.51.100.1")
    client = Client(REMOTE_ADDR="198.51.100.1")
    client.cookies["arena_language"] = "zh-hans"
    response = client.post("/admin/login/", {"username": "staff", "password": PASSWORD})
    assert response.status_code == 429
    # Until the first of the three failures leaves the 15-minute window.
    assert 600 <= int(response["Retry-After"]) <= 900
    minutes = -(-int(response["Retry-After"]) // 60)
    assert f"这个用户名或这个地址的登录失败次数过多。请 {minutes} 分钟后再试。" in response.content.decode()


def test_failed_logins_from_one_address_are_refused_whatever_the_username(staff_user, password_checks):
    for name in ("root", "admin", "administrator"):
        assert log_in(name, "a-guess", address="203.0.113.7")[0] == 200
    status, page, logged_in = log_in("staff", PASSWORD, address="203.0.113.7")
    assert (status, logged_in) == (429, False) and REFUSED in page
    assert password_checks == ["root", "admin", "administrator"]
    # Staff elsewhere are not locked out by that address.
    assert log_in("staff", PASSWORD, address="192.0.2.10")[2] is True


def test_a_login_forgets_its_own_failures_not_another_addresses(staff_user):
    log_in("staff", "a-guess", address="198.51.100.1")
    log_in("staff", "a-typo", address="192.0.2.10")
    assert log_in("staff", PASSWORD, address="192.0.2.10")[2] is True
    # Its own failure is forgotten; the other address's still counts for the username.
    assert list(LoginAttempt.objects.values_list("address_hash", flat=True)) == [ip_hash_of("198.51.100.1")]
    assert log_in("staff", "a-guess", address="198.51.100.1")[0] == 200
    assert log_in("staff", "a-guess", address="198.51.100.1")[0] == 200
    assert log_in("staff", PASSWORD, address="192.0.2.10")[0] == 429


def test_logins_are_allowed_again_when_the_window_has_passed(settings, staff_user):
    for _ in range(3):
        log_in("staff", "a-guess", address="198.51.100.1")
    assert log_in("staff", PASSWORD, address="198.51.100.1")[0] == 429
    # A one-second window: the failures above have left it a moment later.
    settings.ARENA_ADMIN_LOGIN_WINDOW_SECONDS = 1
    time.sleep(1.1)
    status, _, logged_in = log_in("staff", PASSWORD, address="198.51.100.1")
    assert (status, logged_in) == (302, True)


def test_the_limit_holds_while_redis_is_down(staff_user, password_checks):
    with private_redis() as store:
        caches = {
            "default": {
                "BACKEND": "arena.cache.ArenaRedisCache",
                "LOCATION": store.url(0),
                "KEY_PREFIX": "arena",
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            }
        }
        with override_settings(CACHES=caches):
            stores.reset_for_tests()
            store.stop()
            for _ in range(3):
                assert log_in("staff", "a-guess", address="198.51.100.1")[0] == 200
            status, page, logged_in = log_in("staff", PASSWORD, address="198.51.100.1")
            assert (status, logged_in) == (429, False) and REFUSED in page
            assert password_checks == ["staff"] * 3
            assert log_in("staff", PASSWORD, address="192.0.2.10")[0] == 429  # the username's limit
    stores.reset_for_tests()


@pytest.mark.django_db(transaction=True)
def test_guesses_arriving_together_get_no_more_checks_than_allowed(staff_user, password_checks):
    statuses: list[int] = []
    start = threading.Barrier(8)

    def guess(number: int) -> None:
        try:
            start.wait()
            statuses.append(log_in("staff", f"guess-{number}", address="198.51.100.1")[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(password_checks) <= 3
    assert sorted(statuses) == [200] * len(password_checks) + [429] * (8 - len(password_checks))
