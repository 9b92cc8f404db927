"""Errors that cross room boundaries. Each names the field a person has to fix."""

from __future__ import annotations


class InvalidInput(ValueError):
    """Bad input from a user: the service answers INVALID_ARGUMENT, the CLI one clear line."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


class Cancelled(Exception):
    """Raised inside a pipeline's step callback when its job has been cancelled."""


class ModelUnavailable(RuntimeError):
    """A model's weights are missing or broken; the message says how to get them."""
