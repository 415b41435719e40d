"""What each Kubernetes API failure means to the caller."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from k8s_worker.kube import (
    KubeConflict,
    KubeGone,
    KubeNotFound,
    KubeRejected,
    KubeUnavailable,
)
from k8s_worker.kube.errors import classify, from_api_exception


def status(code: int, message: str, reason: str = "") -> ApiException:
    exc = ApiException(status=code, reason=reason)
    exc.body = json.dumps({"kind": "Status", "code": code, "message": message, "reason": reason})
    return exc


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (409, KubeConflict),
        (410, KubeGone),
        (404, KubeNotFound),
        (429, KubeUnavailable),
        (500, KubeUnavailable),
        (503, KubeUnavailable),
        (400, KubeRejected),
        (403, KubeRejected),
        (422, KubeRejected),
        (401, KubeRejected),
    ],
)
def test_status_codes_map_to_what_the_caller_does(code, cls):
    err = from_api_exception(status(code, "boom"), what="PATCH /x")
    assert type(err) is cls and err.status == code


def test_the_api_servers_message_is_kept_for_the_user():
    err = from_api_exception(
        status(422, 'Deployment.apps "web" is invalid: spec.replicas: must be >= 0', "Invalid"),
        what="PATCH /apis/apps/v1/namespaces/n/deployments/web",
    )
    assert str(err).endswith("spec.replicas: must be >= 0")
    assert err.reason == "Invalid"


@pytest.mark.parametrize(
    "exc",
    [
        aiohttp.ClientConnectionError("reset"),
        TimeoutError(),
        ConnectionRefusedError(111, "refused"),
    ],
)
def test_transport_failures_are_worth_retrying(exc):
    assert isinstance(classify(exc, what="GET /"), KubeUnavailable)


def test_cancellation_and_bugs_are_not_api_failures():
    assert classify(asyncio.CancelledError(), what="GET /") is None
    assert classify(KeyError("x"), what="GET /") is None


def test_a_request_too_large_for_etcd_is_a_rejection_not_an_outage() -> None:
    body = json.dumps({"message": "etcdserver: request is too large", "reason": "InternalError"})
    exc = from_api_exception(ApiException(status=500, reason="Internal"), what="update", body=body)
    assert isinstance(exc, KubeRejected) and exc.reason == "RequestTooLarge"
    assert isinstance(
        from_api_exception(ApiException(status=413, reason="Too Large"), what="update"),
        KubeRejected,
    )
