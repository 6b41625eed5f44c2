"""A fast proof that openapi-spec-validator would find an OpenAPI document valid.

openapi-spec-validator judges a document in two steps: the whole document
against the OpenAPI metaschema (pure-Python jsonschema), then a walk of its
paths, operations, parameters, responses and schemas through jsonschema-path,
checking each Schema Object against its dialect's metaschema, each
``default`` against its schema, operation ids and tag names for repeats, path
parameters against the path template, and ``required`` names under ``allOf``.
On a 10 KB description that is 50-200 ms of CPU, nearly all of it the
library's generic machinery, which makes a cold crawl of thousands of
Services validation-bound.

:func:`proves_valid` does the same checks in one plain pass over the parsed
tree: the whole document through openapi-spec-validator's own jsonschema-rs
adapter, each Schema Object and ``default`` through the very checker the
library uses (remembered by content: the same schema gets the same answer),
and the walk over plain dicts. It only ever answers "valid" or "not proven":
anything it does not mirror exactly (``$id``, anchors, dynamic references,
boolean schemas, a ``$ref`` that is not a local JSON pointer, a schema's own
``$schema``, OpenAPI 3.2, anything that raises) is "not proven", and the
caller runs openapi-spec-validator itself, whose messages are the ones kept.
``tests/test_validation_backend.py`` runs both over the whole corpus.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any, Final

from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for
from openapi_schema_validator import (
    OAS31_BASE_DIALECT_ID,
    OAS30Validator,
    OAS31Validator,
    oas30_format_checker,
    oas31_format_checker,
)
from openapi_spec_validator.schemas import schema_v2, schema_v30, schema_v31
from openapi_spec_validator.schemas.backend.jsonschema_rs import (
    create_validator as _rs_validator,
)

__all__ = ["FAMILIES", "proves_valid"]

#: The OpenAPI families this module mirrors (3.2 is left to the library).
FAMILIES: Final = frozenset({"2.0", "3.0", "3.1"})

_OPERATIONS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Keys whose meaning this module does not mirror: the library resolves them
# through referencing's registry, with base URIs that move.
_UNMIRRORED: Final = frozenset(
    {"$id", "$anchor", "$dynamicAnchor", "$dynamicRef", "$recursiveRef", "$recursiveAnchor"}
)
_MEMO_MAX: Final = 16384
#: Most schema visits one walk makes before it leaves the document to the
#: library: ``allOf`` lists that fan out make the library's own walk
#: exponential, and then its CPU limit, not this shortcut, must decide.
_MAX_STEPS: Final = 100_000


class _NotProven(Exception):
    """Something this module does not mirror: let the library judge."""


@cache
def _document_checker(family: str) -> Callable[[Any], bool]:
    schema = {"2.0": schema_v2, "3.0": schema_v30, "3.1": schema_v31}[family]
    checker = _rs_validator(dict(schema))
    is_valid: Callable[[Any], bool] = checker.is_valid
    return is_valid


def _schema_checker(family: str) -> Callable[[Any], None]:
    if family == "3.1":
        cls: Any = validator_for({"$schema": OAS31_BASE_DIALECT_ID}, default=None)
        if cls is None:
            raise _NotProven
        return lambda value: cls.check_schema(value, format_checker=oas31_format_checker)
    check: Callable[[Any], None] = OAS30Validator.check_schema
    return check


class _Memo:
    """Answers of pure checks by the canonical JSON of what they looked at."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], bool] = {}

    def get(self, key: tuple[str, str], compute: Callable[[], bool]) -> bool:
        answer = self.answers.get(key)
        if answer is None:
            answer = compute()
            if len(self.answers) >= _MEMO_MAX:
                self.answers.pop(next(iter(self.answers)))
            self.answers[key] = answer
        return answer


_MEMO = _Memo()


def proves_valid(tree: dict[str, Any], family: str) -> bool:
    """Whether openapi-spec-validator is certain to find ``tree`` valid.

    Args:
        tree: the parsed document, plain JSON values.
        family: ``"2.0"``, ``"3.0"`` or ``"3.1"``.

    Returns:
        True only when the library would report no error; False when it would,
        or when this module cannot tell (then ask the library).
    """
    if family not in FAMILIES:
        return False
    try:
        if not _document_checker(family)(tree):
            return False
        if family != "2.0" and "jsonSchemaDialect" in tree:
            return False
        _scan(tree)
        return _Walk(tree, family).run()
    except (_NotProven, RecursionError):
        return False
    except Exception:  # the library would have to say what it makes of this shape
        return False


def _scan(tree: Any) -> None:
    """Refuse constructs resolved through referencing's registry (see module doc)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if _UNMIRRORED.intersection(node):
                raise _NotProven
            ref = node.get("$ref")
            if ref is not None and (
                not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")) or "%" in ref
            ):
                raise _NotProven
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


class _Walk:
    """One pass over a document, as openapi-spec-validator's keyword validators go."""

    def __init__(self, tree: dict[str, Any], family: str) -> None:
        self.tree = tree
        self.family = family
        self.meta_checked: set[int] = set()
        self.visited: set[int] = set()
        self.operation_ids: list[Any] = []
        self.steps = 0
        self.check_schema = _schema_checker(family)
        self.value_validator: Any = OAS31Validator if family == "3.1" else OAS30Validator
        self.value_formats: Any = oas31_format_checker if family == "3.1" else oas30_format_checker

    def run(self) -> bool:
        root = self.tree
        if "tags" in root and not self._tags(self._at(root, "tags")):
            return False
        if "paths" in root:
            for url, item in self._items(self._at(root, "paths")):
                if not self._path(url, self._resolve(item)):
                    return False
        if "components" in root:
            components = self._at(root, "components")
            if isinstance(components, dict) and "schemas" in components:
                for _, schema in self._items(self._at(components, "schemas")):
                    if not self._schema(schema, require_properties=True, meta_checked=False):
                        return False
        return True

    # --- navigation, as jsonschema-path resolves every node it reads -------

    def _resolve(self, node: Any) -> Any:
        seen: set[str] = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                raise _NotProven
            seen.add(ref)
            node = self.tree
            for part in ref[2:].split("/") if ref != "#" else ():
                key = part.replace("~1", "/").replace("~0", "~")
                if isinstance(node, dict):
                    if key not in node:
                        raise _NotProven
                    node = node[key]
                elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                    node = node[int(key)]
                else:
                    raise _NotProven
        return node

    def _at(self, node: Any, key: str) -> Any:
        if not isinstance(node, dict):
            raise _NotProven
        return self._resolve(node[key])

    def _items(self, node: Any) -> Iterator[tuple[str, Any]]:
        if not isinstance(node, dict):
            raise _NotProven
        for key, value in node.items():
            yield key, self._resolve(value)

    def _list(self, node: Any) -> list[Any]:
        if not isinstance(node, list):
            raise _NotProven
        return [self._resolve(value) for value in node]

    # --- keyword checks ------------------------------------------------------

    def _tags(self, tags: Any) -> bool:
        names = [self._at(tag, "name") for tag in self._list(tags)]
        return len(set(names)) == len(names)

    def _parameters(self, parameters: Any) -> bool:
        seen: set[tuple[Any, Any]] = set()
        for parameter in self._list(parameters):
            if not isinstance(parameter, dict):
                raise _NotProven
            if "schema" in parameter and not self._schema(
                self._at(parameter, "schema"), require_properties=True, meta_checked=False
            ):
                return False
            if self.family == "2.0" and "default" in parameter:
                if not self._value_fits(parameter, parameter["default"]):
                    return False
            key = (parameter["name"], parameter["in"])
            if key in seen:
                return False
            seen.add(key)
        return True

    def _path(self, url: str, item: Any) -> bool:
        if not isinstance(item, dict):
            raise _NotProven
        shared = None
        if "parameters" in item:
            shared = self._at(item, "parameters")
            if not self._parameters(shared):
                return False
        for name, operation in self._items(item):
            if name in _OPERATIONS and not self._operation(url, operation, shared):
                return False
        return True

    def _operation(self, url: str, operation: Any, shared: Any) -> bool:
        if not isinstance(operation, dict):
            raise _NotProven
        if "operationId" in operation:
            operation_id = self._at(operation, "operationId")
            if operation_id is not None and operation_id in self.operation_ids:
                return False
            self.operation_ids.append(operation_id)
        if "responses" in operation:
            for _, response in self._items(self._at(operation, "responses")):
                if not self._response(response):
                    return False
        names: list[Any] = []
        if "parameters" in operation:
            own = self._at(operation, "parameters")
            if not self._parameters(own):
                return False
            names += self._path_names(own)
        if shared is not None:
            names += self._path_names(shared)
        in_url = {field for _, field, _, _ in string.Formatter().parse(url) if field}
        return set(names) == in_url

    def _path_names(self, parameters: Any) -> list[Any]:
        return [
            self._at(parameter, "name")
            for parameter in self._list(parameters)
            if self._at(parameter, "in") == "path"
        ]

    def _response(self, response: Any) -> bool:
        if not isinstance(response, dict):
            raise _NotProven
        if self.family == "2.0":
            if "schema" in response:
                return self._schema(
                    self._at(response, "schema"), require_properties=True, meta_checked=False
                )
            return True
        if "content" in response:
            for _, media_type in self._items(self._at(response, "content")):
                if not isinstance(media_type, dict):
                    raise _NotProven
                if "schema" in media_type and not self._schema(
                    self._at(media_type, "schema"), require_properties=True, meta_checked=False
                ):
                    return False
        return True

    def _schema(self, schema: Any, *, require_properties: bool, meta_checked: bool) -> bool:
        if not isinstance(schema, dict) or "$schema" in schema:
            raise _NotProven  # a boolean schema, or a dialect of its own
        self._step()
        if not meta_checked and id(schema) not in self.meta_checked:
            self.meta_checked.add(id(schema))
            if not self._meta_valid(schema):
                return False
        if id(schema) in self.visited:
            return True
        self.visited.add(id(schema))
        nested: set[str] = set()
        for keyword in ("allOf", "anyOf", "oneOf"):
            if keyword in schema:
                for inner in self._list(self._at(schema, keyword)):
                    if not self._schema(inner, require_properties=False, meta_checked=True):
                        return False
                    if keyword == "allOf":
                        nested |= self._properties(inner, depth=0)
        for keyword in ("not", "items"):
            if keyword in schema:
                inner = self._at(schema, keyword)
                if not self._schema(inner, require_properties=False, meta_checked=True):
                    return False
        if "properties" in schema:
            for _, inner in self._items(self._at(schema, "properties")):
                if not self._schema(inner, require_properties=False, meta_checked=True):
                    return False
        if "allOf" in schema and require_properties:
            required = self._at(schema, "required") if "required" in schema else None
            declared = set(self._at(schema, "properties")) if "properties" in schema else set()
            if set(required or []) - declared - nested:
                return False
        if "default" in schema:
            default = self._at(schema, "default")
            nullable = self._at(schema, "nullable") if "nullable" in schema else False
            if (default is not None or nullable is not True) and not self._value_fits(
                schema, default
            ):
                return False
        return True

    def _step(self) -> None:
        self.steps += 1
        if self.steps > _MAX_STEPS:
            raise _NotProven

    def _properties(self, schema: Any, *, depth: int) -> set[str]:
        self._step()
        if depth > 64 or not isinstance(schema, dict):
            raise _NotProven
        found: set[str] = set()
        if "properties" in schema:
            found |= set(self._at(schema, "properties"))
        for keyword in ("allOf", "anyOf", "oneOf"):
            if keyword in schema:
                for inner in self._list(self._at(schema, keyword)):
                    found |= self._properties(inner, depth=depth + 1)
        for keyword in ("items", "not"):
            if keyword in schema:
                found |= self._properties(self._at(schema, keyword), depth=depth + 1)
        return found

    def _meta_valid(self, schema: dict[str, Any]) -> bool:
        def compute() -> bool:
            try:
                self.check_schema(schema)
            except SchemaError:
                return False
            return True

        return _MEMO.get((f"meta {self.family}", _canonical(schema)), compute)

    def _value_fits(self, schema: dict[str, Any], value: Any) -> bool:
        if _has_ref(schema):
            raise _NotProven  # validated with the document's resolver: the library's own case
        validator = self.value_validator(schema, format_checker=self.value_formats)

        def compute() -> bool:
            return next(iter(validator.iter_errors(value)), None) is None

        return _MEMO.get((f"value {self.family}", _canonical([schema, value])), compute)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _has_ref(node: Any) -> bool:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "$ref" in item:
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
