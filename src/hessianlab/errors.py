"""One exception hierarchy for user-facing mistakes.

Every error a user can cause (bad configuration, missing or corrupt data, impossible parameters)
derives from :class:`HessianlabError`. The CLI turns it into one line on stderr and exit code 2.
Messages name the problem *and* the fix.
"""


class HessianlabError(Exception):
    """Base class of all user-facing errors."""


class ConfigError(HessianlabError, ValueError):
    """A configuration field has a wrong type or an impossible value."""


class DataError(HessianlabError):
    """A dataset is missing, truncated, corrupt or inconsistent."""


class StoreError(HessianlabError):
    """A run directory or the catalog is unusable (e.g. resume of a run with another config)."""
