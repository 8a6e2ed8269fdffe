"""Root conftest: make the shared fixtures available to every test folder."""

pytest_plugins = ["mediabao.testing.fixtures"]

import os  # noqa: E402

# The deployment scenario (real processes, minutes on 2 cores) runs only when asked.
collect_ignore = [] if os.environ.get("MEDIABAO_SCENARIO") == "1" else ["tests/test_scenario.py"]
