"""Settings for developing the messaging app before it is wired into the project."""

from mediabao.settings import *  # noqa: F403

if "mediabao.messaging" not in INSTALLED_APPS:  # noqa: F405
    INSTALLED_APPS = [*INSTALLED_APPS, "mediabao.messaging"]  # noqa: F405
    ROOT_URLCONF = "mediabao.messaging.tests.urls"
