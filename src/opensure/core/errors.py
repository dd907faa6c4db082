"""The error of the admin side (CLI, and later the console): a problem with what the operator
asked for, whose message is shown as it is. The API's errors are :mod:`opensure.api.errors`."""

from __future__ import annotations


class AdminError(Exception):
    """A problem with what the operator asked for; the message is shown as it is."""
