"""Start-up checks that turn a misconfigured replica into one clear line.

Before the worker consumes anything it checks, in order: the configuration
(every option parses and validates, referenced files exist), the message
broker (a connection opens within ``[service] startup_timeout``), the
Kubernetes API server (answers and accepts the credentials), and RBAC (a
SelfSubjectAccessReview for every verb and resource the worker uses).  Each
failure raises ``StartupError`` whose message is one line naming what is
wrong and where; ``k8s-worker`` prints it and exits non-zero.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

import aio_pika
import oslo_messaging
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException
from oslo_config import cfg

from k8s_worker.amqp.connection import ConnectionSettings
from k8s_worker.amqp.options import check_notification_drivers, rabbit_options
from k8s_worker.kube.kinds import VNF_GROUP
from k8s_worker.logs import scrub
from k8s_worker.wire.envelope import EnvelopeError, compress


class StartupError(Exception):
    """A condition that keeps the worker from starting; str() is one line."""


# -- configuration ---------------------------------------------------------------------


def check_config(conf: cfg.ConfigOpts) -> None:
    """Read every option once (oslo validates lazily) and check referenced files."""
    for group_name, names in _options(conf):
        for name in names:
            try:
                getattr(conf[group_name], name) if group_name else getattr(conf, name)
            except cfg.Error as exc:
                where = f"[{group_name or 'DEFAULT'}] {name}"
                reason = _one_line(exc)
                if "is not valid: " in reason:
                    reason = reason.split("is not valid: ", 1)[1]
                raise StartupError(f"configuration error: {where}: {reason}") from exc
    try:
        url = oslo_messaging.TransportURL.parse(conf, conf.transport_url)
        ConnectionSettings.from_conf(conf)
    except Exception as exc:  # oslo_messaging.InvalidTransportURL and friends
        raise StartupError(
            f"configuration error: [DEFAULT] transport_url: {_one_line(exc)}"
        ) from exc
    if url.transport not in (None, "rabbit"):
        raise StartupError(
            f"configuration error: [DEFAULT] transport_url: the {url.transport!r} driver is "
            "not supported; use rabbit://user:password@host:port/vhost"
        )
    cluster = conf.cluster
    if cluster.renew_interval * 2 > cluster.lease_duration:
        raise StartupError(
            f"configuration error: [cluster] renew_interval ({cluster.renew_interval:g} s) must "
            f"be at most half of lease_duration ({cluster.lease_duration:g} s), so that a "
            "missed renewal does not lose the lease"
        )
    try:
        check_notification_drivers(conf.oslo_messaging_notifications.driver)
    except ValueError as exc:
        raise StartupError(f"configuration error: {exc}") from exc
    compression = rabbit_options(conf).kombu_compression
    if compression:
        try:
            compress(b"", compression)
        except EnvelopeError as exc:
            raise StartupError(
                f"configuration error: [oslo_messaging_rabbit] kombu_compression: {exc}"
            ) from exc
    kubeconfig = conf.kubernetes.kubeconfig
    if kubeconfig and not os.path.isfile(os.path.expanduser(kubeconfig)):
        raise StartupError(
            f"configuration error: [kubernetes] kubeconfig {kubeconfig!r} does not exist"
        )
    if not kubeconfig and not os.environ.get("KUBERNETES_SERVICE_HOST"):
        default = os.path.expanduser(os.environ.get("KUBECONFIG", "~/.kube/config"))
        if not os.path.isfile(default):
            raise StartupError(
                "configuration error: [kubernetes] kubeconfig is empty, the worker is not in "
                f"a pod (no KUBERNETES_SERVICE_HOST) and {default} does not exist"
            )


def _options(conf: cfg.ConfigOpts) -> list[tuple[str | None, list[str]]]:
    """(group or None for DEFAULT, option names) of every registered option."""
    out: list[tuple[str | None, list[str]]] = [(None, [])]
    for name in conf:
        try:
            value = conf[name]
        except ValueError:  # a [DEFAULT] option whose value is bad: check_config says so
            out[0][1].append(name)
            continue
        if isinstance(value, cfg.ConfigOpts.GroupAttr):
            out.append((name, list(value)))
        else:
            out[0][1].append(name)
    return out


# -- the broker --------------------------------------------------------------------------


async def check_broker(conf: cfg.ConfigOpts, *, within: float) -> None:
    """Open (and close) one AMQP connection to any configured host."""
    settings = ConnectionSettings.from_conf(conf)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: BaseException | None = None
    while True:
        for host in settings.hosts:
            url = settings.url_for(host)
            try:
                left = max(deadline - loop.time(), 0.5)
                connection = await aio_pika.connect(
                    url, ssl_context=settings.ssl_context(), timeout=left
                )
                await connection.close()
                return
            except (OSError, ConnectionError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
                last = exc
        if loop.time() + 1.0 > deadline:
            break
        await asyncio.sleep(1.0)
    where = ", ".join(f"{h.host}:{h.port}" for h in settings.hosts)
    raise StartupError(
        f"cannot reach the message broker at {where} within {within:g}s "
        f"([DEFAULT] transport_url): {_describe(last)}"
    )


# -- the API server ------------------------------------------------------------------------


async def check_cluster(api: client.ApiClient, *, within: float) -> str:
    """The API server's version; it must answer and accept our credentials."""
    host = api.configuration.host
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: BaseException | None = None
    while loop.time() < deadline:
        try:
            left = max(deadline - loop.time(), 0.5)
            info = await client.VersionApi(api).get_code(_request_timeout=left)
            return str(info.git_version)
        except ApiException as exc:
            if exc.status in (401, 403):
                raise StartupError(
                    f"the Kubernetes API server at {host} rejected the worker's credentials "
                    f"({exc.status} {exc.reason}); check [kubernetes] kubeconfig/context "
                    "or the pod's service account"
                ) from exc
            last = exc
        except Exception as exc:  # aiohttp client and SSL errors
            last = exc
        await asyncio.sleep(min(1.0, max(deadline - loop.time(), 0)))
    raise StartupError(
        f"cannot reach the Kubernetes API server at {host} within {within:g}s "
        f"([kubernetes] kubeconfig): {_describe(last)}"
    )


# -- RBAC -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Permission:
    """One RBAC permission the worker needs, checked at start-up with a
    SelfSubjectAccessReview."""

    verb: str
    resource: str
    group: str = ""
    namespace: str | None = None  # None: cluster-wide (or every namespace)
    subresource: str = ""

    def __str__(self) -> str:
        res = self.resource + (f"/{self.subresource}" if self.subresource else "")
        if self.group:
            res += f".{self.group}"
        where = f"namespace {self.namespace}" if self.namespace else "all namespaces"
        return f"{self.verb} {res} in {where}"


def required_permissions(conf: cfg.ConfigOpts) -> list[Permission]:
    """Every permission the worker's code uses, for its configuration."""
    k = conf.kubernetes
    rec = k.record_namespace
    perms = [Permission(v, "vnfs", VNF_GROUP, rec) for v in ("get", "list", "watch", "create")]
    perms += [
        Permission("update", "vnfs", VNF_GROUP, rec),
        Permission("delete", "vnfs", VNF_GROUP, rec),
        Permission("update", "vnfs", VNF_GROUP, rec, subresource="status"),
        Permission("get", "namespaces"),
    ]
    perms += [
        Permission(v, "leases", "coordination.k8s.io", rec)
        for v in ("get", "list", "watch", "create", "update", "delete")
    ]
    if k.create_namespaces:
        perms.append(Permission("create", "namespaces"))
    for ns in list(k.namespaces) or [None]:
        perms += [Permission(v, "pods", "", ns) for v in ("list", "watch", "delete")]
        perms += [
            Permission(v, "deployments", "apps", ns)
            for v in ("get", "list", "watch", "create", "patch", "delete")
        ]
        perms.append(Permission("patch", "deployments", "apps", ns, subresource="scale"))
        perms.append(Permission("list", "replicasets", "apps", ns))
        for resource in ("services", "configmaps", "secrets"):
            perms += [
                Permission(v, resource, "", ns)
                for v in ("get", "list", "create", "patch", "delete")
            ]
        if k.namespace_quota:
            perms += [Permission(v, "resourcequotas", "", ns) for v in ("get", "patch")]
        if k.namespace_container_defaults:
            perms += [Permission(v, "limitranges", "", ns) for v in ("get", "patch")]
    # Secret-looking VNF parameters live in a Secret beside the record, and a
    # terminated VNF's op_ids in a tombstone ConfigMap there.
    perms += [
        Permission(v, "secrets", "", rec) for v in ("get", "list", "create", "patch", "delete")
    ]
    perms += [
        Permission(v, "configmaps", "", rec) for v in ("get", "list", "create", "patch", "delete")
    ]
    return perms


async def check_rbac(api: client.ApiClient, conf: cfg.ConfigOpts) -> None:
    """Ask the API server about every required permission; name the ones missing."""
    authz = client.AuthorizationV1Api(api)
    perms = required_permissions(conf)

    async def allowed(p: Permission) -> bool:
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb=p.verb,
                    group=p.group,
                    resource=p.resource,
                    subresource=p.subresource or None,
                    namespace=p.namespace,
                )
            )
        )
        result = await authz.create_self_subject_access_review(review)
        return bool(result.status.allowed)

    answers = await asyncio.gather(*(allowed(p) for p in perms))
    missing = [str(p) for p, ok in zip(perms, answers, strict=True) if not ok]
    if missing:
        who = await _whoami(api)
        raise StartupError(
            f"missing RBAC permissions for {who}: " + "; ".join(missing) + " "
            "(etc/kubernetes/rbac.yaml grants what the worker needs)"
        )


async def _whoami(api: client.ApiClient) -> str:
    try:
        review = await client.AuthenticationV1Api(api).create_self_subject_review(
            client.V1SelfSubjectReview()
        )
        return str(review.status.user_info.username)
    except Exception:
        return "the worker's identity"


# -- helpers ------------------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    return scrub(" ".join(str(exc).split()))


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no answer"
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason}"
    text = _one_line(exc) or type(exc).__name__
    cause: Any = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause).split("] ")[-1] not in text:
        text += f" ({_one_line(cause)})"
    return text
