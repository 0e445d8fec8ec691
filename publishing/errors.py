"""The errors of publishing a checkpoint, each said in the command line's words."""

from __future__ import annotations


class UploadError(ValueError):
    """The inputs cannot make a repo the Space loads: says what was expected, what was found, and the fix."""


class UnsafeCheckpointError(UploadError):
    """The checkpoint holds objects other than tensors and would need full unpickling (which can run code)."""


class VerificationError(UploadError):
    """The built folder does not reproduce the checkpoint, or its card is not valid."""
