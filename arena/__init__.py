import os

# The ratings' bootstrap runs its own threads; OpenBLAS's threads, which spin while idle, would only
# compete with them (measured: 0.53 s → 0.37 s for a 1,000-round refresh at 130 contenders).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from arena.celery import app as celery_app

__all__ = ("celery_app",)
