"""The runtime's own error types. Messages are one line and name the file or input."""

from __future__ import annotations


class ClassifierError(Exception):
    """Base of every error the runtime raises on purpose; each subclass also has the builtin
    base that fits it (OSError, ImportError, ValueError), so callers may catch either."""


class ModelLoadError(ClassifierError, OSError):
    """A model file cannot be used: missing, unreadable, tampered with, or the wrong kind."""


class ModelIntegrityError(ModelLoadError):
    """A model's sha256 does not match its manifest."""


class EngineUnavailableError(ClassifierError, ImportError):
    """The engine a model needs is not installed."""


class InputError(ClassifierError, ValueError):
    """An input cannot be turned into a digit image. `note`: how the file was read, where that
    matters to the failure (an EXIF block too broken to turn the photo upright, an animation's
    first frame), or None."""

    note: str | None = None


class NoDigitError(InputError):
    """The picture holds no digit: no ink, nothing the finder takes for a digit, or the model's
    answer is "not a digit"."""


class WorkerStartError(ClassifierError, RuntimeError):
    """Decoding worker processes (`processes=True`) keep failing to start: a calling script whose
    entry point is not guarded, which every spawned worker runs again."""


class UnverifiedModelWarning(UserWarning):
    """A model was loaded with no manifest beside it, so its sha256 could not be checked."""
