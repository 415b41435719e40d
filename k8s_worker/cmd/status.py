"""``k8s-worker-status upgrade check``: the start-up checks, without starting a worker.

    k8s-worker-status --config-file /etc/tacker/k8s-worker.conf upgrade check [--json]

What an OpenStack operator runs before (re)starting a service after an upgrade
(oslo.upgradecheck): the configuration, the broker, the Kubernetes API server,
every RBAC permission the worker needs, the Vnf resource, and the options that
are deprecated or ignored.  Exit status as oslo.upgradecheck's: 0 all passed,
1 a warning, 2 a failure, 255 the check itself broke.  Nothing is written
anywhere.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException
from oslo_config import cfg
from oslo_upgradecheck import upgradecheck

from k8s_worker import conf as worker_conf
from k8s_worker import logs, preflight
from k8s_worker.amqp.options import unimplemented_rabbit_options
from k8s_worker.conf import set_by_user
from k8s_worker.kube.client import make_api_client
from k8s_worker.kube.kinds import VNF_GROUP, VNF_VERSION
from k8s_worker.version import version_string

PROG = "k8s-worker-status"
T = TypeVar("T")
Result = upgradecheck.Result
Code = upgradecheck.Code


def _failure(exc: BaseException) -> upgradecheck.Result:
    return Result(Code.FAILURE, logs.scrub(" ".join(str(exc).split())) or type(exc).__name__)


class WorkerChecks(upgradecheck.UpgradeCommands):
    """The checks, in order; each one runs on its own and says what it found
    (a later one runs even when an earlier one failed)."""

    display_title = "tacker-k8s-worker upgrade check"

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf

    def _with_api(self, use: Callable[[client.ApiClient], Awaitable[T]]) -> T:
        async def run() -> T:
            kconf = self.conf.kubernetes
            api = await make_api_client(
                kubeconfig=kconf.kubeconfig or None,
                context=kconf.context or None,
                host=self.conf.k8s_worker.host,
            )
            try:
                return await use(api)
            finally:
                await api.close()

        return asyncio.run(run())

    def _configuration(self) -> upgradecheck.Result:
        try:
            preflight.check_config(self.conf)
            logs.settings_from_conf(self.conf, program="k8s-worker")
        except (preflight.StartupError, ValueError) as exc:
            return _failure(exc)
        return Result(Code.SUCCESS)

    def _broker(self) -> upgradecheck.Result:
        try:
            asyncio.run(preflight.check_broker(self.conf, within=self.conf.service.startup_timeout))
        except Exception as exc:
            return _failure(exc)
        return Result(Code.SUCCESS)

    def _cluster(self) -> upgradecheck.Result:
        within = self.conf.service.startup_timeout
        try:
            version = self._with_api(lambda api: preflight.check_cluster(api, within=within))
        except Exception as exc:
            return _failure(exc)
        return Result(Code.SUCCESS, f"Kubernetes {version}")

    def _rbac(self) -> upgradecheck.Result:
        try:
            self._with_api(lambda api: preflight.check_rbac(api, self.conf))
        except Exception as exc:
            return _failure(exc)
        return Result(Code.SUCCESS)

    def _vnf_resource(self) -> upgradecheck.Result:
        namespace = self.conf.kubernetes.record_namespace

        async def probe(api: client.ApiClient) -> Any:
            return await client.CustomObjectsApi(api).list_namespaced_custom_object(
                VNF_GROUP, VNF_VERSION, namespace, "vnfs", limit=1
            )

        try:
            self._with_api(probe)
        except ApiException as exc:
            if exc.status == 404 and not self.conf.kubernetes.install_crd:
                return Result(
                    Code.FAILURE,
                    "the Vnf custom resource is not installed and [kubernetes] install_crd "
                    "is false: apply etc/kubernetes/crd.yaml",
                )
            if exc.status == 404:
                return Result(
                    Code.WARNING,
                    "the Vnf custom resource is not installed yet: "
                    "the worker installs it at start-up ([kubernetes] install_crd)",
                )
            return _failure(exc)
        except Exception as exc:
            return _failure(exc)
        return Result(Code.SUCCESS)

    def _options(self) -> upgradecheck.Result:
        notes = [
            f"[{group}] {opt.dest} is deprecated: {opt.deprecated_reason}"
            for group, opts in worker_conf.list_opts()
            for opt in opts
            if opt.deprecated_for_removal
            and set_by_user(self.conf, opt.dest, None if group == "DEFAULT" else group)
        ]
        ignored = unimplemented_rabbit_options(self.conf)
        if ignored:
            notes.append(f"[oslo_messaging_rabbit] {', '.join(ignored)}: not implemented, ignored")
        return Result(Code.WARNING, "; ".join(notes)) if notes else Result(Code.SUCCESS)

    _upgrade_checks = (
        ("Configuration", _configuration),
        ("Message broker", _broker),
        ("Kubernetes API server", _cluster),
        ("RBAC permissions", _rbac),
        ("Vnf custom resource", _vnf_resource),
        ("Deprecated and ignored options", _options),
    )


def main(argv: list[str] | None = None) -> int:
    conf = cfg.ConfigOpts()
    worker_conf.register_opts(conf)
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        print(version_string())
        return 0
    logs.configure(fmt="console", level="WARNING", levels=(("kubernetes_asyncio", "ERROR"),))
    try:
        return int(
            upgradecheck.main(
                conf,
                project="tacker",
                upgrade_command=WorkerChecks(conf),
                argv=args,
                # the files k8s-worker itself reads (k8s-worker.conf, tacker.conf)
                default_config_files=cfg.find_config_files(project="tacker", prog="k8s-worker"),
            )
        )
    except cfg.Error as exc:
        print(f"{PROG}: error: configuration error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
