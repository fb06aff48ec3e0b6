"""The arguments each action takes, checked when an approval is requested and again when it is used."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.rest import HttpError, field_errors

__all__ = ["IncidentArguments", "RestartArguments", "RollbackArguments", "ScaleArguments", "validate_arguments"]


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RestartArguments(_Arguments):
    """`{}`: a rolling restart takes nothing."""


class ScaleArguments(_Arguments):
    replicas: int = Field(ge=0, le=10_000)


class RollbackArguments(_Arguments):
    to_version: str | None = Field(
        default=None, min_length=1, max_length=200, description="Unset: the version before the latest deployment."
    )


class IncidentArguments(_Arguments):
    """A status change of an incident: the note is shown to the approver, and not bound (it is a timeline note)."""

    note: str = Field(default="", max_length=4000)


_MODELS: dict[str, type[_Arguments]] = {
    "restart": RestartArguments,
    "scale": ScaleArguments,
    "rollback": RollbackArguments,
    "acknowledge_incident": IncidentArguments,
    "resolve_incident": IncidentArguments,
    "reopen_incident": IncidentArguments,
}


def validate_arguments(action: str, arguments: dict[str, Any]) -> Any:
    """`arguments` as the model of `action`, or a 422 naming each bad field under `arguments.`."""
    try:
        return _MODELS[action].model_validate(arguments)
    except ValidationError as exc:
        errors = [error.model_copy(update={"field": f"arguments.{error.field}"}) for error in field_errors(exc)]
        raise HttpError(422, "invalid_request", f"Invalid arguments for {action}.", errors=errors) from None
