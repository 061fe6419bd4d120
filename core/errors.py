"""The one error the shared code raises about its input (the service answers it with 422), and how a schema's
refusal reads in a message."""

from __future__ import annotations

from pydantic import ValidationError


class InputError(ValueError):
    """The input cannot be used (a blank digit image, a prompt outside the vocabulary); says what is allowed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def first_problem(error: ValidationError, where: str) -> str:
    """The first problem of a pydantic error as `field.path: message` (`where` when the whole document is wrong)."""
    first = error.errors()[0]
    return f"{'.'.join(str(x) for x in first['loc']) or where}: {first['msg']}"
