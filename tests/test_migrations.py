import importlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection


@pytest.mark.django_db
def test_migrations_match_the_models():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db
def test_migrate_creates_the_database_cache_table_when_there_is_no_redis(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "arena_cache_check"}
    }
    migration = importlib.import_module("battles.migrations.0006_cache_table")
    with connection.schema_editor() as editor:
        migration.cache_table_create(None, editor)
    try:
        assert "arena_cache_check" in connection.introspection.table_names()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE arena_cache_check")
