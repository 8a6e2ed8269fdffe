"""Settings for running the statistics app before the lead wires it (``--ds`` this module)."""

from mediabao.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "mediabao.stats"]  # noqa: F405
ROOT_URLCONF = "mediabao.stats.tests.urls"
