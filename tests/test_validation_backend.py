"""The fast verdict (discovery.contracts.openapicheck) against openapi-spec-validator itself.

Every OpenAPI/Swagger document of the test corpus (fixtures/specs/**, and the
description each zoo framework really serves) is judged by both; they must
agree on every one. Each valid document is then broken in the ways
openapi-spec-validator's keyword checks look for (a repeated operation id, a
path parameter nobody declares, a default its schema refuses, ``required``
names no ``allOf`` branch defines, a schema its dialect's metaschema refuses,
a repeated tag, a repeated parameter): the library must call each one
invalid, and the fast verdict must never call it valid.

Not run here: ``hostile/fanout-allof.json``, which the library would walk for
days (tests/test_validation_bounds.py shows the worker's CPU limit refuses it;
here, that the fast verdict leaves it to the library).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from discovery import specs
from discovery.contracts import openapicheck
from discovery.errors import SpecError
from fixtures.mesh import SPECS_DIR
from fixtures.zoo import Zoo, load_apps
from fixtures.zoo.truth import embedded_description

Tree = dict[str, Any]
FANOUT = SPECS_DIR / "hostile" / "fanout-allof.json"


def _described(content: bytes) -> tuple[Tree, str] | None:
    """The document and its family, or None for bytes that are no OpenAPI/Swagger."""
    try:
        tree, packaging = specs._load_tree(
            specs._decode(content), content_type=None, limits=specs.DEFAULT_LIMITS
        )
        document, _, version = specs._recognise(tree, packaging=packaging)
    except SpecError:
        return None
    family = re.match(r"\d+\.\d+", version)
    if family is None or family.group(0) not in openapicheck.FAMILIES:
        return None
    return document, family.group(0)


def _library_errors(tree: Tree, family: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """openapi-spec-validator's messages, as meshatlas runs it, without the fast verdict."""
    with monkeypatch.context() as patch:
        patch.setattr(openapicheck, "proves_valid", lambda tree, family: False)
        return specs._validate(
            copy.deepcopy(tree), specs._VALIDATORS[family], limits=specs.DEFAULT_LIMITS
        )


def _corpus() -> list[Path]:
    files = sorted(
        path
        for path in SPECS_DIR.rglob("*")
        if path.suffix in (".json", ".yaml", ".yml") and path != FANOUT
    )
    return [path for path in files if _described(path.read_bytes()) is not None]


CORPUS = _corpus()


# --- the breakages ---------------------------------------------------------------


def _operations(tree: Tree) -> Iterator[dict[str, Any]]:
    for item in tree.get("paths", {}).values():
        if isinstance(item, dict):
            for method in ("get", "put", "post", "delete", "patch"):
                if isinstance(item.get(method), dict):
                    yield item[method]


def _repeated_operation_id(tree: Tree, family: str) -> Tree | None:
    found = list(_operations(tree))
    if len(found) < 2:
        return None
    found[0]["operationId"] = found[1]["operationId"] = "sameTwice"
    return tree


def _undeclared_path_parameter(tree: Tree, family: str) -> Tree | None:
    paths = tree.get("paths") or {}
    if not paths:
        return None
    first = next(iter(paths))
    paths[first.rstrip("/") + "/{nobodyDeclaresThis}"] = paths.pop(first)
    return tree


def _add_schema(tree: Tree, family: str, schema: dict[str, Any]) -> Tree:
    if family == "2.0":
        # Swagger's definitions are not walked by the library; a body parameter is.
        operation = next(_operations(tree), None)
        if operation is None:
            tree.setdefault("paths", {})["/added"] = {"get": {"responses": {"200": {}}}}
            operation = tree["paths"]["/added"]["get"]
        operation.setdefault("responses", {})["299"] = {"description": "x", "schema": schema}
    else:
        tree.setdefault("components", {}).setdefault("schemas", {})["Broken"] = schema
    return tree


def _default_refused(tree: Tree, family: str) -> Tree | None:
    return _add_schema(tree, family, {"type": "integer", "default": "not a number"})


def _required_nowhere_defined(tree: Tree, family: str) -> Tree | None:
    schema = {
        "type": "object",
        "allOf": [{"type": "object", "properties": {"a": {"type": "string"}}}],
        "required": ["a", "ghost"],
    }
    return _add_schema(tree, family, schema)


def _metaschema_refuses(tree: Tree, family: str) -> Tree | None:
    return _add_schema(tree, family, {"type": "object", "minProperties": "many"})


def _repeated_tag(tree: Tree, family: str) -> Tree | None:
    tree["tags"] = [{"name": "twice"}, {"name": "twice"}]
    return tree


def _repeated_parameter(tree: Tree, family: str) -> Tree | None:
    operation = next(_operations(tree), None)
    if operation is None:
        return None
    parameter: dict[str, Any] = {"name": "dup", "in": "query"}
    if family == "2.0":
        parameter["type"] = "string"
    else:
        parameter["schema"] = {"type": "string"}
    operation["parameters"] = [*operation.get("parameters", []), parameter, dict(parameter)]
    return tree


BREAKAGES: dict[str, Callable[[Tree, str], Tree | None]] = {
    "repeated operation id": _repeated_operation_id,
    "undeclared path parameter": _undeclared_path_parameter,
    "default refused by its schema": _default_refused,
    "required name nowhere defined": _required_nowhere_defined,
    "schema refused by the metaschema": _metaschema_refuses,
    "repeated tag": _repeated_tag,
    "repeated parameter": _repeated_parameter,
}


def _check_agreement(content: bytes, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    described = _described(content)
    assert described is not None, where
    tree, family = described
    library = _library_errors(tree, family, monkeypatch)
    fast = openapicheck.proves_valid(copy.deepcopy(tree), family)
    assert fast == (not library), f"{where}: fast {fast}, library {library[:3]}"
    if library:
        return
    for name, breakage in BREAKAGES.items():
        broken = breakage(copy.deepcopy(tree), family)
        if broken is None:
            continue
        said = _library_errors(broken, family, monkeypatch)
        assert said, f"{where} with {name}: the library finds nothing wrong"
        assert not openapicheck.proves_valid(broken, family), f"{where} with {name}"


@pytest.mark.parametrize("path", CORPUS, ids=[str(p.relative_to(SPECS_DIR)) for p in CORPUS])
def test_the_same_verdict_on_the_fixture_corpus(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check_agreement(path.read_bytes(), str(path.relative_to(SPECS_DIR)), monkeypatch)


def test_the_corpus_holds_valid_and_invalid_documents_of_every_family(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verdicts: dict[tuple[str, bool], int] = {}
    for path in CORPUS:
        described = _described(path.read_bytes())
        assert described is not None
        tree, family = described
        valid = not _library_errors(tree, family, monkeypatch)
        verdicts[family, valid] = verdicts.get((family, valid), 0) + 1
    for family in ("2.0", "3.0", "3.1"):
        assert verdicts.get((family, True), 0) >= 2, verdicts
    assert sum(n for (_, valid), n in verdicts.items() if not valid) >= 1, verdicts


def test_a_fanout_is_left_to_the_library() -> None:
    described = _described(FANOUT.read_bytes())
    assert described is not None
    assert not openapicheck.proves_valid(*described)


def test_what_is_not_mirrored_is_left_to_the_library() -> None:
    base = _described((SPECS_DIR / "openapi/3.1/unit-library.json").read_bytes())
    assert base is not None and openapicheck.proves_valid(*base)
    tree, family = base
    anchored = copy.deepcopy(tree)
    anchored.setdefault("components", {}).setdefault("schemas", {})["A"] = {
        "$id": "https://schemas.example.com/a",
        "type": "object",
    }
    assert not openapicheck.proves_valid(anchored, family)
    dialect = copy.deepcopy(tree)
    dialect["jsonSchemaDialect"] = "https://json-schema.org/draft/2020-12/schema"
    assert not openapicheck.proves_valid(dialect, family)


ZOO_DESCRIBED = [a for a in load_apps() if a.expect.format in ("openapi", "swagger")]


@pytest.mark.slow
@pytest.mark.parametrize("app", ZOO_DESCRIBED, ids=[a.key for a in ZOO_DESCRIBED])
def test_the_same_verdict_on_what_the_zoo_serves(
    zoo: Zoo, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (placement,) = [p for p in zoo.placements if p.app.key == app.key]
    url = f"http://{placement.address}:{app.port}{app.expect.location}"
    with httpx.Client(trust_env=False, follow_redirects=True, timeout=30) as client:
        response = client.get(url)
    assert response.status_code == 200, url
    content = response.content
    if _described(content) is None:
        # Served inside its UI's page, as tests/test_zoo_fixture.py reads it.
        inlined = embedded_description(response.text)
        assert inlined is not None, url
        content = httpx.Response(200, json=inlined).content
    _check_agreement(content, app.key, monkeypatch)
