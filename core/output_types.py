"""A job's outputs (API.md, "Outputs"): one type per kind, built by the worker from the
kernel's messages, stored on the job as JSON and served by the API as they are.

`type` is each kind's tag; a worker builds an output without spelling it
(`TextOutput(cell=1, name="stdout", text="hi")`). Stored outputs are read back with
`parse_output`; fields added later pass through (`extra="allow"`), never failing a response.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


def _required_tag(schema: dict[str, Any]) -> None:
    # The tag's default lets the worker build an output without spelling its kind; the
    # published schema keeps `type` as it always was: required, without a default.
    schema.pop("default", None)


class _Output(BaseModel):
    # Outputs are stored as JSON: fields added later must pass through, not fail the response.
    # Served, a default (the tag) is always present: required in the schema, as it was.
    model_config = ConfigDict(extra="allow", json_schema_serialization_defaults_required=True)

    cell: int = Field(description="The notebook cell (1 is the first code cell).")

    def set_extra(self, name: str, value: Any) -> None:
        """A field the published schema does not name (a notice's `left_out`, an image's
        `note`): it passes through, after the declared ones."""
        setattr(self, name, value)

    def stored(self) -> dict[str, Any]:
        """The JSON the job's row keeps (and the API serves)."""
        return self.model_dump(mode="json", by_alias=True)


class TableOutput(_Output):
    """A pandas DataFrame or Series, from the kernel's table schema (not scraped HTML)."""

    type: Literal["table"] = Field(default="table", json_schema_extra=_required_tag)
    columns: list[str]
    rows: list[list[Any]] = Field(
        description="The first 1,000 rows, JSON-safe: NaN is null, timestamps ISO 8601."
    )
    total_rows: int = Field(description="Rows in the whole frame, not only in `rows`.")


class ImageOutput(_Output):
    """A plot or image: stored as an artifact, never inline."""

    type: Literal["image"] = Field(default="image", json_schema_extra=_required_tag)
    media_type: str
    name: str
    url: str | None = Field(
        description="The artifact's URL; null when the job's artifact caps left it out."
    )


class TextOutput(_Output):
    type: Literal["text"] = Field(default="text", json_schema_extra=_required_tag)
    name: str = Field(description="`stdout`, `stderr`, `result` (a plain value) or `notice`.")
    text: str = Field(description="Capped at 100 KB, with a truncation marker.")


class HtmlOutput(_Output):
    type: Literal["html"] = Field(default="html", json_schema_extra=_required_tag)
    html: str


class MarkdownOutput(_Output):
    type: Literal["markdown"] = Field(default="markdown", json_schema_extra=_required_tag)
    text: str


class JsonOutput(_Output):
    model_config = ConfigDict(extra="allow", serialize_by_alias=True, validate_by_name=True)

    type: Literal["json"] = Field(default="json", json_schema_extra=_required_tag)
    # `json` would shadow BaseModel.json; the wire name is still `json`.
    json_: Any = Field(alias="json")


class ErrorOutput(_Output):
    type: Literal["error"] = Field(default="error", json_schema_extra=_required_tag)
    ename: str
    evalue: str
    traceback: str = Field(description="Without ANSI colour codes.")


Output = Annotated[
    TableOutput | ImageOutput | TextOutput | HtmlOutput | MarkdownOutput | JsonOutput | ErrorOutput,
    Field(discriminator="type"),
]


_OUTPUT = TypeAdapter(Output)


def parse_output(stored: dict[str, Any]) -> Output:
    return _OUTPUT.validate_python(stored)
