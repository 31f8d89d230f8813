"""Errors that reach a user carry one clear line: what is wrong and where."""

from __future__ import annotations


class UseropsError(Exception):
    """Base of every error userops reports to a user; `str()` is the whole message."""


class ConfigError(UseropsError):
    """A setting or environment is unusable."""


class InputError(UseropsError):
    """Input given by a user (a file, an option, a request) is invalid."""


class StoreBusyError(UseropsError):
    """Another process holds the single-writer warehouse."""


class NotFoundError(InputError):
    """The input names something that does not exist (an operator, a scheme, a segment)."""


class ForbiddenError(InputError):
    """The input asks for something the operator's role may not do or see (a rule comparing
    phone numbers for a role that sees them masked)."""


class ConflictError(InputError):
    """The input clashes with what is stored: a taken name, an idempotency key reused for
    another request, too few points to spend."""
