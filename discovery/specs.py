"""Recognise, parse and validate API descriptions: OpenAPI 3.x, Swagger 2.0, WSDL 1.1.

Contracts asked for on purpose (a GraphQL schema, a gRPC descriptor set) are
read here too, as :mod:`discovery.contracts` says, when the caller names
what it asked for (``reading``).

These are pure functions of the bytes a probe brought back. Nothing is fetched:
not a ``$ref`` to another document, not an ``xsd:import``. Work is bounded
(:class:`SpecLimits`) because the bytes come from whatever answers on a port.

Outcomes of :func:`parse_spec`:

* an API description, valid or not -> :class:`~discovery.model.SpecDocument`
  (``valid=False`` and ``errors`` filled when validation fails);
* bytes that are no API description (HTML, a JSON error body, GraphQL...) ->
  :class:`~discovery.errors.NotASpecError`;
* bytes too large, too deep, or unsafe to read ->
  :class:`~discovery.errors.SpecRefusedError`.
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed
from typing import TYPE_CHECKING, NoReturn, TypeAlias

import orjson
import yaml

from discovery import contracts
from discovery.contracts import wsdl
from discovery.errors import NotASpecError, SpecError, SpecRefusedError

# openapi-spec-validator switches to jsonschema-rs whenever that is installed
# (schemathesis brings it): other messages, other memory use. Ours are the
# pure-Python backend's, whatever else shares the environment.
os.environ.setdefault("OPENAPI_SPEC_VALIDATOR_SCHEMA_VALIDATOR_BACKEND", "jsonschema")
from discovery.contracts.wsdl import looks_like_soap_fault, looks_like_wsdl
from discovery.model import Operation, Packaging, SpecDocument, SpecFormat

__all__ = [
    "DEFAULT_LIMITS",
    "SpecLimits",
    "import_validators",
    "keep_outcome",
    "known_outcome",
    "looks_like_soap_fault",
    "looks_like_wsdl",
    "parse_spec",
]

Json: TypeAlias = "dict[str, Json] | list[Json] | str | int | float | bool | None"


@dataclass(frozen=True, slots=True)
class SpecLimits:
    """How much work :func:`parse_spec` may spend on one document.

    Attributes:
        max_bytes: larger content is refused before it is read.
        max_depth: deepest nesting of JSON/YAML containers or XML elements.
        max_nodes: most values a JSON/YAML document may hold once YAML aliases
            are expanded (what the validator would walk).
        max_yaml_aliases: most ``*alias`` uses in a YAML document.
        max_errors: how many validation messages are kept.
    """

    max_bytes: int = 10 * 1024 * 1024
    max_depth: int = 100
    max_nodes: int = 1_000_000
    max_yaml_aliases: int = 100
    max_errors: int = 20


DEFAULT_LIMITS = SpecLimits()

_BOMS = (  # UTF-32 first: its little-endian BOM begins with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
#: openapi-spec-validator's validator per family, by class name: the name is part
#: of every check key, and the library (with jsonschema-path and pydantic
#: behind it) is imported only when a document is really validated, never by a
#: crawl that only parses descriptions validated before.
_VALIDATOR_NAMES: Mapping[str, str] = {
    "2.0": "OpenAPIV2SpecValidator",
    "3.0": "OpenAPIV30SpecValidator",
    "3.1": "OpenAPIV31SpecValidator",
    "3.2": "OpenAPIV32SpecValidator",
}


class _Validators(Mapping[str, "type[SpecValidator]"]):
    """The validator classes by family, imported on first use."""

    def __getitem__(self, family: str) -> type[SpecValidator]:
        import openapi_spec_validator

        validator: type[SpecValidator] = getattr(openapi_spec_validator, _VALIDATOR_NAMES[family])
        return validator

    def __iter__(self) -> Iterator[str]:
        return iter(_VALIDATOR_NAMES)

    def __len__(self) -> int:
        return len(_VALIDATOR_NAMES)


_VALIDATORS: Mapping[str, type[SpecValidator]] = _Validators()
# Values that are data, not schema: a "$ref" key inside them is never resolved.
_DATA_KEYS = frozenset({"example", "default", "enum", "const"})
_REF_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")


def _versions(*packages: str) -> str:
    """The validator's identity: its backend and the versions of what judges."""
    found = []
    for name in packages:
        try:
            found.append(f"{name} {_installed(name)}")
        except PackageNotFoundError:  # a frozen build without metadata
            found.append(f"{name} ?")
    backend = os.environ.get("OPENAPI_SPEC_VALIDATOR_SCHEMA_VALIDATOR_BACKEND", "")
    return ", ".join([*found, f"backend {backend}"])


_MAX_MESSAGE = 200
#: Part of every check key: another validator release may judge differently.
_VALIDATOR_VERSION = _versions(
    "openapi-spec-validator", "jsonschema", "jsonschema-path", "jsonschema-rs"
)
_PLAIN_KEY = re.compile(r"^[A-Za-z_$][\w$-]*$")

if TYPE_CHECKING:
    from openapi_spec_validator.validation.validators import SpecValidator

    _SafeLoader = yaml.SafeLoader
else:  # libyaml's parser is much faster, and non-recursive while parsing events
    _SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _YamlLoader(_SafeLoader):
    """A safe loader that leaves timestamps as strings, as JSON would have them."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
}


def import_validators() -> None:
    """Import what validation uses (openapi-spec-validator, zeep) ahead of the first document."""
    import jsonschema_path  # noqa: F401
    import openapi_spec_validator  # noqa: F401
    import referencing.exceptions  # noqa: F401

    from discovery.contracts import openapicheck  # noqa: F401

    wsdl.import_validator()


def parse_spec(
    content: bytes,
    *,
    url: str,
    content_type: str | None,
    limits: SpecLimits = DEFAULT_LIMITS,
    known: Mapping[str, Sequence[str]] | None = None,
    reading: contracts.Reading | None = None,
    keep: bool = True,
) -> SpecDocument:
    """Recognise and parse an OpenAPI 3.x / Swagger 2.0 document or a WSDL 1.1 document.

    JSON or YAML is decided by the content, with ``content_type`` as a hint.
    OpenAPI 3.2 is accepted too. Nothing a document references is fetched: an
    external ``$ref`` or an import is reported as a validation error.

    Args:
        content: the body as received.
        url: where it came from; kept on the result and on errors, never fetched.
        content_type: the response's ``Content-Type``, if any.
        limits: bounds on the work done.
        known: validation outcomes (error messages) by ``check_key``, from an
            earlier run: a document already validated is not validated again.
        reading: bytes asked for as a contract of a known kind (a GraphQL
            schema, a protobuf descriptor set: :mod:`discovery.contracts`),
            read as that kind rather than recognised.
        keep: remember the outcome by the digest of ``content`` for this
            process (a validation worker, whose caller keeps it, does not).

    Returns:
        The parsed description; ``valid`` is False and ``errors`` holds the first
        ``limits.max_errors`` short messages when it fails validation.

    Raises:
        NotASpecError: the bytes are not an API description at all.
        SpecRefusedError: the bytes were refused (too large, too deep, YAML
            alias expansion, an XML DTD).
    """
    key = _outcome_key(content, content_type, limits, reading)
    outcome = _PARSED.get(key)
    if outcome is None:
        try:
            if reading is not None:
                outcome = contracts.read_contract(content, url=url, reading=reading, limits=limits)
            else:
                outcome = _parse(
                    content,
                    url=url,
                    content_type=content_type,
                    limits=limits,
                    known=known or {},
                    digest=key[0].hex(),
                )
        except SpecError as exc:
            # Kept bare: a traceback or cause would hold the body and its tree alive.
            outcome = type(exc)(exc.message)
        if keep:
            _remember(key, outcome)
    if isinstance(outcome, SpecError):
        raise type(outcome)(outcome.message, url=url)
    return outcome if outcome.url == url else dataclasses.replace(outcome, url=url)


#: Outcomes by content hash: the same bytes always parse and validate the same
#: way, and the same description is often served by many Services (replicas,
#: tenants, clusters, and every warm re-run). Validation is by far the costliest
#: step of a crawl. Bounded, oldest out first; documents share their bytes.
_OutcomeKey: TypeAlias = "tuple[bytes, bool, SpecLimits, contracts.Reading | None]"
_PARSED: dict[_OutcomeKey, SpecDocument | SpecError] = {}
_PARSED_MAX = 4096
_PARSED_MAX_BYTES = 64 * 1024 * 1024
_parsed_bytes = 0


def _outcome_key(
    content: bytes,
    content_type: str | None,
    limits: SpecLimits,
    reading: contracts.Reading | None = None,
) -> _OutcomeKey:
    json_hint = "json" in (content_type or "").lower()
    return hashlib.sha256(content).digest(), json_hint, limits, reading


def known_outcome(
    content: bytes,
    *,
    content_type: str | None,
    limits: SpecLimits = DEFAULT_LIMITS,
    reading: contracts.Reading | None = None,
) -> SpecDocument | SpecError | None:
    """What :func:`parse_spec` came to for these bytes earlier in this process, if kept."""
    return _PARSED.get(_outcome_key(content, content_type, limits, reading))


def keep_outcome(
    content: bytes,
    outcome: SpecDocument | SpecError,
    *,
    content_type: str | None,
    limits: SpecLimits = DEFAULT_LIMITS,
    reading: contracts.Reading | None = None,
) -> None:
    """Keep an outcome reached elsewhere (a worker process) as :func:`parse_spec` keeps its own."""
    _remember(_outcome_key(content, content_type, limits, reading), outcome)


def _remember(key: _OutcomeKey, outcome: SpecDocument | SpecError) -> None:
    global _parsed_bytes
    _PARSED[key] = outcome
    _parsed_bytes += _size(outcome)
    while len(_PARSED) > _PARSED_MAX or _parsed_bytes > _PARSED_MAX_BYTES:
        _parsed_bytes -= _size(_PARSED.pop(next(iter(_PARSED))))


def _size(outcome: SpecDocument | SpecError) -> int:
    if not isinstance(outcome, SpecDocument):
        return 0
    return len(outcome.content) + len(outcome.readable or b"")


def _parse(
    content: bytes,
    *,
    url: str,
    content_type: str | None,
    limits: SpecLimits,
    known: Mapping[str, Sequence[str]],
    digest: str,
) -> SpecDocument:
    try:
        if len(content) > limits.max_bytes:
            raise SpecRefusedError(f"{len(content)} bytes is over the {limits.max_bytes} limit")
        if _first_char(content) == "<":
            return wsdl.parse_wsdl(
                content,
                url=url,
                max_depth=limits.max_depth,
                max_errors=limits.max_errors,
                digest=digest,
                known=known,
            )
        tree, packaging = _load_tree(_decode(content), content_type=content_type, limits=limits)
        if isinstance(tree, dict) and "asyncapi" in tree:
            return contracts.asyncapi.read_document(
                tree,
                content,
                url=url,
                packaging=packaging,
                limits=limits,
                known=known,
                digest=digest,
            )
        return _openapi_document(
            tree, content, url=url, packaging=packaging, limits=limits, known=known, digest=digest
        )
    except RecursionError as exc:
        raise SpecRefusedError("document nests too deeply to read", url=url) from exc
    except SpecError as exc:
        exc.url = exc.url or url
        raise


def _first_char(content: bytes) -> str:
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return content[:256].decode(encoding, errors="ignore").lstrip()[:1]
    return content.lstrip()[:1].decode("latin-1")


def _decode(content: bytes) -> str:
    encoding = next((enc for bom, enc in _BOMS if content.startswith(bom)), "utf-8")
    try:
        text = content.decode(encoding)
    except UnicodeDecodeError as exc:
        raise NotASpecError(f"not {encoding} text (bad byte at offset {exc.start})") from exc
    if not text.strip():
        raise NotASpecError("empty body")
    return text


def _load_tree(
    text: str, *, content_type: str | None, limits: SpecLimits
) -> tuple[Json, Packaging]:
    json_error: ValueError | None = None
    if text.lstrip()[:1] in ("{", "["):
        try:
            return _bounded(_load_json(text), limits=limits), "json"
        except ValueError as exc:  # also "integer string too long"
            if "json" in (content_type or "").lower():
                raise NotASpecError(f"invalid JSON: {_short(str(exc))}") from exc
            json_error = exc  # YAML flow style also starts with a brace: try it
    try:
        _check_yaml_events(text, limits=limits)
        loaded = yaml.load(text, Loader=_YamlLoader)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        reason = f"invalid JSON: {json_error}" if json_error else f"not JSON or YAML: {exc}"
        raise NotASpecError(_short(reason)) from exc
    return _plain(loaded, limits=limits), "yaml"


#: A run of digits this long may be an integer past 64 bits, which orjson reads
#: as a float (the json module keeps it an int).
_LONG_NUMBER = re.compile(r"\d{19}")


def _load_json(text: str) -> object:
    """``json.loads``, through orjson (about twice as fast) where both agree.

    orjson refuses what the json module accepts beyond RFC 8259 (NaN, lone
    surrogates) and reads integers past 64 bits as floats: those documents go
    to the json module, so every document yields the same values, and every
    error the same message, as before.
    """
    if _LONG_NUMBER.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _bounded(tree: object, *, limits: SpecLimits) -> Json:
    """A document as the json module reads it, checked against the node and depth budgets.

    What :func:`_plain` checks, in the same order (so the same message for the
    same document), without copying: JSON already holds only plain values with
    string keys.
    """
    remaining = limits.max_nodes
    stack: list[tuple[object, int]] = [(tree, 0)]
    while stack:
        item, depth = stack.pop()
        remaining -= 1
        if remaining < 0:
            raise SpecRefusedError(f"document holds more than {limits.max_nodes} values")
        if depth > limits.max_depth:
            raise SpecRefusedError(f"document nests deeper than {limits.max_depth} levels")
        if isinstance(item, dict):
            stack.extend((value, depth + 1) for value in reversed(item.values()))
        elif isinstance(item, list):
            stack.extend((value, depth + 1) for value in reversed(item))
    return tree  # type: ignore[return-value]  # json values, as checked


def _check_yaml_events(text: str, *, limits: SpecLimits) -> None:
    """Refuse YAML that is too deep or whose aliases would expand too far.

    Runs over parser events, before anything is built: an alias bomb is a few
    hundred bytes whose expansion is billions of values.
    """
    aliases = 0
    expanded = 0  # values the document holds once every alias is expanded
    named: dict[str, int] = {}  # anchor -> expanded size of the value it names
    # One entry per open container (plus the stream): its anchor and size so far.
    anchors: list[str | None] = [None]
    sizes: list[int] = [0]
    for event in yaml.parse(text, Loader=_YamlLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            anchors.append(event.anchor)
            sizes.append(1)
            expanded += 1
            if len(sizes) - 1 > limits.max_depth:
                raise SpecRefusedError(f"YAML nests deeper than {limits.max_depth} levels")
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, size = anchors.pop(), sizes.pop()
            if anchor:
                named[anchor] = size
            sizes[-1] += size
            continue
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > limits.max_yaml_aliases:
                raise SpecRefusedError(f"YAML uses more than {limits.max_yaml_aliases} aliases")
            size = named.get(event.anchor or "", 1)
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
            if event.anchor:
                named[event.anchor] = 1
        else:
            continue
        sizes[-1] += size
        expanded += size
        if expanded > limits.max_nodes:
            raise SpecRefusedError(f"YAML expands to more than {limits.max_nodes} values")


def _plain(value: object, *, limits: SpecLimits) -> Json:
    """Copy a loaded document into plain JSON values, within the depth and node budgets.

    YAML gives int and bool keys (``200:``, ``yes:``), dates and shared (even
    cyclic) nodes; the validator and the extractors want JSON.
    """
    remaining = limits.max_nodes

    def convert(item: object, depth: int) -> Json:
        nonlocal remaining
        remaining -= 1
        if remaining < 0:
            raise SpecRefusedError(f"document holds more than {limits.max_nodes} values")
        if depth > limits.max_depth:
            raise SpecRefusedError(f"document nests deeper than {limits.max_depth} levels")
        if isinstance(item, dict):
            return {_key(key): convert(val, depth + 1) for key, val in item.items()}
        if isinstance(item, list | tuple):
            return [convert(val, depth + 1) for val in item]
        if isinstance(item, set | frozenset):
            return [convert(val, depth + 1) for val in sorted(item, key=repr)]
        if item is None or isinstance(item, str | bool | int | float):
            return item
        if isinstance(item, bytes):
            return item.decode("utf-8", errors="replace")
        if isinstance(item, datetime.date):
            return item.isoformat()
        return str(item)

    return convert(value, 0)


def _key(key: object) -> str:
    if isinstance(key, bool) or key is None:
        return json.dumps(key)  # true / false / null, as JSON spells them
    return key if isinstance(key, str) else str(key)


def _openapi_document(
    tree: Json,
    content: bytes,
    *,
    url: str,
    packaging: Packaging,
    limits: SpecLimits,
    known: Mapping[str, Sequence[str]],
    digest: str,
) -> SpecDocument:
    document, spec_format, version = _recognise(tree, packaging=packaging)
    matched = re.match(r"\d+\.\d+", version)
    family = matched.group(0) if matched else ""
    validator = _VALIDATOR_NAMES.get(family)
    check_key: str | None = None
    # "swagger" names only 2.0 and "openapi" only 3.x: anything else is unknown.
    if validator is None or (spec_format == "swagger") != (validator == "OpenAPIV2SpecValidator"):
        name = "OpenAPI" if spec_format == "openapi" else "Swagger"
        errors = [f"unsupported {name} version {version!r}"]
    else:
        check_key = "/".join((digest, validator, _VALIDATOR_VERSION, str(limits.max_errors)))
        remembered = known.get(check_key)
        errors = (
            list(remembered)
            if remembered is not None
            else _validate(
                document,
                _VALIDATORS[family],
                limits=limits,
                json_text=content if packaging == "json" else None,
            )
        )
    info = _dict(document.get("info"))
    api_version = info.get("version")
    operations = list(_operations(document))
    return SpecDocument(
        format=spec_format,
        spec_version=version,
        url=url,
        packaging=packaging,
        title=_text(info.get("title")),
        api_version=str(api_version) if _is_version(api_version) else None,
        description=_text(info.get("description")),
        operations=tuple(op for op, _ in operations),
        valid=not errors,
        errors=tuple(errors),
        content=content,
        base_path=_base_path(document, spec_format),
        tags=_tags(document, (tags for _, tags in operations)),
        check_key=check_key,
    )


def _recognise(tree: Json, *, packaging: Packaging) -> tuple[dict[str, Json], SpecFormat, str]:
    """Tell which kind of description ``tree`` is, by its top-level version key."""
    if not isinstance(tree, dict):
        kind = "an array" if isinstance(tree, list) else "a scalar"
        raise NotASpecError(f"{packaging.upper()} document is {kind}, not an API description")
    found: tuple[SpecFormat, Json] | None = None
    if "openapi" in tree:
        found = "openapi", tree["openapi"]
    elif "swagger" in tree:
        found = "swagger", tree["swagger"]
    elif _is_version(tree.get("swaggerVersion")):  # a Swagger 1.x resource listing
        found = "swagger", tree["swaggerVersion"]
    if found is not None:
        spec_format, value = found
        if not _is_version(value):
            raise NotASpecError(f"{spec_format!r} holds {_short(repr(value))}, not a version")
        return tree, spec_format, str(value).strip()
    keys = ", ".join(sorted(tree)[:8]) or "none"
    raise NotASpecError(
        f"{packaging.upper()} object without an 'openapi' or 'swagger' key (keys: {keys})"
    )


def _is_version(value: object) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


class _RefuseEveryScheme(Mapping[str, Callable[[str], NoReturn]]):
    """Resolver handlers for jsonschema-path that answer every URI with a refusal.

    jsonschema-path falls back to urllib (file:// included) for a scheme it has
    no handler for, so an empty mapping would not do: this one claims them all.
    """

    def __getitem__(self, scheme: str) -> Callable[[str], NoReturn]:
        return _refuse_retrieval

    def __contains__(self, scheme: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class _RetrievalRefused(LookupError):
    """A referenced document the validator asked for; it is never fetched."""


def _refuse_retrieval(uri: str) -> NoReturn:
    raise _RetrievalRefused(uri)


def _validate(
    tree: dict[str, Json],
    validator: type[SpecValidator],
    *,
    limits: SpecLimits,
    json_text: bytes | None = None,
) -> list[str]:
    """openapi-spec-validator's messages for ``tree`` (none: valid), the first ``max_errors``.

    ``json_text``, the JSON bytes ``tree`` was read from, lets a document
    whose every reference is plainly local skip the walk that looks for others.
    """
    # Imported here: a crawl that validates nothing never loads them (see _VALIDATOR_NAMES).
    from jsonschema_path import SchemaPath
    from referencing.exceptions import Unresolvable

    from discovery.contracts import openapicheck

    external = [] if json_text is not None and _refs_all_local(json_text) else _external_refs(tree)
    family = next((f for f, name in _VALIDATOR_NAMES.items() if name == validator.__name__), None)
    if not external and family is not None and openapicheck.proves_valid(tree, family):
        # The library would find nothing (see discovery.contracts.openapicheck): its
        # messages are only needed when there are some.
        return []
    errors = [f"$ref {ref!r} points outside the document and is not followed" for ref in external]
    schema_path = SchemaPath.from_dict(tree, base_uri="", handlers=_RefuseEveryScheme())
    try:
        for error in validator(schema_path).iter_errors():
            if len(errors) >= limits.max_errors:
                break
            errors.append(_describe(error))
    except Unresolvable as exc:
        # An external $ref stops validation where it is met; already reported.
        if not external:
            # A pointer that leads nowhere comes back as its bare JSON pointer.
            ref = f"#{exc.ref}" if exc.ref.startswith("/") else exc.ref
            errors.append(_short(f"$ref {ref!r} cannot be resolved"))
    except RecursionError:
        errors.append("validation stopped: the document nests too deeply")
    except Exception as exc:  # the validator's checks assume a sane shape; bad shapes break them
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        errors.append(_short(f"validation stopped early ({detail})"))
    finally:
        _forget_validators()
    return list(dict.fromkeys(errors))[: limits.max_errors]


def _forget_validators() -> None:
    """Drop openapi-spec-validator's memo of ``iter_errors``.

    It is an unbounded ``lru_cache`` keyed on the validator instance, so every
    validated document would otherwise stay in memory for the life of the process.
    """
    from openapi_spec_validator.validation.validators import SpecValidator

    memo = getattr(SpecValidator.iter_errors, "__wrapped__", None)
    cache_clear = getattr(memo, "cache_clear", None)
    if callable(cache_clear):
        cache_clear()


#: A "$ref" key as JSON spells it, and the same key holding a local pointer.
_REF_KEY = re.compile(rb'"\$ref"')
_LOCAL_REF = re.compile(rb'"\$ref"\s*:\s*"#')
_WIDE_BOMS = tuple(bom for bom, encoding in _BOMS if encoding != "utf-8-sig")


def _refs_all_local(text: bytes) -> bool:
    """Whether every reference in a JSON text is certainly local (``"$ref": "#..."``).

    Read from the bytes, which is much cheaper than walking the tree: true only
    when every ``"$ref"`` in them is a key holding a ``#`` string, and nothing
    could spell a reference key otherwise (a backslash-u escape, ``$dynamicRef``,
    ``$recursiveRef``). Anything else is "not certain", and the tree is walked.
    """
    if text.startswith(_WIDE_BOMS):  # UTF-16/32: the bytes do not spell it in ASCII
        return False
    if b"\\u" in text or b"$dynamicRef" in text or b"$recursiveRef" in text:
        return False
    return len(_REF_KEY.findall(text)) == len(_LOCAL_REF.findall(text))


def _external_refs(tree: Json) -> list[str]:
    found: dict[str, None] = {}
    stack: list[Json] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, dict):
            for key in _REF_KEYS:
                ref = node.get(key)
                if isinstance(ref, str) and not ref.startswith("#"):
                    found[ref] = None
            stack.extend(
                value
                for key, value in reversed(node.items())
                if key not in _DATA_KEYS and not key.startswith("x-")
            )
    return list(found)


def _describe(error: object) -> str:
    message = str(getattr(error, "message", error))
    where = ""
    for part in getattr(error, "absolute_path", ()):
        if isinstance(part, int):
            where += f"[{part}]"
        elif _PLAIN_KEY.match(str(part)):
            where += f".{part}" if where else str(part)
        else:
            where += f"[{json.dumps(str(part))}]"
    return _short(f"{where}: {message}" if where else message)


def _operations(tree: dict[str, Json]) -> Iterator[tuple[Operation, list[str]]]:
    for path, item in _dict(tree.get("paths")).items():
        path_item = _dict(item)
        for method in _METHODS:
            if method not in path_item:
                continue
            operation = _dict(path_item[method])
            operation_id = _text(operation.get("operationId"))
            tags = operation.get("tags")
            yield (
                Operation(
                    name=operation_id or f"{method.upper()} {path}",
                    method=method.upper(),
                    path=path,
                    summary=_text(operation.get("summary")),
                    deprecated=operation.get("deprecated") is True,
                ),
                [tag for tag in tags if isinstance(tag, str)] if isinstance(tags, list) else [],
            )


def _tags(tree: dict[str, Json], used: Iterable[list[str]]) -> tuple[str, ...]:
    declared = tree.get("tags")
    names = [
        name
        for tag in (declared if isinstance(declared, list) else [])
        if (name := _text(_dict(tag).get("name")))
    ]
    names.extend(tag for tags in used for tag in tags)
    return tuple(dict.fromkeys(names))


def _base_path(tree: dict[str, Json], spec_format: SpecFormat) -> str | None:
    if spec_format == "swagger":
        return _text(tree.get("basePath"))
    servers = tree.get("servers")
    if isinstance(servers, list) and servers:
        return _text(_dict(servers[0]).get("url"))
    return None


def _dict(value: Json) -> dict[str, Json]:
    return value if isinstance(value, dict) else {}


def _text(value: Json) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
