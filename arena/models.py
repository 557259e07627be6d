"""How the arena's processes and stores are doing: what the readiness endpoint and staff read."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class StoreOutage(models.Model):
    """A time a store (the Redis cache or the broker) could not be reached, and what went without it."""

    class Store(models.TextChoices):
        CACHE = "cache", _("cache (Redis)")
        BROKER = "broker", _("task broker")

    store = models.CharField(_("store"), max_length=16, choices=Store.choices)
    started_at = models.DateTimeField(_("started"))
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    # Calls that went without the store, by purpose ("rate limit", "queue a task", ...).
    fallbacks = models.JSONField(_("calls without it"), default=dict, blank=True)
    fallback_total = models.PositiveBigIntegerField(_("calls without it, in all"), default=0)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("store outage")
        verbose_name_plural = _("store outages")
        constraints = [
            models.UniqueConstraint(
                fields=["store"], condition=Q(ended_at__isnull=True), name="store_outage_one_open_per_store"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_store_display()} {self.started_at:%Y-%m-%d %H:%M:%S}"


class WorkerHeartbeat(models.Model):
    """A Celery worker process, as it last reported itself (every ARENA_WORKER_HEARTBEAT_SECONDS)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    pid = models.PositiveIntegerField(_("process id"))
    queues = models.CharField(_("queues"), max_length=200, blank=True)
    started_at = models.DateTimeField(_("started"))
    last_seen_at = models.DateTimeField(_("last seen"))
    tasks_done = models.PositiveBigIntegerField(_("tasks done"), default=0)
    broker_connected = models.BooleanField(_("connected to the broker"), default=True)
    # Set when the worker shut down cleanly: a worker silent without it was lost (killed, crashed).
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("worker")
        verbose_name_plural = _("workers")

    def __str__(self) -> str:
        return self.name


class PeriodicTaskRun(models.Model):
    """The last run of a task that beat schedules: beat is alive while these keep coming."""

    task = models.CharField(_("task"), max_length=200, unique=True)
    last_run_at = models.DateTimeField(_("last run"))
    last_duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    runs = models.PositiveBigIntegerField(_("runs"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["task"]
        verbose_name = _("periodic task")
        verbose_name_plural = _("periodic tasks")

    def __str__(self) -> str:
        return self.task


class LoginAttempt(models.Model):
    """A staff login attempt, counted against the limits on password guessing: at most
    ARENA_ADMIN_LOGIN_FAILURES_ALLOWED failures per username and per address within
    ARENA_ADMIN_LOGIN_WINDOW_SECONDS (arena.services.login_attempt_start).

    A row is written before the password is checked, so that attempts arriving together count each
    other, and removed when the password was right or the attempt was refused unchecked: what stays
    are the failures. Kept in PostgreSQL, so the limits hold while Redis is away."""

    username = models.CharField(_("username"), max_length=150)
    # A keyed hash of the client's address (as the votes keep it), never the address itself.
    address_hash = models.CharField(_("IP hash"), max_length=32)
    attempted_at = models.DateTimeField(_("attempted"))

    class Meta:
        ordering = ["-attempted_at"]
        verbose_name = _("failed staff login")
        verbose_name_plural = _("failed staff logins")
        indexes = [
            models.Index(fields=["username", "attempted_at"], name="login_attempt_by_username"),
            models.Index(fields=["address_hash", "attempted_at"], name="login_attempt_by_address"),
            models.Index(fields=["attempted_at"], name="login_attempt_time"),
        ]

    def __str__(self) -> str:
        return f"{self.username} {self.attempted_at:%Y-%m-%d %H:%M:%S}"
