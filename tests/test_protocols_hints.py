"""Port protocol decisions (Istio's rules) and annotation handling."""

from __future__ import annotations

import pytest

from discovery import hints
from discovery.protocols import mesh_protocol


@pytest.mark.parametrize(
    ("name", "port", "protocol", "app_protocol", "expected"),
    [
        ("http", 8080, "TCP", None, "http"),
        ("http-api", 8000, "TCP", None, "http"),
        ("http2-x", 80, "TCP", None, "http2"),
        ("grpc", 50051, "TCP", None, "grpc"),
        ("grpc-web", 8080, "TCP", None, "grpc-web"),
        ("grpc-web-ui", 8080, "TCP", None, "grpc-web"),
        ("tcp-redis", 6379, "TCP", None, "tcp"),
        ("redis", 6379, "TCP", None, "redis"),
        ("https", 443, "TCP", None, "https"),
        ("dns", 53, "UDP", None, "udp"),
        # appProtocol wins over the name
        ("tcp", 80, "TCP", "http", "http"),
        ("web", 80, "TCP", "kubernetes.io/h2c", "http2"),
        # an unknown appProtocol falls back to the name
        ("grpc", 80, "TCP", "custom.example/x", "grpc"),
        # well-known TCP ports with an uninformative name
        ("db", 3306, "TCP", None, "tcp"),
        ("dns-tcp", 53, "TCP", None, "tcp"),
        # nothing known: Istio sniffs, meshatlas tries HTTP
        ("web", 8080, "TCP", None, "unknown"),
        ("", 9000, "TCP", None, "unknown"),
        ("HTTP-Upper", 80, "TCP", None, "http"),
    ],
)
def test_mesh_protocol(
    name: str, port: int, protocol: str, app_protocol: str | None, expected: str
) -> None:
    assert (
        mesh_protocol(name=name, port=port, protocol=protocol, app_protocol=app_protocol)
        == expected
    )


def test_only_allowlisted_and_safe_annotations_are_kept() -> None:
    kept = hints.keep(
        {
            "meshatlas.io/owner": "team-a",
            "kubectl.kubernetes.io/last-applied-configuration": '{"kind":"Service"}',
            "meshatlas.io/description": "uses token abc123",
            "meshatlas.io/tags": "x" * 5000,
            "example.com/whatever": "1",
        }
    )
    assert kept == {"meshatlas.io/owner": "team-a"}


def test_service_annotations_win_over_namespace_ones() -> None:
    o = hints.overrides(
        {"meshatlas.io/owner": "svc-team", "meshatlas.io/tags": "a, b ,,c"},
        {},
        {"meshatlas.io/owner": "ns-team", "meshatlas.io/lifecycle": "stable"},
        {},
    )
    assert o.owner == "svc-team"
    assert o.lifecycle == "stable"
    assert o.tags == ("a", "b", "c")
    assert o.ignore is False


@pytest.mark.parametrize(
    ("service_ann", "service_labels", "ns_ann", "ns_labels"),
    [
        ({"meshatlas.io/ignore": "true"}, {}, {}, {}),
        ({}, {}, {"meshatlas.io/ignore": "TRUE"}, {}),
        ({}, {"discovery.solo.io/function_discovery": "disabled"}, {}, {}),
        ({}, {}, {}, {"discovery.solo.io/function_discovery": "disabled"}),
    ],
)
def test_opt_outs(
    service_ann: dict[str, str],
    service_labels: dict[str, str],
    ns_ann: dict[str, str],
    ns_labels: dict[str, str],
) -> None:
    assert hints.overrides(service_ann, service_labels, ns_ann, ns_labels).ignore is True


def test_spec_paths_must_stay_on_the_service() -> None:
    bad = hints.overrides(
        {
            "meshatlas.io/openapi-path": "http://evil.example/spec",
            "meshatlas.io/wsdl-path": "//x/y",
        },
        {},
        {},
        {},
    )
    assert bad.openapi_path is None and bad.wsdl_path is None
    good = hints.overrides({"meshatlas.io/openapi-path": "/api/openapi.json"}, {}, {}, {})
    assert good.openapi_path == "/api/openapi.json"


def test_provides_api_from_url_only_when_it_names_the_service_itself() -> None:
    own = frozenset({"orders", "orders.shop", "orders.shop.svc.cluster.local"})
    key = "terasky.backstage.io/provides-api-from-url"
    mine = hints.overrides({key: "http://orders.shop:8000/openapi.json"}, {}, {}, {}, own_hosts=own)
    other = hints.overrides(
        {key: "https://api.other.example/openapi.json"}, {}, {}, {}, own_hosts=own
    )
    assert mine.openapi_path == "/openapi.json"
    assert other.openapi_path is None


def test_unknown_lifecycle_is_ignored() -> None:
    assert hints.overrides({"meshatlas.io/lifecycle": "retired"}, {}, {}, {}).lifecycle is None


_OWN = frozenset({"calc", "calc.partners", "calc.partners.svc", "calc.partners.svc.cluster.local"})


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("/calculator.asmx?WSDL", "/calculator.asmx?WSDL"),
        ("http://calc.partners.svc.cluster.local/calculator.asmx?WSDL", "/calculator.asmx?WSDL"),
        ("http://calc.partners:8080/services/Calc?wsdl#top", "/services/Calc?wsdl"),
        ("http://other.partners/calculator.asmx?WSDL", None),  # another Service
        ("http://user:pw@calc/calculator.asmx", None),  # credentials
        ("//calc/x", None),
        ("calculator.asmx", None),
    ],
)
def test_an_annotation_that_names_a_url_keeps_its_query(value: str, path: str | None) -> None:
    from discovery import hints

    got = hints.overrides({hints.PROVIDES_API_FROM_URL: value}, {}, {}, {}, own_hosts=_OWN)
    assert got.openapi_path == path
