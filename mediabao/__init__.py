"""MediaBao (媒体宝): a multi-tenant platform for WeChat Official Accounts."""

__version__ = "0.1.0"
