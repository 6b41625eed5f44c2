"""Exceptions raised by discovery.

::

    DiscoveryError
     ├── KubeError        a cluster's API could not be read (cluster, resource, status)
     ├── ProbeError       an HTTP probe failed (url)
     │    ├── ProbeTimeout  ... because no answer came in time (connect, read or deadline)
     │    └── BudgetExhausted  ... because its Service spent its per-Service budget
     ├── TelemetryError   a telemetry source (Prometheus, Jaeger, Zipkin) failed (source, url)
     └── SpecError        bytes that could not be used as an API description (url)
          ├── NotASpecError     ... because they are not an API description at all
          └── SpecRefusedError  ... because reading them would cost too much or be
                                unsafe (too large, too deep, YAML aliases, XML DTDs)

Library errors (``kubernetes.ApiException``, ``aiohttp.ClientError``, zeep and
YAML errors) are wrapped with ``raise ... from exc``.
"""

from __future__ import annotations


class DiscoveryError(Exception):
    """Root of every error discovery raises."""


class KubeError(DiscoveryError):
    """A cluster's API could not be read.

    Attributes:
        cluster: the cluster (kubeconfig context) name, if known.
        resource: the API path that failed.
        status: the HTTP status, or ``None`` for connection failures.
    """

    def __init__(
        self,
        message: str,
        *,
        cluster: str | None = None,
        resource: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.cluster = cluster
        self.resource = resource
        self.status = status


class ProbeError(DiscoveryError):
    """An HTTP probe could not complete.

    Attributes:
        url: the URL that was requested.
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url


class ProbeTimeout(ProbeError):
    """No answer in time: the port did not accept, or accepted and stayed silent."""


class BudgetExhausted(ProbeError):
    """The Service spent its per-Service budget (time probing, or bytes received).

    Nothing more is asked of the Service in this run; what it did not finish
    is a problem of the run, never a fact about it.

    Attributes:
        url: the URL in flight when the budget ran out (or the next one).
        sent: whether that request had been sent.
    """

    def __init__(self, message: str, *, url: str | None = None, sent: bool = False) -> None:
        super().__init__(message, url=url)
        self.sent = sent


class SpecError(DiscoveryError):
    """Bytes that could not be used as an API description.

    Attributes:
        url: where the bytes came from, if known.
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url


class NotASpecError(SpecError):
    """Bytes that are not an API description at all (HTML, an error body...)."""


class SpecRefusedError(SpecError):
    """Bytes refused before they were fully read, to bound work or stay safe.

    Raised for content over the size limit, nesting deeper than allowed, YAML
    whose aliases would expand past the node budget, and XML carrying a DTD
    (entity bombs, external entities). Whether the bytes were an API
    description is not known.
    """


class TelemetryError(DiscoveryError):
    """A telemetry source could not be read, or answered with partial data.

    Attributes:
        source: which kind of source (``prometheus``, ``otel``, ``jaeger``, ``zipkin``).
        url: the URL that failed, if known.
    """

    def __init__(self, message: str, *, source: str, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.url = url
