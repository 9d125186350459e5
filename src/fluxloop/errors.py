"""The one FluxLoop exception hierarchy.

Every error FluxLoop raises on purpose derives from :class:`FluxLoopError`; the CLI maps
``exit_code`` to the process exit status at its edge, so library code never calls ``sys.exit``.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "FluxLoopError",
    "InputError",
    "InterruptedRunError",
    "StorageError",
    "TargetError",
    "ThresholdError",
]


class FluxLoopError(Exception):
    """Base class of every FluxLoop error."""

    exit_code: int = 1


class ConfigError(FluxLoopError, ValueError):
    """A setting, config file or argument is invalid.

    The message is one line: what is wrong, where (file:line or key), expected vs found.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        expected: str | None = None,
        found: object = None,
        where: str | None = None,
    ) -> None:
        self.key = key
        self.expected = expected
        self.found = found
        self.where = where
        super().__init__(message)

    @classmethod
    def for_value(
        cls, key: str, expected: str, found: object, where: str | None = None
    ) -> ConfigError:
        """Build the canonical ``key: expected X, found Y`` message."""
        location = f"{where}: " if where else ""
        return cls(
            f"{location}{key}: expected {expected}, found {found!r}",
            key=key,
            expected=expected,
            found=found,
            where=where,
        )


class InputError(ConfigError):
    """An input file (inputs, recording, experiment directory) is missing or malformed."""


class TargetError(ConfigError):
    """A runner target cannot be imported or resolved."""


class ThresholdError(FluxLoopError):
    """An experiment, evaluation or comparison fell below its threshold (exit 1)."""

    exit_code = 1


class StorageError(FluxLoopError):
    """An artifact could not be written (a full disk, a file where a directory belongs,
    permissions): one line naming the file and the cause (exit 2)."""

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        if exit_code is not None:
            self.exit_code = exit_code
        super().__init__(message)


class InterruptedRunError(FluxLoopError):
    """The run was interrupted (Ctrl-C / SIGTERM); partial results were written."""

    exit_code = 130
