"""Secret-looking annotation values are never kept, by word or by shape."""

from __future__ import annotations

from typing import Any

import pytest

from discovery import hints
from discovery.secrets import looks_secret

# Shapes from each issuer's documented format; none is a live credential.
SECRETS = [
    "AKIAIOSFODNN7EXAMPLE",  # AWS's documentation example key id
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MX0.c2lnbmF0dXJlLXBhcnQ",
    "postgresql://app:hunter2@db.shop:5432/orders",
    "-----BEGIN RSA PRIVATE KEY-----",
    "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "xoxb-" + "1234567890-abcdefghij",
    "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "see https://wiki/x, key Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MEFCQ0RFRkdISUpL",
    "the password is swordfish",
]
ORDINARY = [
    "Orders and their lines, for the storefront",
    "team-catalog",
    "00000000-0000-4000-8000-000000000000",
    "3f786850e387550fdab836ed7e6dc881de23001b",  # a git commit
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "https://docs.example.com/apis/orders/v2/getting-started",
    "products, search",
]


@pytest.mark.parametrize("value", SECRETS)
def test_secret_shapes_are_recognised(value: str) -> None:
    assert looks_secret(value)


@pytest.mark.parametrize("value", ORDINARY)
def test_ordinary_values_are_kept(value: str) -> None:
    assert not looks_secret(value)


def test_description_owner_and_tags_go_through_the_same_filter() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MX0.c2lnbmF0dXJlLXBhcnQ"
    annotations = {
        hints.DESCRIPTION: f"call with Authorization {token}",
        hints.OWNER: "postgresql://app:hunter2@db:5432/x",
        hints.TAGS: "orders, AKIAIOSFODNN7EXAMPLE",
    }
    got = hints.overrides(annotations, {}, {}, {})
    assert got.description is None
    assert got.owner is None
    assert got.tags == ()
    assert hints.keep(annotations) == {}
    ordinary = hints.overrides(
        {hints.DESCRIPTION: "Orders", hints.OWNER: "team-orders", hints.TAGS: "a, b"}, {}, {}, {}
    )
    assert (ordinary.description, ordinary.owner, ordinary.tags) == (
        "Orders",
        "team-orders",
        ("a", "b"),
    )


def test_url_passwords_are_masked_in_any_text() -> None:
    from discovery.secrets import mask_credentials

    text = "cannot reach http://admin:s3cr3t@127.0.0.1:16686/api (and postgresql://u:p@db/x)"
    assert mask_credentials(text) == (
        "cannot reach http://admin:***@127.0.0.1:16686/api (and postgresql://u:***@db/x)"
    )
    assert mask_credentials("http://127.0.0.1:80/a@b") == "http://127.0.0.1:80/a@b"


def test_an_operator_url_with_a_password_never_reaches_the_report_or_stderr(
    demo_mesh: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from fixtures.ports import free_port
    from meshatlas.cli import main

    jaeger = f"http://reader:hunter2@127.0.0.1:{free_port()}"  # nothing listens there
    code = main(
        ["discover", "--kubeconfig", str(demo_mesh.kubeconfig), "--dry-run"]
        + ["--namespace", "billing", "--jaeger", jaeger, "--report", str(tmp_path / "r.json")]
    )
    assert code == 3  # the trace source failed
    report = (tmp_path / "r.json").read_text()
    assert "hunter2" not in report and "hunter2" not in capsys.readouterr().err
    assert "reader:***@127.0.0.1" in report
