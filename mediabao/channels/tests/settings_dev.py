"""Project settings plus this app, until the lead wires it into mediabao/settings.py."""

from mediabao.settings import *  # noqa: F403
from mediabao.settings import INSTALLED_APPS

if "mediabao.channels" not in INSTALLED_APPS:
    INSTALLED_APPS = [*INSTALLED_APPS[:-1], "mediabao.channels", INSTALLED_APPS[-1]]
ROOT_URLCONF = "mediabao.channels.tests.urls"
