"""Search one HTTP port for its API description, and classify what answers.

In order: the paths the operator named (annotations, ``--probe-path``);
where the description was last time (one request on a warm run); ``GET /``
without following its redirect. From then on a :class:`~discovery.frameworks.Plan`
chooses each next request: links the server gave (docs pages, ``Link``
headers, listings, redirects) first, then the recognised frameworks'
locations, then the wide net, until a valid description is found or the
port's request budget is spent. A port without a description is classified
by how it answered: GraphQL, a SOAP Fault, JSON, or plain HTTP.

"No description" is a verdict only when the search was answered: a port
whose requests went unanswered (timeouts, resets, refusals), whose every
answer was a server error (a 5xx storm: a restarting or overloaded
workload), whose operator-named or remembered description location answered
a 5xx, or whose Service spent its per-Service budget, is a problem of the
run instead. Nothing is learnt from it, and it is probed in full next time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from discovery import classify, contracts, frameworks, specs
from discovery.errors import BudgetExhausted, NotASpecError, ProbeError, ProbeTimeout, SpecError
from discovery.frameworks import Candidate, Plan
from discovery.model import (
    Api,
    ApiKind,
    Evidence,
    Hint,
    Problem,
    Service,
    ServicePort,
    SpecDocument,
)
from discovery.probing import fetch
from discovery.probing.fetch import Fetcher, Response, ServiceBudget
from discovery.specpool import SpecPool

_SOAP11_EMPTY: Final = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soap:Body/></soap:Envelope>"
)
_GRAPHQL_QUERY: Final = b'{"query":"{ __typename }"}'
#: How sure each way of knowing is.
CONFIDENCE: Final = {
    "spec": 1.0,
    "invalid-spec": 0.8,
    "grpc-reflection": 1.0,
    "grpc-status": 0.9,
    "graphql": 0.95,
    "soap-fault": 0.9,
    "json": 0.6,
    "http": 0.7,
    "port-protocol": 0.5,
}
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
#: How :mod:`discovery.specpool` words a refusal for passing a CPU, memory or wall limit.
_PAST_A_LIMIT: Final = "validation exceeded"
#: Where a 5xx answer means "unavailable now", not "no description here".
_EXPECTED_HERE: Final = frozenset({"annotation", "configured", "remembered"})
#: How the path of a served GraphQL schema ends (Spring GraphQL's printer, SDL files).
_SCHEMA_FILES: Final = ("/schema", ".graphql", ".graphqls", ".gql", ".sdl")
#: What each framework in the table is called in evidence.
_LABELS: Final = {f.name: f.label for f in frameworks.FRAMEWORKS}


@dataclass(frozen=True, slots=True)
class Step:
    """One request made while probing a port, and what came of it."""

    method: str
    url: str
    status: int | None
    content_type: str | None
    why: str
    verdict: str

    def __str__(self) -> str:
        status = self.status if self.status is not None else "---"
        ctype = self.content_type or "-"
        return f"{self.method:4} {self.url}  {status}  {ctype}  [{self.why}]  {self.verdict}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What probing one port came to."""

    api: Api | None
    requests: int
    problem: Problem | None = None
    silent: bool = False  # no answer in time


@dataclass
class _State:
    """Mutable state while probing one port."""

    base: str
    budget: int
    deadline: float | None = None  # shorter than the limits' while a quiet port is silent
    requests: int = 0
    evidence: list[Evidence] = field(default_factory=list)
    json_seen: bool = False
    fallback: SpecDocument | None = None
    graphql_at: str | None = None
    #: A contract read from the API itself (a GraphQL schema).
    contract: SpecDocument | None = None
    soap_fault: bool = False
    #: Requests that got no answer: without a description, the search is not a verdict.
    failures: list[ProbeError] = field(default_factory=list)
    #: HTTP answers received, and how many of them were server errors (5xx).
    answers: int = 0
    server_errors: int = 0
    #: A followed request still ended on a redirect (a loop, or a long chain): said once.
    redirect_loop: bool = False
    trail: list[Step] | None = None

    def step(
        self, method: str, url: str, response: Response | None, why: str, verdict: str
    ) -> None:
        if self.trail is not None:
            self.trail.append(
                Step(
                    method,
                    url,
                    response.status if response else None,
                    response.content_type if response else None,
                    why,
                    verdict,
                )
            )


class PortSearch:
    """The search of one HTTP port; :meth:`run` once."""

    def __init__(
        self,
        *,
        fetcher: Fetcher,
        service: Service,
        port: ServicePort,
        address: str,
        target_port: int,
        budget: int,
        extra_paths: Sequence[str] = (),
        exhaustive: bool = False,
        hint: Hint | None = None,
        quiet_deadline: float | None = None,
        checks: Mapping[str, Sequence[str]] | None = None,
        known_digests: Collection[str] = (),
        pool: SpecPool | None = None,
        trail: list[Step] | None = None,
        service_budget: ServiceBudget | None = None,
    ) -> None:
        host = f"[{address}]" if ":" in address else address
        base = f"http://{host}:{target_port}"
        self.fetcher = fetcher
        self.service = service
        self.port = port
        self.hint = hint
        self.quiet = quiet_deadline is not None
        self.checks = checks or {}
        self.known_digests = known_digests
        #: Where descriptions are parsed and validated, each bounded; None: inline.
        self.pool = pool
        #: What the whole Service may still cost (shared with its other ports).
        self.service_budget = service_budget
        self.extra_paths = tuple(extra_paths)
        self.exhaustive = exhaustive
        self.state = _State(base=base, budget=budget, deadline=quiet_deadline, trail=trail)
        key = service.key
        self.origin = frameworks.Origin(
            base=base,
            hosts=frozenset(
                {
                    key.name,
                    f"{key.name}.{key.namespace}",
                    f"{key.name}.{key.namespace}.svc",
                    f"{key.name}.{key.namespace}.svc.cluster.local",
                    *service.cluster_ips,
                    *service.ready_addresses,
                }
            ),
            ports=frozenset({port.port, target_port}),
        )

    async def run(self) -> Outcome:
        """Probe the port; never raises for network trouble."""
        state = self.state
        key = self.service.key
        try:
            if self.hint is not None:
                remembered = await self._remembered(self.hint)
                if remembered is not None:
                    return Outcome(self._api(*remembered), state.requests)
            spec = await self._search()
            if spec is not None:
                kind = classify.kind_of_spec(spec)
                confidence = CONFIDENCE["spec" if spec.valid else "invalid-spec"]
            else:
                kind, confidence = await self._classify_without_spec()
        except BudgetExhausted as exc:
            # The Service's share of the crawl is spent: a problem, never silence.
            where = f"{key}:{self.port.port}"
            why = f"{exc.message} (at {exc.url})" if exc.url else exc.message
            return Outcome(None, state.requests, Problem(where, "probe stopped", why))
        except ProbeError as exc:
            # Silent: no answer at all in this run. A port that answered some
            # requests and then stalled is a problem, but not a quiet port.
            silent = isinstance(exc, ProbeTimeout) and state.answers == 0
            sniffed = self.port.mesh_protocol == "unknown" and not state.answers
            if state.requests <= 1 and sniffed and not self.quiet:
                # Istio would sniff this port; it does not speak HTTP. (A quiet
                # port had only the short deadline: that proves nothing, so it
                # stays a problem and the run does not count its APIs as gone.)
                return Outcome(None, state.requests, silent=silent)
            why = f"{exc.message} ({exc.url})"
            if silent and self.quiet:
                why += "; silent last run too, so re-checked with a short deadline (--cold: full)"
            problem = Problem(where=f"{key}:{self.port.port}", what="probe failed", why=why)
            return Outcome(None, state.requests, problem, silent)
        return Outcome(self._api(spec, kind, confidence), state.requests)

    def _api(self, spec: SpecDocument | None, kind: ApiKind, confidence: float) -> Api:
        return Api(
            service=self.service.key,
            port=self.port,
            kind=kind,
            base_url=endpoint(self.service, self.port),
            spec=spec,
            evidence=tuple(self.state.evidence),
            requests=self.state.requests,
            confidence=confidence,
            contract=self.state.contract,
        )

    # --- warm runs ------------------------------------------------------------

    async def _remembered(self, hint: Hint) -> tuple[SpecDocument | None, ApiKind, float] | None:
        """Go straight to what worked last time; ``None`` sends the port to full probing."""
        state = self.state
        # What worked last time is likely the port's only request: nothing to keep open.
        if hint.kind == "graphql" and hint.path is not None:
            if self._schema_location(hint.path):
                why = "where the GraphQL schema was last time"
                if await self._schema_file(hint.path, how="remembered", why=why, last=True):
                    return None, "graphql", self._graphql_confidence()
                return None
            why = "where GraphQL answered last time: its schema, by introspection"
            if await self._introspect(hint.path, why=why, warm=True):
                return None, "graphql", self._graphql_confidence()
            return None
        if hint.path is not None:
            doc = await self._try(
                Candidate(hint.path, "get", "remembered", "where the description was last time"),
                last=True,
            )
            if doc is None and state.fallback is not None:
                # What was published last time fails validation: still the
                # description this port serves, and nothing better was found then.
                doc, state.fallback = state.fallback, None
                return doc, classify.kind_of_spec(doc), CONFIDENCE["invalid-spec"]
            if doc is None:
                return None
            return doc, classify.kind_of_spec(doc), CONFIDENCE["spec"]
        if hint.kind == "soap":
            if await self._soap_fault("/"):
                return None, "soap", CONFIDENCE["soap-fault"]
            return None
        if hint.kind not in ("http", "rest"):
            return None
        if hint.knowledge != frameworks.KNOWLEDGE:
            return None  # found without a description by a search that knew less
        root = await self._get("/", why="remembered", follow=False, last=True)
        if root is None or root.status >= 500:
            return None  # a server error proves nothing: searched in full
        state.evidence.append(
            Evidence(
                "remembered",
                f"{hint.kind} last time, no description; / still answers",
                root.url,
                root.status,
                root.content_type,
            )
        )
        return None, hint.kind, CONFIDENCE["json" if hint.kind == "rest" else "http"]

    # --- the search -----------------------------------------------------------

    async def _search(self) -> SpecDocument | None:
        state = self.state
        overrides = self.service.overrides
        first = [
            Candidate(path, "get", "annotation", "named by an annotation")
            for path in (overrides.openapi_path, overrides.wsdl_path)
            if path
        ] + [Candidate(path, "get", "configured", "--probe-path") for path in self.extra_paths]
        plan = Plan(
            service_name=self.service.key.name,
            exhaustive=self.exhaustive,
            route_prefixes=self.service.path_prefixes,
        )
        # The operator's paths come before anything else, the root included.
        for candidate in dict.fromkeys(first):
            plan.tried(candidate.path, candidate.kind)
            if doc := await self._try(candidate, plan=plan):
                return doc
        if schema_path := overrides.graphql_schema_path:
            plan.tried(schema_path, "get")
            why = "named by meshatlas.io/graphql-schema-path"
            if await self._schema_file(schema_path, how="annotation", why=why):
                return None  # a GraphQL API whose schema its operator named
        root = await self._get("/", why="root", follow=False)
        plan.tried("/", "get")
        if root is not None:
            if recognised := plan.observe(root):
                self._fingerprint(recognised, root)
            if root.status == 200 and not root.truncated:
                if specs.looks_like_wsdl(root.body) or root.content_type.endswith(("json", "yaml")):
                    # Some servers answer their description at the root itself.
                    if doc := await self._accept(root, "probe", quiet_refusal=True):
                        return doc
            plan.follow(frameworks.read(root, self.origin))
            state.step("GET", root.url, root, "root", self._root_verdict(plan))
        if plan.soap_likely:
            # A SOAP server: its WSDL first, then a Fault for an empty envelope
            # settles the kind; an OpenAPI document is not looked for then.
            while state.requests < state.budget - 1 and (chosen := plan.next_wsdl()):
                if doc := await self._try(chosen, plan=plan):
                    return doc
            if await self._soap_fault("/"):
                return None
        while state.requests < state.budget and (chosen := plan.next()):
            if chosen.kind == "graphql":
                if await self._graphql(chosen.path, chosen.how, chosen.why):
                    await self._introspect(chosen.path, why="its schema, by introspection")
                    return None
                continue
            if doc := await self._try(chosen, plan=plan):
                return doc
        found_graphql = state.graphql_at is not None or state.contract is not None
        if state.fallback is None and state.failures and not found_graphql:
            # Part of the search went unanswered: "no description" would be a guess.
            raise state.failures[0]
        if state.fallback is None and state.answers and state.server_errors == state.answers:
            raise ProbeError(
                f"every answer ({state.answers}) was a server error (5xx): no verdict this run",
                url=state.base + "/",
            )
        return state.fallback

    def _root_verdict(self, plan: Plan) -> str:
        names = plan.recognised()
        return f"looks like {', '.join(names)}" if names else "no framework recognised"

    def _fingerprint(self, recognised: list[str], response: Response) -> None:
        self.state.evidence.append(
            Evidence(
                "fingerprint",
                ", ".join(_LABELS[n] for n in recognised),
                response.url,
                response.status,
                response.content_type,
            )
        )

    async def _try(
        self, candidate: Candidate, *, plan: Plan | None = None, last: bool = False
    ) -> SpecDocument | None:
        """GET a candidate; its description if valid; learn from the answer otherwise."""
        state = self.state
        try:
            response = await self._get(candidate.path, why=candidate.why, last=last)
        except BudgetExhausted:
            raise
        except ProbeError as exc:
            state.evidence.append(Evidence(candidate.how, f"gave up: {exc.message}", exc.url))
            state.step(
                "GET", exc.url or state.base + candidate.path, None, candidate.why, "gave up"
            )
            state.failures.append(exc)
            return None
        if response is None:
            return None
        verdict = str(response.status)
        if response.status >= 500 and candidate.how in _EXPECTED_HERE:
            # Where the description should be, it is unavailable now: not absent.
            state.failures.append(
                ProbeError(
                    f"{candidate.path} ({candidate.why}) answered {response.status}",
                    url=response.url,
                )
            )
        doc: SpecDocument | None = None
        if response.refused_redirect:
            state.evidence.append(
                Evidence(
                    candidate.how,
                    f"redirect off the Service refused: {response.refused_redirect}",
                    response.url,
                    response.status,
                )
            )
            verdict = f"redirect off the Service refused: {response.refused_redirect}"
        elif response.truncated:
            state.evidence.append(
                Evidence(
                    candidate.how,
                    "body over the size cap, not parsed",
                    response.url,
                    response.status,
                )
            )
            verdict = "body over the size cap, not parsed"
        elif response.status in _REDIRECTS and "location" in response.headers:
            verdict = f"still redirecting after {fetch.MAX_REDIRECTS} redirects, not followed"
            if not state.redirect_loop:
                state.redirect_loop = True
                seen = Evidence(candidate.how, verdict, response.url, response.status)
                state.evidence.append(seen)
        elif response.status == 200:
            quiet = candidate.how == "probe"
            doc = await self._accept(response, candidate.how, quiet_refusal=quiet)
            if doc is not None:
                verdict = f"{doc.format} {doc.spec_version}, {doc.operation_count} operations"
            elif state.fallback is not None and state.fallback.url == response.url:
                verdict = "description fails validation: kept as a fallback"
        if doc is None and not response.truncated and not response.refused_redirect:
            recognised = plan.observe(response) if plan is not None else []
            if recognised:
                self._fingerprint(recognised, response)
            reading = frameworks.read(response, self.origin)
            if reading.embedded is not None and response.status == 200:
                doc = await self._accept_bytes(
                    reading.embedded,
                    url=response.url,
                    content_type="application/json",
                    how=candidate.how,
                    status=response.status,
                )
                if doc is not None:
                    verdict = (
                        f"embedded {doc.format} {doc.spec_version},"
                        f" {doc.operation_count} operations"
                    )
            if doc is None and plan is not None:
                plan.follow(reading)
                if reading.pointers:
                    verdict += f"; points at {', '.join(p.path for p in reading.pointers[:4])}"
                if recognised:
                    verdict += f"; looks like {', '.join(recognised)}"
        state.step("GET", response.url, response, candidate.why, verdict)
        return doc

    async def _accept(
        self, response: Response, how: str, *, quiet_refusal: bool
    ) -> SpecDocument | None:
        return await self._accept_bytes(
            response.body,
            url=response.url,
            content_type=response.content_type,
            how=how,
            status=response.status,
            quiet_refusal=quiet_refusal,
        )

    async def _accept_bytes(
        self,
        body: bytes,
        *,
        url: str,
        content_type: str,
        how: str,
        status: int,
        quiet_refusal: bool = True,
    ) -> SpecDocument | None:
        state = self.state
        spent = self.service_budget.validation_refused if self.service_budget else None
        if spent is not None and self._costly(body, content_type):
            # One description past a validation limit is this Service's share of
            # the workers; another new one would take it again.
            if content_type.endswith(("json", "yaml", "xml")):
                said = f"not validated: another description of this Service was refused ({spent})"
                state.evidence.append(Evidence(how, said, url, status, content_type))
            return None
        try:
            if self.pool is None:
                doc = specs.parse_spec(body, url=url, content_type=content_type, known=self.checks)
            else:
                doc = await self.pool.parse(
                    body,
                    url=url,
                    content_type=content_type,
                    known=self.checks,
                    known_digests=self.known_digests,
                )
        except SpecError as exc:
            if self.service_budget is not None and exc.message.startswith(_PAST_A_LIMIT):
                self.service_budget.validation_refused = exc.message
            claimed = content_type.endswith(("json", "yaml", "xml"))
            if not isinstance(exc, NotASpecError) or claimed or not quiet_refusal:
                if (
                    isinstance(exc, NotASpecError)
                    and quiet_refusal
                    and _ordinary_json(body, content_type)
                ):
                    return None  # an API's own JSON answer: not a description, nothing to say
                state.evidence.append(Evidence(how, f"refused: {exc}", url, status, content_type))
            return None
        what = f"{doc.format} {doc.spec_version}" + ("" if doc.valid else " (invalid)")
        state.evidence.append(Evidence(how, what, url, status, content_type))
        if doc.valid:
            return doc
        state.fallback = state.fallback or doc
        return None

    def _costly(self, body: bytes, content_type: str) -> bool:
        """Whether these bytes would go to a worker: not validated before, here or earlier."""
        if self.pool is None or specs.known_outcome(body, content_type=content_type) is not None:
            return False
        return hashlib.sha256(body).hexdigest() not in self.known_digests

    # --- requests -------------------------------------------------------------

    async def _get(
        self, path: str, *, why: str, follow: bool = True, last: bool = False
    ) -> Response | None:
        """GET ``path`` of the port; ``last`` when no other request is expected."""
        state = self.state
        if state.requests >= state.budget:
            return None
        try:
            response, spent = await self.fetcher.request(
                "GET",
                state.base + path,
                follow_redirects=follow,
                deadline=state.deadline,
                quiet=state.deadline is not None,
                keep_alive=not last,
                budget=self.service_budget,
            )
        except BudgetExhausted as exc:
            state.requests += exc.sent
            raise
        except ProbeError:
            state.requests += 1
            raise
        state.requests += spent
        self._answered(response)
        if response.content_type.endswith("json"):
            state.json_seen = True
        return response

    async def _post(
        self, path: str, body: bytes, headers: dict[str, str], *, why: str
    ) -> Response | None:
        state = self.state
        if state.requests >= state.budget:
            return None
        url = state.base + path
        try:
            response, spent = await self.fetcher.request(
                "POST",
                url,
                headers=headers,
                content=body,
                deadline=state.deadline,
                quiet=state.deadline is not None,
                budget=self.service_budget,
            )
        except BudgetExhausted as exc:
            state.requests += exc.sent
            raise
        except ProbeError as exc:
            state.requests += 1
            state.step("POST", url, None, why, f"gave up: {exc.message}")
            state.failures.append(exc)
            return None
        state.requests += spent
        self._answered(response)
        return response

    def _answered(self, response: Response) -> None:
        state = self.state
        state.deadline = None  # it answers: the full deadline from now on
        state.answers += 1
        state.server_errors += response.status >= 500

    async def _graphql(self, path: str, how: str, why: str) -> bool:
        state = self.state
        response = await self._post(
            path,
            _GRAPHQL_QUERY,
            {"Content-Type": "application/json", "Accept": "application/json"},
            why=why,
        )
        if response is None:
            return False
        if classify.is_graphql(response):
            state.graphql_at = path
            state.evidence.append(
                Evidence(
                    "graphql",
                    "answered { __typename }",
                    response.url,
                    response.status,
                    response.content_type,
                )
            )
            state.step("POST", response.url, response, why, "GraphQL answered { __typename }")
            return True
        state.step("POST", response.url, response, why, f"{response.status}: not GraphQL")
        return False

    async def _soap_fault(self, path: str) -> bool:
        state = self.state
        why = "SOAP envelope (the server looks like SOAP)"
        response = await self._post(
            path,
            _SOAP11_EMPTY,
            {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
            why=why,
        )
        if response is not None and (version := specs.looks_like_soap_fault(response.body)):
            state.soap_fault = True
            state.evidence.append(
                Evidence(
                    "soap-fault",
                    f"SOAP {version} Fault for an empty envelope",
                    response.url,
                    response.status,
                    response.content_type,
                )
            )
            state.step("POST", response.url, response, why, f"SOAP {version} Fault")
            return True
        if response is not None:
            state.step("POST", response.url, response, why, f"{response.status}: no SOAP Fault")
        return False

    # --- GraphQL schemas -------------------------------------------------------

    async def _introspect(self, path: str, *, why: str, warm: bool = False) -> bool:
        """Ask ``path`` for its schema with the introspection query, in one request.

        True when the answer was GraphQL's: the schema (kept as the contract),
        or a refusal, after which a cold run looks for a served schema file. On
        a warm run this request alone shows the endpoint still answers GraphQL.
        """
        state = self.state
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if state.requests >= state.budget:
            said = "not asked: the port's request budget is spent"
            state.evidence.append(Evidence("graphql-introspection", said, state.base + path))
            return False
        response = await self._post(path, contracts.graphql.INTROSPECTION_REQUEST, headers, why=why)
        if response is None:
            return False
        verdict: str
        refused = None if response.truncated else contracts.graphql.refusal(response.body)
        graphql_answer = True
        if response.truncated:
            verdict = "introspection answer over the size cap, not read"
        elif refused is not None:
            verdict = f"introspection refused: {refused}"
        elif response.status != 200 or not response.content_type.endswith("json"):
            verdict = f"{response.status}: no introspection answer"
            graphql_answer = False
        else:
            doc, verdict = await self._read_schema(response.body, response)
            graphql_answer = doc is not None or not warm
            if doc is not None:
                state.contract = doc
        if warm and graphql_answer:
            said = "answered the introspection query where GraphQL answered last time"
            state.evidence.append(
                Evidence("graphql", said, response.url, response.status, response.content_type)
            )
            state.graphql_at = path
        if graphql_answer or not warm:
            state.evidence.append(
                Evidence(
                    "graphql-introspection",
                    verdict,
                    response.url,
                    response.status,
                    response.content_type,
                )
            )
        state.step("POST", response.url, response, why, verdict)
        if refused is not None and not warm:
            # Spring for GraphQL prints the schema beside its endpoint
            # (spring.graphql.schema.printer.enabled): where introspection is off.
            # A warm run does not look: a schema found there is remembered there.
            printed = path.rstrip("/") + "/schema"
            await self._schema_file(printed, how="probe", why="the schema Spring GraphQL prints")
        return graphql_answer

    async def _schema_file(self, path: str, *, how: str, why: str, last: bool = False) -> bool:
        """GET a served schema (SDL, or an introspection result); True when it was one."""
        state = self.state
        try:
            response = await self._get(path, why=why, last=last)
        except BudgetExhausted:
            raise
        except ProbeError as exc:
            state.evidence.append(Evidence(how, f"gave up: {exc.message}", exc.url))
            state.step("GET", exc.url or state.base + path, None, why, "gave up")
            if how != "probe":
                state.failures.append(exc)
            return False
        if response is None:
            return False
        if response.status >= 500 and how in _EXPECTED_HERE:
            # Where the schema should be, it is unavailable now: not absent.
            state.failures.append(
                ProbeError(f"{path} ({why}) answered {response.status}", url=response.url)
            )
        if response.status != 200 or response.truncated:
            verdict = "body over the size cap, not read" if response.truncated else "no schema"
            state.step("GET", response.url, response, why, f"{response.status}: {verdict}")
            if how != "probe":
                state.evidence.append(
                    Evidence("graphql-schema", verdict, response.url, response.status)
                )
            return False
        doc, verdict = await self._read_schema(response.body, response)
        state.step("GET", response.url, response, why, verdict)
        if doc is None and how == "probe":
            return False
        state.evidence.append(
            Evidence(
                "graphql-schema", verdict, response.url, response.status, response.content_type
            )
        )
        if doc is not None:
            state.contract = doc
        return doc is not None

    async def _read_schema(
        self, body: bytes, response: Response
    ) -> tuple[SpecDocument | None, str]:
        """The schema in ``body``, read in a worker, and the words for it."""
        budget = self.service_budget
        reading = contracts.Reading("graphql")
        content_type = response.content_type
        spent = budget.validation_refused if budget else None
        known = specs.known_outcome(body, content_type=content_type, reading=reading)
        if spent is not None and known is None and self.pool is not None:
            return None, f"not read: another description of this Service was refused ({spent})"
        try:
            if self.pool is None:
                doc = specs.parse_spec(
                    body, url=response.url, content_type=content_type, reading=reading
                )
            else:
                doc = await self.pool.parse(
                    body, url=response.url, content_type=content_type, reading=reading
                )
        except SpecError as exc:
            if budget is not None and exc.message.startswith(_PAST_A_LIMIT):
                budget.validation_refused = exc.message
            return None, f"schema not read: {exc.message}"
        said = f"GraphQL schema ({doc.spec_version}), {doc.operation_count} operations"
        if not doc.valid:
            said += "; invalid: " + "; ".join(doc.errors[:3])
        return doc, said

    def _schema_location(self, path: str) -> bool:
        """Whether a remembered path is a schema file rather than the GraphQL endpoint."""
        if path == self.service.overrides.graphql_schema_path:
            return True
        return path.split("?", 1)[0].lower().endswith(_SCHEMA_FILES)

    def _graphql_confidence(self) -> float:
        contract = self.state.contract
        return (
            CONFIDENCE["spec"] if contract is not None and contract.valid else CONFIDENCE["graphql"]
        )

    async def _classify_without_spec(self) -> tuple[ApiKind, float]:
        state = self.state
        if state.graphql_at is not None or state.contract is not None:
            return "graphql", self._graphql_confidence()
        if state.soap_fault:
            return "soap", CONFIDENCE["soap-fault"]
        if state.json_seen:
            state.evidence.append(Evidence("json", "JSON answers, no API description found"))
            return "rest", CONFIDENCE["json"]
        state.evidence.append(Evidence("http", "answers HTTP, no API description found"))
        return "http", CONFIDENCE["http"]


def _ordinary_json(body: bytes, content_type: str) -> bool:
    """JSON that is an API's own answer (a listing, an error), not a broken description."""
    head = body[:4096].lower()
    described = any(word in head for word in (b"openapi", b"swagger", b"asyncapi"))
    return content_type.endswith("json") and not described


def endpoint(service: Service, port: ServicePort) -> str:
    """The in-cluster URL people use for this port."""
    scheme = "grpc" if port.mesh_protocol == "grpc" else "http"
    return f"{scheme}://{service.key.name}.{service.key.namespace}.svc.cluster.local:{port.port}"
