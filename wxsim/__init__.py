"""wxsim: a faithful offline WeChat Official Account platform.

It serves the WeChat API surface the MediaBao platform uses (``/cgi-bin/...``,
``/sns/...``, the OAuth and component authorize pages), pushes signed and
encrypted events to the platform's callback URL, and offers a control API under
``/_sim/`` for tests and demos. It imports nothing of ``mediabao``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
