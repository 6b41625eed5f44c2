"""deploy/ and the Dockerfile: what an operator installs.

Each overlay is rendered with ``kubectl kustomize`` and every object is
validated against the Kubernetes OpenAPI schemas by ``kubernetes-validate``
(strict: unknown fields are errors). Then the checks the schemas cannot make:
cron syntax, enum values, least-privilege RBAC, the security context, resource
requests and limits, and that names referenced between objects exist.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import croniter
import kubernetes_validate
import pytest
import yaml

from meshatlas.interface import config
from meshatlas.version import VERSION

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
OVERLAYS = ("crawler-only", "with-catalog", "with-catalog-postgres", "namespaced")
# The oldest Kubernetes the manifests support (native sidecars on by default)
# and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())

# What discovery/kube.py lists, plus Istio gateways (the issue asks for them).
READS = {
    ("", "namespaces"),
    ("", "services"),
    ("discovery.k8s.io", "endpointslices"),
    ("networking.istio.io", "serviceentries"),
    ("networking.istio.io", "virtualservices"),
    ("networking.istio.io", "destinationrules"),
    ("networking.istio.io", "gateways"),
}
#: Read since the Gateway API, ambient mode and the security posture came in: get and list only.
READS_WITHOUT_WATCH = {
    ("gateway.networking.k8s.io", "gateways"),
    ("gateway.networking.k8s.io", "httproutes"),
    ("gateway.networking.k8s.io", "grpcroutes"),
    ("gateway.networking.k8s.io", "tlsroutes"),
    ("gateway.networking.k8s.io", "tcproutes"),
    ("gateway.networking.k8s.io", "referencegrants"),
    ("", "pods"),
    ("security.istio.io", "peerauthentications"),
    ("security.istio.io", "authorizationpolicies"),
    ("security.istio.io", "requestauthentications"),
}
READS |= READS_WITHOUT_WATCH
READ_VERBS = {"get", "list", "watch"}


def _kubectl() -> str:
    found = shutil.which("kubectl") or shutil.which(
        "kubectl", path=str(Path(sys.executable).parent)
    )
    if found is None:
        pytest.fail("kubectl not found: `make system-deps` installs it")
    return found


def render(overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [_kubectl(), "kustomize", str(DEPLOY / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def _of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def _pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "CronJob":
            yield name, obj["spec"]["jobTemplate"]["spec"]["template"]
        elif obj["kind"] == "Deployment":
            yield name, obj["spec"]["template"]


def test_every_object_validates(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    assert objects
    for obj in objects:
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)


def test_every_object_is_labelled_and_placed(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "meshatlas", obj["metadata"]["name"]
        cluster_scoped = obj["kind"] in ("Namespace", "ClusterRole", "ClusterRoleBinding")
        assert ("namespace" in obj["metadata"]) != cluster_scoped, obj["metadata"]["name"]


def test_cronjob_runs_once_at_a_time_and_cleans_up(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = rendered
    (cron,) = _of_kind(objects, "CronJob")
    spec = cron["spec"]
    assert croniter.croniter.is_valid(spec["schedule"]), spec["schedule"]
    zoneinfo.ZoneInfo(spec["timeZone"])
    assert spec["concurrencyPolicy"] in ("Allow", "Forbid", "Replace")
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 0 < spec["startingDeadlineSeconds"] <= 3600
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    job = spec["jobTemplate"]["spec"]
    assert 0 <= job["backoffLimit"] <= 6
    assert 0 < job["activeDeadlineSeconds"] <= 3600
    assert job["ttlSecondsAfterFinished"] > 0
    for rule in job["podFailurePolicy"]["rules"]:
        assert rule["action"] in ("FailJob", "Ignore", "Count", "FailIndex")
        if "onExitCodes" in rule:
            assert rule["onExitCodes"]["operator"] in ("In", "NotIn")
            # Exit codes meshatlas documents: 2 usage/config, 3 partial.
            assert set(rule["onExitCodes"]["values"]) <= {1, 2, 3}
    pod = job["template"]
    assert pod["spec"]["restartPolicy"] in ("Never", "OnFailure")
    assert pod["spec"]["restartPolicy"] == "Never"  # podFailurePolicy requires it
    # The crawler keeps its sidecar (probes go through mTLS) and ends with it.
    assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"
    assert pod["metadata"]["annotations"]["sidecar.istio.io/nativeSidecar"] == "true"
    proxy = yaml.safe_load(pod["metadata"]["annotations"]["proxy.istio.io/config"])
    assert proxy == {"holdApplicationUntilProxyStarts": True}


def test_pods_are_locked_down(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    for name, pod in _pod_specs(objects):
        spec = pod["spec"]
        pod_ctx = spec["securityContext"]
        assert pod_ctx["runAsNonRoot"] is True, name
        assert isinstance(pod_ctx["runAsUser"], int) and pod_ctx["runAsUser"] > 0, name
        assert pod_ctx["seccompProfile"]["type"] in ("RuntimeDefault", "Localhost", "Unconfined")
        assert pod_ctx["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec.get("hostNetwork", False) is False and spec.get("hostPID", False) is False
        for container in spec["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx.get("privileged", False) is False, name
            assert ctx["capabilities"] == {"drop": ["ALL"]}, name
            assert container["imagePullPolicy"] in ("Always", "IfNotPresent", "Never")
            # The image of the release these manifests come with.
            assert container["image"] == f"meshatlas:{VERSION}", name
            # A read-only root needs somewhere to write: /tmp is a volume.
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, name


def _quantity(text: str | int) -> float:
    units = {"m": 1e-3, "": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6}
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text)).groups()  # type: ignore[union-attr]
    return float(number) * units[unit]


def test_resources_are_requested_and_limited(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    for name, pod in _pod_specs(objects):
        for container in pod["spec"]["containers"]:
            res = container["resources"]
            for kind in ("cpu", "memory"):
                request, limit = _quantity(res["requests"][kind]), _quantity(res["limits"][kind])
                assert 0 < request <= limit, (name, kind)
        for volume in pod["spec"].get("volumes", []):
            if "emptyDir" in volume:
                assert "sizeLimit" in volume["emptyDir"], (name, volume["name"])


def test_rbac_only_reads_what_meshatlas_reads(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, objects = rendered
    granted: set[tuple[str, str]] = set()
    for role in _of_kind(objects, "ClusterRole") + _of_kind(objects, "Role"):
        for rule in role["rules"]:
            assert set(rule["verbs"]) <= READ_VERBS, role["metadata"]["name"]
            assert "*" not in rule["apiGroups"] + rule["resources"], role["metadata"]["name"]
            assert "resourceNames" not in rule
            pairs = {(g, r) for g in rule["apiGroups"] for r in rule["resources"]}
            if pairs & READS_WITHOUT_WATCH:
                assert set(rule["verbs"]) == {"get", "list"}, (overlay, pairs)
            granted |= pairs
    assert granted == READS, overlay
    for binding in _of_kind(objects, "ClusterRoleBinding") + _of_kind(objects, "RoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "meshatlas-crawler", "namespace": "meshatlas"}
        ]
        role_names = {r["metadata"]["name"] for r in _of_kind(objects, binding["roleRef"]["kind"])}
        assert binding["roleRef"]["name"] in role_names


def test_rbac_grants_every_list_discovery_makes(tmp_path: Path) -> None:
    """Every list an inventory of the ambient fixture (Istio, Gateway API, Pods) is granted."""
    from discovery import inventory, kube
    from fixtures.mesh import Mesh
    from tests.conftest import mesh_octet

    with Mesh(["ambient"], octet=mesh_octet(5), workdir=tmp_path, with_backends=False) as mesh:
        inventory.read_inventory(kube.connect(kubeconfig=str(mesh.kubeconfig)))
        log = mesh.state("ambient").log
    listed = set()
    for line in log:
        parts = line.split()[1].split("?")[0].strip("/").split("/")
        group = "" if parts[0] == "api" else parts[1]
        listed.add((group, parts[-1]))
    assert ("gateway.networking.k8s.io", "httproutes") in listed and ("", "pods") in listed
    for overlay in ("crawler-only", "namespaced"):
        granted = {
            (g, r)
            for role in _of_kind(render(overlay), "ClusterRole")
            for rule in role["rules"]
            for g in rule["apiGroups"]
            for r in rule["resources"]
        }
        assert listed <= granted, (overlay, listed - granted)


def test_namespaced_variant_reads_only_its_namespaces() -> None:
    objects = render("namespaced")
    to_crawl = {
        b["metadata"]["namespace"]
        for b in _of_kind(objects, "RoleBinding")
        if b["roleRef"]["kind"] == "ClusterRole"
    }
    settings = _config(objects)
    assert set(settings["namespace"]) == to_crawl == {"shop", "billing"}
    # Cluster-wide, only namespaces themselves may be read.
    for binding in _of_kind(objects, "ClusterRoleBinding"):
        (role,) = (
            r
            for r in _of_kind(objects, "ClusterRole")
            if r["metadata"]["name"] == binding["roleRef"]["name"]
        )
        assert [r["resources"] for r in role["rules"]] == [["namespaces"]]


def test_namespaced_variant_reads_istios_security_config_in_the_root_namespace() -> None:
    """Mesh-wide PeerAuthentication lives in Istio's root namespace (istio-system
    by default): without a grant there the posture of the crawled namespaces
    cannot be judged. The grant is a Role there, for the security kinds only."""
    objects = render("namespaced")
    (role,) = _of_kind(objects, "Role")
    assert role["metadata"]["namespace"] == "istio-system"
    security = {"peerauthentications", "authorizationpolicies", "requestauthentications"}
    assert [(r["apiGroups"], set(r["resources"]), set(r["verbs"])) for r in role["rules"]] == [
        (["security.istio.io"], security, {"get", "list"})
    ]
    (binding,) = (b for b in _of_kind(objects, "RoleBinding") if b["roleRef"]["kind"] == "Role")
    assert binding["metadata"]["namespace"] == "istio-system"
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    # The crawler lists no Services there: the root namespace is not in its scope.
    assert "istio-system" not in _config(objects)["namespace"]


def _security_grants(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Per Istio security kind, the namespaces the RoleBindings let the crawler list it in."""
    grants: dict[str, set[str]] = {}
    for binding in _of_kind(objects, "RoleBinding"):
        ref = binding["roleRef"]
        (role,) = (
            r for r in _of_kind(objects, ref["kind"]) if r["metadata"]["name"] == ref["name"]
        )
        for rule in role["rules"]:
            if "security.istio.io" in rule["apiGroups"] and "list" in rule["verbs"]:
                for plural in rule["resources"]:
                    grants.setdefault(plural, set()).add(binding["metadata"]["namespace"])
    return grants


@pytest.mark.parametrize("root_granted", [True, False])
def test_namespaced_rbac_lets_the_posture_of_a_crawled_namespace_be_judged(
    tmp_path: Path, root_granted: bool
) -> None:
    """The secure fixture under the namespaced overlay's grants: its one crawled
    namespace (bank, standing for shop) plus what the overlay grants outside
    its crawled list. Every other list of a security kind answers 403."""
    from discovery import inventory, kube
    from fixtures.mesh import Mesh
    from tests.conftest import mesh_octet

    objects = render("namespaced")
    crawled = set(_config(objects)["namespace"])
    grants = _security_grants(objects)
    fixture_namespaces = {"bank", "pricing", "web", "legacy", "ops", "istio-system"}
    forbidden = set()
    for plural, namespaces in grants.items():
        allowed = {"bank"} | (namespaces - crawled)
        if not root_granted:
            allowed -= {"istio-system"}
        forbidden |= {f"{plural}@cluster"}
        forbidden |= {f"{plural}@{ns}" for ns in fixture_namespaces - allowed}
    assert len(grants) == 3
    with Mesh(
        ["secure"], octet=mesh_octet(offset=137), workdir=tmp_path, with_backends=False
    ) as mesh:
        mesh.state("secure").forbidden = frozenset(forbidden)
        read = inventory.read_inventory(
            kube.connect(kubeconfig=str(mesh.kubeconfig)),
            scope=inventory.Scope(namespaces=("bank",)),
        )
    security = read.mesh.security
    assert security.read_in("secure", "bank") is root_granted
    # fixtures/clusters/secure/security.yaml: the mesh-wide STRICT default.
    mesh_wide = [p for p in security.peer_authentications if p.ref.namespace == "istio-system"]
    assert bool(mesh_wide) is root_granted


def _config(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (cm,) = _of_kind(objects, "ConfigMap")
    return config.parse(cm["data"]["meshatlas.yaml"], source="meshatlas.yaml")


def test_crawler_config_is_valid_and_mounted(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, objects = rendered
    (cm,) = _of_kind(objects, "ConfigMap")
    settings = _config(objects)
    assert settings["in-cluster"] is True
    (cron,) = _of_kind(objects, "CronJob")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert args[:2] == ["discover", "--config"]
    volume = next(v for v in pod["volumes"] if v.get("configMap", {}).get("name"))
    assert volume["configMap"]["name"] == cm["metadata"]["name"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    assert args[2] == f"{mount['mountPath']}/meshatlas.yaml"
    token = next(e for e in container["env"] if e["name"] == "MESHATLAS_TOKEN")
    if settings.get("catalog", "").startswith(("http://", "https://")):
        # Publishing over HTTP: no token, no Pod (rather than a refused run).
        assert token["valueFrom"]["secretKeyRef"]["optional"] is False, overlay
    else:
        assert settings.get("dry-run") is True, overlay


def test_catalogue_server_is_probed_and_reachable() -> None:
    for overlay in ("with-catalog", "with-catalog-postgres"):
        objects = render(overlay)
        (deployment,) = _of_kind(objects, "Deployment")
        (service,) = _of_kind(objects, "Service")
        pod = deployment["spec"]["template"]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        assert (
            deployment["spec"]["selector"]["matchLabels"].items()
            <= pod["metadata"]["labels"].items()
        )
        assert deployment["spec"]["strategy"]["type"] in ("Recreate", "RollingUpdate")
        assert service["spec"]["type"] in ("ClusterIP", "NodePort", "LoadBalancer")
        (container,) = pod["spec"]["containers"]
        port_names = {p["name"] for p in container["ports"]}
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["port"] in port_names
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
        args = container["args"]
        assert args[0] == "serve" and args[args.index("--host") + 1] == "0.0.0.0"
        env = {e["name"]: e for e in container["env"]}
        assert env["MESHATLAS_TOKEN_SHA256"]["valueFrom"]["secretKeyRef"]["key"] == "sha256"
        catalog_url = args[args.index("--catalog") + 1]
        claims = {c["metadata"]["name"] for c in _of_kind(objects, "PersistentVolumeClaim")}
        if overlay == "with-catalog":
            assert catalog_url.startswith("sqlite:////var/lib/meshatlas/")
            assert deployment["spec"]["replicas"] == 1
            assert deployment["spec"]["strategy"]["type"] == "Recreate"  # one SQLite writer
            (claim,) = _of_kind(objects, "PersistentVolumeClaim")
            assert set(claim["spec"]["accessModes"]) <= {
                "ReadWriteOnce",
                "ReadWriteOncePod",
                "ReadWriteMany",
                "ReadOnlyMany",
            }
            volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
            assert volumes["data"]["persistentVolumeClaim"]["claimName"] in claims
        else:
            # The URL (with its password) stays in the Secret, not in the spec.
            assert catalog_url == "$(MESHATLAS_CATALOG_URL)"
            assert env["MESHATLAS_CATALOG_URL"]["valueFrom"]["secretKeyRef"]["key"] == "url"
            assert not claims
            assert all("persistentVolumeClaim" not in v for v in pod["spec"]["volumes"])
        # The crawler in the same overlay publishes to this Service.
        url = _config(objects)["catalog"]
        assert url.startswith(f"http://{service['metadata']['name']}.meshatlas.svc")


def test_no_secret_is_shipped() -> None:
    for overlay in OVERLAYS:
        assert not _of_kind(render(overlay), "Secret"), overlay


# The Dockerfile cannot be built here (no container engine), so its promises
# are checked on its text.


def _stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, split by stage: (INSTRUCTION, arguments)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction.upper(), rest.strip()))
    return stages


def _preamble() -> dict[str, str]:
    """``ARG NAME=default`` lines before the first FROM."""
    args: dict[str, str] = {}
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("FROM"):
            break
        if line.startswith("ARG") and "=" in line:
            name, _, default = line[4:].strip().partition("=")
            args[name] = default
    return args


def test_dockerfile_final_stage_is_small_and_unprivileged() -> None:
    stages = _stages()
    assert len(stages) >= 2, "multi-stage: build, then a clean runtime"
    final = stages[-1]
    base = final[0][1].split()[0]
    image = _preamble().get(base.strip("${}"), base)
    assert re.fullmatch(r"python:3\.11[.\d]*-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image), image
    (user,) = [rest for instruction, rest in final if instruction == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0, "numeric non-root user"
    assert not gid or (gid.isdigit() and int(gid) > 0)
    (entrypoint,) = [rest for instruction, rest in final if instruction == "ENTRYPOINT"]
    assert yaml.safe_load(entrypoint) == ["meshatlas"]  # exec form
    env = " ".join(rest for instruction, rest in final if instruction == "ENV")
    assert "HOME=/tmp" in env and "TMPDIR=/tmp" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    runs = " ".join(rest for instruction, rest in final if instruction == "RUN")
    for tool in ("gcc", "g++", "make ", "build-essential", "apt-get install", "-dev"):
        assert tool not in runs, tool
    copies = [rest for instruction, rest in final if instruction in ("COPY", "ADD")]
    assert copies and all(c.startswith("--from=") for c in copies), "only the build's output"


def test_dockerfile_installs_the_project_it_copies() -> None:
    build = _stages()[0]
    copied = {
        source.rstrip("/")
        for instruction, rest in build
        if instruction == "COPY"
        for source in shlex.split(rest)[:-1]
    }
    ignore = (ROOT / ".dockerignore").read_text().split()
    for package in ("discovery", "graph", "catalog", "meshatlas", "fixtures"):
        assert package in copied
        assert f"!{package}/" in ignore
    assert {"pyproject.toml", "README.md"} <= copied
