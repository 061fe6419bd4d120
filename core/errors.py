"""The one error the shared code raises about its input; the service answers it with 422."""

from __future__ import annotations


class InputError(ValueError):
    """The input cannot be used (a blank digit image, a prompt outside the vocabulary); says what is allowed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
