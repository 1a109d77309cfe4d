"""What a `--model` reference may name, checked before anything is loaded.

Loading a model runs code: the pyfunc's Python file and the pickled scikit-learn pipelines it
unpickles. leadq therefore loads models from the MLflow store it is pointed at (the registry:
`NAME@ALIAS`, `NAME/VERSION`, `models:/...`, or a run of that store: `runs:/RUN_ID/model`) and
trusts that store. A model folder on disk (`/path/to/model`, `./model`, `file:...`) or any other
artifact URI is loaded only with `--allow-local-model`, which says "I trust this folder".

Malformed references are one-line errors (exit code 2) instead of MLflow tracebacks: an empty
name or alias (`NAME@`, `@champion`), a version that is not a number (`NAME/champion`: an alias
is written `NAME@champion`), a name MLflow cannot register, a `runs:/` URI without a run id and
path.
"""

import re
from pathlib import Path

from leadq.core.errors import BadInputError

NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\- ]*$")
ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
LOCAL_STARTS = ("/", "./", "../", "~", "file:")


def is_local_reference(ref: str) -> bool:
    """True when `ref` names a folder or artifact location rather than the registry or a run."""
    if ref.startswith(("models:/", "runs:/")):
        return False
    return ref.startswith(LOCAL_STARTS) or ref in (".", "..") or bool(SCHEME.match(ref) and "://" in ref)


def _check_registry_reference(ref: str) -> None:
    rest = ref.removeprefix("models:/")
    if "@" in rest:
        name, alias = rest.split("@", 1)
        if not name:
            raise BadInputError(f"--model '{ref}': no model name before '@' (write NAME@ALIAS)")
        if not alias:
            raise BadInputError(f"--model '{ref}': no alias after '@' (e.g. {name}@champion)")
        if not ALIAS.match(alias):
            raise BadInputError(f"--model '{ref}': '{alias}' is not an alias name (letters, digits, '_', '-')")
    elif "/" in rest:
        name, version = rest.rsplit("/", 1)
        if not version.isdigit():
            hint = f"; an alias is written {name}@{version}" if version and ALIAS.match(version) else ""
            raise BadInputError(f"--model '{ref}': version '{version}' is not a number{hint}")
    else:
        name = rest
    if not NAME.match(name) or ".." in name:
        raise BadInputError(f"--model '{ref}': '{name}' cannot be a registered model name")


def check_model_name(name: str, option: str = "NAME") -> str:
    """A registered model's name, or a one-line error when MLflow could not hold it."""
    if not NAME.match(name or "") or ".." in name:
        raise BadInputError(f"{option} '{name}' cannot be a registered model name (letters, digits, '.', '_', '-')")
    return name


def check_version_or_alias(text: str, option: str = "VERSION") -> str:
    """A version number or an alias name, or a one-line error."""
    text = (text or "").strip()
    if not (text.isdigit() or ALIAS.match(text)):
        raise BadInputError(f"{option} '{text}' is neither a version number nor an alias name")
    return text


def check_model_reference(ref: str | None, allow_local: bool = False) -> str | None:
    """`ref` checked (None: the default model); a local path is refused unless `allow_local`,
    and then returned absolute. Raises a one-line `BadInputError` for a malformed reference."""
    if ref is None:
        return None
    ref = ref.strip()
    if not ref:
        raise BadInputError("--model: empty model reference (write NAME@ALIAS, NAME/VERSION or runs:/RUN_ID/model)")
    if is_local_reference(ref):
        if not allow_local:
            raise BadInputError(
                f"--model '{ref}' is not in the model registry: loading a model runs its code, so a local "
                "folder or artifact URI needs --allow-local-model (only for folders you trust)"
            )
        if ref.startswith("file:") or SCHEME.match(ref):
            return ref
        return str(Path(ref).expanduser().resolve())
    if ref.startswith("runs:/"):
        run_id, _, path = ref.removeprefix("runs:/").partition("/")
        if not run_id or not path.strip("/"):
            raise BadInputError(f"--model '{ref}': write runs:/RUN_ID/PATH, e.g. runs:/<run id>/model")
        return ref
    _check_registry_reference(ref)
    return ref
