"""userops: an open-source user operations platform (用户运营平台)."""

__version__ = "0.1.0"
