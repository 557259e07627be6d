"""The deployment files, checked without a Docker engine."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.exceptions import ImproperlyConfigured

from arena import env

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_stores_with_healthchecks(compose):
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat", "migrate"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["image"].startswith("redis:")
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


@pytest.mark.parametrize("name", ["web", "worker", "beat", "migrate"])
def test_app_services_share_one_image_env_file_and_wait_for_healthy_stores(compose, name):
    service = compose["services"][name]
    assert service["build"] == "." and service["image"] == "arena:latest"
    assert service["env_file"] == ".env"
    assert service["environment"]["DATABASE_URL"].startswith("postgres://")
    assert service["environment"]["REDIS_URL"].startswith("redis://redis:6379")
    assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert service["depends_on"]["redis"] == {"condition": "service_healthy"}
    if name != "migrate":
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_app_service_commands(compose):
    services = compose["services"]
    assert services["web"]["command"][:2] == ["gunicorn", "arena.wsgi"]
    assert services["web"]["ports"] == ["8000:8000"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "arena", "worker"]
    worker = services["worker"]["command"]
    assert worker[worker.index("-Q") + 1] == "celery,generation"  # both queues, or answers never come
    assert services["beat"]["command"][:4] == ["celery", "-A", "arena", "beat"]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]


def test_dockerfile_installs_the_pinned_requirements():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("# One image") and "FROM python:3.11" in dockerfile
    assert "pip install -r requirements.txt" in dockerfile
    assert "collectstatic" in dockerfile and "USER arena" in dockerfile


def test_env_example_lists_every_variable_the_code_reads():
    pattern = re.compile(
        r'(?:env_(?:str|bool|int|float|list)\(|environ\.get\(|_ENV: Final = )"([A-Z][A-Z0-9_]+)"'
    )
    read = set()
    for path in [*ROOT.glob("arena/**/*.py"), *ROOT.glob("battles/**/*.py"), *ROOT.glob("ratings/**/*.py")]:
        read |= set(pattern.findall(path.read_text()))
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert read, "the scan found no variables"
    assert read - listed == set()


def test_every_pinned_requirement_is_exact():
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            if line and not line.startswith(("#", "-r ")):
                assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", line), f"{name}: {line!r} is not pinned"


@pytest.mark.parametrize(
    ("function", "raw", "message"),
    [
        (lambda: env.env_bool("ARENA_TEST_VALUE"), "maybe", "is not a boolean"),
        (lambda: env.env_int("ARENA_TEST_VALUE", 1), "twelve", "is not an integer"),
        (lambda: env.env_int("ARENA_TEST_VALUE", 1, minimum=0), "-3", "below the minimum"),
        (lambda: env.env_float("ARENA_TEST_VALUE", 1.0), "1,5", "is not a number"),
    ],
)
def test_malformed_settings_stop_with_the_variable_named(monkeypatch, function, raw, message):
    monkeypatch.setenv("ARENA_TEST_VALUE", raw)
    with pytest.raises(ImproperlyConfigured, match=f"ARENA_TEST_VALUE.*{message}"):
        function()


def test_settings_values_parse(monkeypatch):
    monkeypatch.setenv("ARENA_TEST_VALUE", " Yes ")
    assert env.env_bool("ARENA_TEST_VALUE") is True
    monkeypatch.setenv("ARENA_TEST_VALUE", "a, b,,c ")
    assert env.env_list("ARENA_TEST_VALUE", []) == ["a", "b", "c"]
    monkeypatch.delenv("ARENA_TEST_VALUE")
    assert env.env_int("ARENA_TEST_VALUE", 7) == 7


def test_web_and_worker_health_checks(compose, tmp_path):
    import os
    import subprocess
    import sys
    import time

    services = compose["services"]
    web = services["web"]["healthcheck"]["test"]
    assert web[:3] == ["CMD", "python", "-c"] and "/health/ready/" in web[3]
    worker = services["worker"]
    heartbeat_file = "/tmp/arena-worker-alive"  # noqa: S108 (the container's own /tmp)
    assert worker["environment"]["ARENA_WORKER_HEARTBEAT_FILE"] == heartbeat_file
    assert worker["environment"]["DATABASE_URL"].startswith("postgres://")  # the shared environment kept
    check = worker["healthcheck"]["test"][3].replace(heartbeat_file, str(tmp_path / "alive"))
    (tmp_path / "alive").touch()
    assert subprocess.run([sys.executable, "-c", check], check=False).returncode == 0  # fresh heartbeat
    old = time.time() - 120
    os.utime(tmp_path / "alive", (old, old))
    assert subprocess.run([sys.executable, "-c", check], check=False).returncode == 1  # silent worker


def test_the_embedded_mode_makes_one_key_for_processes_starting_together(tmp_path):
    environment = {
        key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "SECRET_KEY")
    }
    environment |= {"ARENA_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "arena.settings"}
    command = [sys.executable, "-c", "from django.conf import settings; print(settings.SECRET_KEY)"]
    starting = [
        subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    keys = {process.communicate(timeout=60)[0].strip() for process in starting}
    assert len(keys) == 1 and len(keys.pop()) >= 50
    key_file = tmp_path / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert [path.name for path in tmp_path.iterdir()] == ["secret_key"]  # no drafts left behind


@pytest.mark.parametrize("database_url", ["", "sqlite:///{tmp}/named.sqlite3"])
def test_sqlite_waits_for_the_write_lock_whether_embedded_or_named(tmp_path, database_url):
    """Web, worker and beat share the file: a connection waits 30 s for another's write lock, takes
    the lock when its transaction starts, and writes in WAL mode, whether the file is the embedded
    one or named by DATABASE_URL."""
    environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    environment |= {"ARENA_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "arena.settings"}
    if database_url:
        environment["DATABASE_URL"] = database_url.format(tmp=tmp_path)
    check = (
        "import django; django.setup(); from django.db import connection, transaction\n"
        "cursor = connection.cursor()\n"
        "print(cursor.execute('PRAGMA busy_timeout').fetchone()[0])\n"
        "print(cursor.execute('PRAGMA journal_mode').fetchone()[0])\n"
        "with transaction.atomic():\n"
        "    print(connection.in_atomic_block, connection.transaction_mode)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["30000", "wal", "True IMMEDIATE"]


def _env_file(path: Path) -> dict[str, str]:
    """The variables of an env file as docker compose reads it (KEY=VALUE lines, # comments)."""
    variables = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            variables[name.strip()] = value.strip()
    return variables


def _web_environment(compose: dict, **changes: str) -> dict[str, str]:
    """What the compose file's web service runs with: .env (as .env.example, with its key set), then
    the service's own environment, pointed at the test's stores (the checks open no connection)."""
    web = compose["services"]["web"]
    environment = {"PATH": os.environ["PATH"], **_env_file(ROOT / ".env.example")}
    environment |= {name: str(value) for name, value in web["environment"].items()}
    environment |= {
        "SECRET_KEY": "a-production-like-key-" + "0123456789abcdefghij" * 3,
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "ARENA_VAR_DIR": "",
        **changes,
    }
    assert environment["DEBUG"] == "false" and "DJANGO_SETTINGS_MODULE" not in environment
    return environment


def _check_deploy(environment: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    environment |= {"ARENA_VAR_DIR": str(tmp_path), "STATIC_ROOT": str(tmp_path / "static")}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_deployment_checklist_passes_behind_the_https_proxy(compose, tmp_path):
    environment = _web_environment(
        compose, BEHIND_HTTPS_PROXY="true", CSRF_TRUSTED_ORIGINS="https://arena.example.org"
    )
    checked = _check_deploy(environment, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "System check identified no issues (1 silenced)." in checked.stdout


def test_over_plain_http_the_checklist_names_what_https_would_fix(compose, tmp_path):
    checked = _check_deploy(_web_environment(compose, BEHIND_HTTPS_PROXY="false"), tmp_path)
    assert checked.returncode == 1
    warned = set(re.findall(r"\(security\.(W\d+)\)", checked.stdout + checked.stderr))
    # No HSTS, no redirect to HTTPS, session and CSRF cookies sent over plain HTTP.
    assert warned == {"W004", "W008", "W012", "W016"}, checked.stdout + checked.stderr


@pytest.mark.django_db
def test_plain_http_is_redirected_but_the_health_checks_are_not(settings):
    from django.test import Client

    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    plain = Client()
    redirected = plain.get("/leaderboard/")
    assert (redirected.status_code, redirected["Location"]) == (301, "https://testserver/leaderboard/")
    assert plain.get("/health/").status_code == 200  # what the container's health check calls
    assert plain.get("/health/ready/").status_code in (200, 503)  # answered, not redirected
    assert plain.get("/leaderboard/", HTTP_X_FORWARDED_PROTO="https").status_code == 200
