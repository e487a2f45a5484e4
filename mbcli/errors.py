"""The error hierarchy of mbcli.

Every failure a user can cause (bad input, missing weights, wrong config) raises an MbcliError subclass whose
message is one line that says what went wrong and what to do. The CLI turns these into a red one-line message and
exit code 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class MbcliError(Exception):
    """Base class: a user-facing, one-line error."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class InputError(MbcliError):
    """The input path is missing, unreadable or of an unknown kind."""


class VideoReadError(InputError):
    """A video could not be opened or decoded, or holds no frames."""


class KeypointFileError(InputError):
    """A keypoint file is malformed or in an unrecognised format."""


class NoPersonFound(MbcliError):
    """No person was detected or tracked in the input."""


class ClipTooShort(MbcliError):
    """The input has too few frames for the requested operation."""


class WeightsError(MbcliError):
    """A model file is missing, corrupt, or does not match the expected architecture."""


class ConfigError(MbcliError):
    """A configuration or option value is invalid (unknown key, bad value)."""


class DependencyError(MbcliError):
    """An optional dependency is missing; the message carries the exact install command."""


class ExportError(MbcliError):
    """An output file could not be written."""


class TrainingError(MbcliError):
    """Training stopped because it went wrong: the loss diverged, the predicted pose collapsed, or validation
    stopped improving (``kind``: "diverged", "collapsed" or "stalled"). The last good checkpoint is kept."""

    def __init__(self, message: str, kind: str = "failed") -> None:
        super().__init__(message)
        self.kind = kind
