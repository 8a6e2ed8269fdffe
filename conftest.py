"""Root conftest: make the shared fixtures available to every test folder."""

pytest_plugins = ["mediabao.testing.fixtures"]
