"""MediaBao (媒体宝): a multi-tenant platform for WeChat Official Accounts."""

from mediabao.celery import app as celery_app

__version__ = "0.1.0"
__all__ = ("celery_app",)
