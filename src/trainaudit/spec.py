"""The audit spec: defaults, then [tool.trainaudit] / trainaudit.toml, then --spec; unknown keys are errors."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class SpecError(Exception):
    """A spec that cannot be used as written; the CLI turns it into exit code 2."""


@dataclass(frozen=True)
class Spec:
    """What the audited project claims to train, on what, measured how."""

    model: str | None = None
    data: str | None = None
    metrics: tuple[str, ...] = ()
    entrypoints: tuple[str, ...] = ()
    logs: tuple[str, ...] = ()
    checkpoints: tuple[str, ...] = ()
    claims: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    origin: str | None = field(default=None, compare=False)  # where it was read from

    @property
    def model_name(self) -> str | None:
        """The last dotted component: the class name the code will mention."""
        return _last(self.model)

    @property
    def data_name(self) -> str | None:
        return _last(self.data)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}


def _last(dotted: str | None) -> str | None:
    if not dotted:
        return None
    return dotted.replace(":", ".").rsplit(".", 1)[-1]


_STR_KEYS = ("model", "data")
_LIST_KEYS = ("metrics", "entrypoints", "logs", "checkpoints", "claims", "ignore")


def parse_spec(table: Any, origin: str) -> Spec:
    """Validate one [tool.trainaudit] table strictly."""
    if not isinstance(table, dict):
        raise SpecError(f"{origin}: the trainaudit spec must be a table, not {type(table).__name__}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in _STR_KEYS:
            if not isinstance(value, str) or not value.strip():
                raise SpecError(f"{origin}: key '{key}' must be a non-empty string, got {value!r}")
            values[key] = value.strip()
        elif key in _LIST_KEYS:
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise SpecError(f"{origin}: key '{key}' must be a list of non-empty strings, got {value!r}")
            values[key] = tuple(value)
        else:
            known = ", ".join(_STR_KEYS + _LIST_KEYS)
            raise SpecError(f"{origin}: unknown key '{key}' (known keys: {known})")
    return Spec(**values, origin=origin)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror}") from None


def _table_of(data: dict[str, Any], is_pyproject: bool) -> Any | None:
    """[tool.trainaudit] where present; a trainaudit.toml may also hold the keys at top level."""
    tool = data.get("tool")
    if isinstance(tool, dict) and "trainaudit" in tool:
        return tool["trainaudit"]
    return None if is_pyproject else data


def load_spec(root: Path, spec_file: Path | None = None) -> Spec:
    """--spec wins; else trainaudit.toml; else [tool.trainaudit] in pyproject.toml; else an empty spec."""
    if spec_file is not None:
        if not spec_file.is_file():
            raise SpecError(f"{spec_file}: spec file not found")
        table = _table_of(_read_toml(spec_file), spec_file.name == "pyproject.toml")
        if table is None:
            raise SpecError(f"{spec_file}: no [tool.trainaudit] table")
        return parse_spec(table, str(spec_file))
    for name, is_pyproject in (("trainaudit.toml", False), ("pyproject.toml", True)):
        path = root / name
        if path.is_file():
            table = _table_of(_read_toml(path), is_pyproject)
            if table is not None:
                return parse_spec(table, name)
    return Spec()
