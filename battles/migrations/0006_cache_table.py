"""The database cache's table, for installations without Redis (CACHES in arena/settings.py).

Refreshes, rebuilds and rate limits keep their locks and counters in the cache, so `migrate` alone
must leave a working installation; createcachetable does nothing when the table exists or when the
cache is Redis.
"""

from django.core.management import call_command
from django.db import migrations


def cache_table_create(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("battles", "0005_contender_json_shapes")]

    operations = [migrations.RunPython(cache_table_create, migrations.RunPython.noop, elidable=True)]
