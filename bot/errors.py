"""The bot's exception tree.

Every error meant for a person carries `user_message`: plain words that are safe to show in
Discord (no secrets, no tracebacks). Anything that is not a `BotError` is a bug: the error
handler logs it with a job id and tells the user only that id.
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error the bot expects and can explain."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class ConfigError(BotError):
    """The configuration or the environment is wrong; raised before anything connects."""


class InputError(BotError):
    """A member's input cannot be used (bad upload, too many images, ...)."""


class GenerationError(BotError):
    """The image service failed to produce an answer we can use.

    `kind` names the failure for logs and tests; `retryable` says whether offering a Retry
    button makes sense; `retry_after_s` is a hint from the service, when it gave one.
    """

    def __init__(
        self,
        user_message: str,
        *,
        kind: str,
        retryable: bool = True,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(user_message)
        self.kind = kind
        self.retryable = retryable
        self.retry_after_s = retry_after_s

    def __reduce__(self) -> tuple[object, ...]:
        # Picklable with its keyword fields (it crosses from a worker process).
        return (
            _generation_error,
            (self.user_message, self.kind, self.retryable, self.retry_after_s),
        )


def _generation_error(
    user_message: str, kind: str, retryable: bool, retry_after_s: float | None
) -> GenerationError:
    return GenerationError(
        user_message, kind=kind, retryable=retryable, retry_after_s=retry_after_s
    )


class StorageError(BotError):
    """The bot's database refused a write (a full disk, an I/O error). Reads still work."""

    @classmethod
    def full(cls) -> StorageError:
        return cls(
            "The bot's storage is full, so it cannot take new requests right now. Please tell "
            "the bot's operator."
        )

    @classmethod
    def failed(cls) -> StorageError:
        return cls(
            "The bot could not save your request (a problem with its storage). Try again in a "
            "moment; if it keeps happening, tell the bot's operator."
        )
