"""Load a YAML file into a pydantic model, with a one-line error naming the offending key."""

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from leadq.core.errors import BadInputError

Model = TypeVar("Model", bound=BaseModel)


_CONSTRAINT_WORDS = {
    "greater_than": ("gt", "must be > {}"),
    "greater_than_equal": ("ge", "must be >= {}"),
    "less_than": ("lt", "must be < {}"),
    "less_than_equal": ("le", "must be <= {}"),
}


def describe_error(error: dict[str, Any]) -> str:
    """One pydantic error as "'dotted.key': what is wrong" (or "unknown key 'dotted.key'")."""
    key = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown key '{key}'"
    if kind == "missing":
        return f"missing key '{key}'"
    if kind in _CONSTRAINT_WORDS:
        name, words = _CONSTRAINT_WORDS[kind]
        return f"'{key}': " + words.format(error.get("ctx", {}).get(name))
    message = str(error["msg"]).removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    return f"'{key}': {message}" if key else message


def describe_validation_error(source: str, exc: ValidationError) -> str:
    """One line naming the first bad key of a pydantic error (and how many more there are)."""
    errors = exc.errors()
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{source}: {describe_error(errors[0])}{more}"


def read_utf8(path: Path) -> str:
    """The text of a UTF-8 file; other bytes, or a folder, are a one-line error naming the file."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise BadInputError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at line {line}); "
                            "save it as UTF-8") from None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot be read ({exc.strerror})") from None


def read_yaml(path: Path) -> dict:
    """The mapping stored in a YAML file; a missing file or bad YAML is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: file not found")
    try:
        content = yaml.safe_load(read_utf8(path)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise BadInputError(f"{path}: not valid YAML{where}") from None
    if not isinstance(content, dict):
        raise BadInputError(f"{path}: expected a mapping of keys to values at the top level")
    return content


def load_yaml_model(path: Path, model: type[Model]) -> Model:
    """Validate the YAML file at `path` as `model`."""
    return validate_model(read_yaml(path), model, str(path))


def validate_model(content: dict, model: type[Model], source: str) -> Model:
    """Validate a dict as `model`, turning a pydantic error into a one-line BadInputError."""
    try:
        return model.model_validate(content)
    except ValidationError as exc:
        raise BadInputError(describe_validation_error(source, exc)) from None
