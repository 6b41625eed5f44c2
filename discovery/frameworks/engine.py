"""The order in which to try a port's candidate locations.

A :class:`Plan` is the queue for one port. It starts with what the operator
named (annotations, ``--probe-path``), then learns from every answer: signs
of a framework (see :mod:`discovery.frameworks.table`) move that framework's
locations to the front, links the server gives (see
:mod:`discovery.frameworks.pointers`) go straight to the front, and mount
prefixes learnt from redirects and listings are tried with the common
locations under them. Everything else follows in :data:`~table.WIDE_NET`'s
order. A sign orders; it never excludes: the probe's request budget is what
ends the search, not a guess about the framework.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from discovery import untrusted
from discovery.frameworks import pointers
from discovery.frameworks.table import (
    FRAMEWORKS,
    RESOURCE_SUFFIXES,
    SERVICE_SUFFIXES,
    WIDE_NET,
    WSDL_QUERIES,
    CandidateKind,
    Framework,
    Location,
    Sign,
)
from discovery.probing.fetch import Response

#: A framework counts as recognised from this score on.
RECOGNISED: Final = 0.5
#: Frameworks whose description is a WSDL.
SOAP_FRAMEWORKS: Final = frozenset({"cxf", "spring-ws", "aspnet-classic"})
#: A recognised server's first few locations come before the resource named
#: after the Service (the likely description first, the JSON check soon after).
_RESOURCE_AFTER: Final = 3
#: Common locations tried under each learnt mount prefix.
_PER_PREFIX: Final = 8
_BODY_SCAN: Final = 4096


@dataclass(frozen=True, slots=True)
class Candidate:
    """One thing to try on a port.

    ``how`` is the evidence check it counts as (``annotation``, ``configured``,
    ``link`` for a pointer the server gave, ``probe``); ``why`` says in words
    why it is tried.
    """

    path: str
    kind: CandidateKind
    how: str
    why: str


class Plan:
    """What to try next on one port, re-ordered by what its answers say."""

    def __init__(
        self,
        *,
        first: Sequence[Candidate] = (),
        service_name: str = "",
        exhaustive: bool = False,
        frameworks: Sequence[Framework] = FRAMEWORKS,
        wide_net: Sequence[Location] = WIDE_NET,
        route_prefixes: Sequence[str] = (),
    ) -> None:
        self._front: list[Candidate] = list(first)
        self._service_name = service_name
        self._exhaustive = exhaustive
        self._frameworks = tuple(frameworks)
        self._signs = _SIGNS if frameworks is FRAMEWORKS else _compile(self._frameworks)
        self._wide_net = tuple(wide_net)
        self._scores: dict[str, float] = {}
        self._seen_signs: set[tuple[str, int]] = set()
        self._tried: set[tuple[str, CandidateKind]] = set()
        #: Mount prefixes the server revealed: tried before the bare locations.
        self._prefixes: list[str] = []
        #: Prefixes Istio routes to the Service: tried after the bare locations.
        self._route_prefixes = [p for p in route_prefixes if p and p != "/"]
        self._revealed: list[str] = []
        self.soap_likely = False
        self.graphql_likely = False

    # --- learning -------------------------------------------------------------

    def observe(self, response: Response) -> list[str]:
        """Score the frameworks by ``response``'s signs; the names newly recognised."""
        before = set(self.recognised())
        ctype = response.content_type
        body = response.body[:_BODY_SCAN]
        # Error pages often repeat the path asked for ("/q/openapi not found"):
        # that echo is the prober's own words, not a sign of the server.
        asked = urlsplit(response.url).path.encode()
        if len(asked) > 1:
            body = body.replace(asked, b"/-")
        keys: set[str] = set()
        if ctype.endswith("json") and response.status >= 400:
            data = untrusted.load_json(response.body)
            if isinstance(data, dict):
                keys = set(data)
                if isinstance(data.get("errors"), list) and "data" not in data:
                    self.graphql_likely = True
        if ctype.endswith("xml") or (
            response.status == 405 and "GET" not in response.headers.get("allow", "GET").upper()
        ):
            self.soap_likely = True
        for compiled in self._signs:
            if compiled.marker in self._seen_signs or not compiled.matches(response, body, keys):
                continue
            self._seen_signs.add(compiled.marker)
            name = compiled.marker[0]
            self._scores[name] = self._scores.get(name, 0.0) + compiled.sign.weight
        if "cxf" in self.recognised() or "aspnet-classic" in self.recognised():
            self.soap_likely = True
        return [name for name in self.recognised() if name not in before]

    def follow(self, reading: pointers.Reading) -> None:
        """Put the links an answer gave at the front, and keep its prefixes."""
        for pointer in reading.pointers:
            self._front.append(Candidate(pointer.path, pointer.kind, "link", pointer.why))
            if pointer.kind == "graphql":
                self.graphql_likely = True
        for prefix in reading.prefixes:
            if prefix not in self._prefixes:
                self._prefixes.append(prefix)
        for path in reading.revealed:
            if path not in self._revealed and path != "/":
                self._revealed.append(path)

    def tried(self, path: str, kind: CandidateKind) -> None:
        """Mark a location as asked (also when asked outside the plan)."""
        self._tried.add((path, kind))

    def recognised(self) -> list[str]:
        """Frameworks whose signs passed :data:`RECOGNISED`, most likely first."""
        order = {f.name: i for i, f in enumerate(self._frameworks)}
        names = [n for n, s in self._scores.items() if s >= RECOGNISED]
        return sorted(names, key=lambda n: (-self._scores[n], order[n]))

    # --- choosing -------------------------------------------------------------

    def next(self) -> Candidate | None:
        """The most promising location not yet tried, or ``None`` when all were."""
        return self._first_untried(self._ordered())

    def next_wsdl(self) -> Candidate | None:
        """The next untried place a SOAP server keeps its WSDL."""
        return self._first_untried(self._wsdl())

    def _first_untried(self, candidates: Iterator[Candidate]) -> Candidate | None:
        for candidate in candidates:
            if (candidate.path, candidate.kind) not in self._tried:
                self._tried.add((candidate.path, candidate.kind))
                return candidate
        return None

    def _ordered(self) -> Iterator[Candidate]:
        yield from self._front
        by_name = {f.name: f for f in self._frameworks}
        recognised = [by_name[n] for n in self.recognised()]
        if self.soap_likely:
            yield from self._wsdl()
        if self.graphql_likely:
            yield from (c for c in self._wide(graphql_only=True))
        searched = itertools.chain(
            self._recognised_locations(recognised),
            self._prefixed(self._prefixes),
            self._recognised_locations(recognised, self._route_prefixes, bare=False),
            self._prefixed(self._route_prefixes),
            self._wide(),
        )
        for index, candidate in enumerate(searched):
            if index == _RESOURCE_AFTER:
                yield from self._resource()
            yield candidate
        if not self.soap_likely:
            yield from self._wsdl()
        if self._exhaustive:
            for framework in self._frameworks:
                for location in framework.locations:
                    for path in self._expand(location.path):
                        yield Candidate(
                            path, location.kind, "probe", f"exhaustive: {framework.label}"
                        )

    def _recognised_locations(
        self,
        recognised: Sequence[Framework],
        prefixes: Sequence[str] | None = None,
        *,
        bare: bool = True,
    ) -> Iterator[Candidate]:
        # Round by round: each recognised framework's first location, then each
        # one's second...: one server's signs often fit several frameworks.
        queues = [(f"fingerprint: {f.label}", f.locations) for f in recognised]
        depth = max((len(locations) for _, locations in queues), default=0)
        mounts = [*(self._prefixes if prefixes is None else prefixes), *([""] if bare else [])]
        for prefix in mounts:
            for index in range(depth):
                for label, locations in queues:
                    if index < len(locations):
                        location = locations[index]
                        why = f"{label}, under {prefix}" if prefix else label
                        for path in self._expand(prefix + location.path):
                            yield Candidate(path, location.kind, "probe", why)

    def _prefixed(self, prefixes: Sequence[str]) -> Iterator[Candidate]:
        for prefix in prefixes:
            for location in self._wide_net[:_PER_PREFIX]:
                why = f"common location under {prefix}"
                yield Candidate(prefix + location.path, location.kind, "probe", why)

    def _resource(self) -> Iterator[Candidate]:
        """A resource named after the Service: where a JSON API without a description
        shows itself, and whose JSON may reveal where the API is mounted."""
        for path in self._expand("/{resource}"):
            yield Candidate(path, "get", "probe", "a resource named after the Service")

    def _wide(self, *, graphql_only: bool = False) -> Iterator[Candidate]:
        for rank, location in enumerate(self._wide_net, 1):
            if graphql_only and location.kind != "graphql":
                continue
            for path in self._expand(location.path):
                yield Candidate(path, location.kind, "probe", f"common location #{rank}")

    def _wsdl(self) -> Iterator[Candidate]:
        """Where a SOAP server keeps its WSDL: links it gave, its framework's
        places, ``?wsdl`` on every path it revealed, then the usual guesses."""
        yield from self._front
        by_name = {f.name: f for f in self._frameworks}
        for name in self.recognised():
            if name in SOAP_FRAMEWORKS:
                for location in by_name[name].locations:
                    for path in self._expand(location.path):
                        yield Candidate(path, "get", "probe", f"fingerprint: {by_name[name].label}")
        for path in self._revealed:
            for query in WSDL_QUERIES[:1] if len(self._revealed) > 3 else WSDL_QUERIES:
                yield Candidate(path + query, "get", "probe", "WSDL of a path the server revealed")
        for query in WSDL_QUERIES:
            yield Candidate("/" + query, "get", "probe", "WSDL at the root")
        yield Candidate("/services", "get", "probe", "Apache CXF service listing")
        for path in self._expand("/ws/{service}.wsdl"):
            yield Candidate(path, "get", "probe", "Spring-WS WSDL named after the Service")

    def _expand(self, path: str) -> list[str]:
        if "{resource}" in path or "{Resource}" in path:
            resource = _resource(self._service_name)
            if not resource:
                return []
            return [path.replace("{resource}", resource).replace("{Resource}", resource.title())]
        if "{service}" not in path:
            return [path]
        if not self._service_name:
            return []
        stems = [self._service_name]
        for suffix in SERVICE_SUFFIXES:
            if self._service_name.endswith(suffix):
                stems.append(self._service_name[: -len(suffix)])
        return [path.replace("{service}", stem) for stem in dict.fromkeys(stems)]


def _resource(service_name: str) -> str | None:
    """The resource a Service is likely named after: ``payments`` for ``billing-payments-api``."""
    stem = service_name
    for suffix in RESOURCE_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            break
    last = stem.rsplit("-", 1)[-1]
    return last if last.isalnum() and not last.isdigit() else None


_HEADER_OF: Final = {"header": "", "cookie": "set-cookie", "location": "location"}


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A sign and its matcher, compiled once: signs are matched on every answer."""

    marker: tuple[str, int]
    sign: Sign
    keys: frozenset[str] = frozenset()
    text: re.Pattern[str] | None = None
    raw: re.Pattern[bytes] | None = None

    def matches(self, response: Response, body: bytes, keys: set[str]) -> bool:
        if self.raw is not None:
            return self.raw.search(body) is not None
        if self.text is not None:
            value = response.headers.get(_HEADER_OF[self.sign.place] or self.sign.name, "")
            return bool(value) and self.text.search(value) is not None
        return bool(keys) and self.keys <= keys


def _compile(frameworks: Sequence[Framework]) -> tuple[_Compiled, ...]:
    out: list[_Compiled] = []
    for framework in frameworks:
        for index, sign in enumerate(framework.signs):
            marker = (framework.name, index)
            if sign.place == "json-keys":
                out.append(_Compiled(marker, sign, keys=frozenset(sign.pattern.split(","))))
            elif sign.place == "body":
                out.append(_Compiled(marker, sign, raw=re.compile(sign.pattern.encode(), re.I)))
            else:
                out.append(_Compiled(marker, sign, text=re.compile(sign.pattern, re.I)))
    return tuple(out)


_SIGNS: Final = _compile(FRAMEWORKS)
