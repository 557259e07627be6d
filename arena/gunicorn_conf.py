"""Gunicorn's settings under `make run`: its log lines in the format of every other Arena process
(Django's, the worker's and beat's): `2026-12-05 07:30:00,123 INFO gunicorn.error: Booting worker`.
A line per request only at LOG_LEVEL=INFO (`make run ARGS=--verbose`)."""

import os

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": LOG_FORMAT}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {
            "handlers": ["console"],
            "level": "INFO" if os.environ.get("LOG_LEVEL", "INFO").upper() == "INFO" else "WARNING",
            "propagate": False,
        },
    },
}
