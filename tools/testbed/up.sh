#!/usr/bin/env bash
# Bring the whole test bed up (idempotent): RabbitMQ, then the Kubernetes
# control plane (building its binaries on first use).
#   up.sh [all|rabbitmq|kube]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
# One at a time: parallel test workers each ask for the bed at start-up.
mkdir -p "$TKW_STATE"
exec 9>"$TKW_STATE/up.lock"
flock 9
# Debian's faketime (libfaketime) for the clock-skew tests.
faketime_tool() {
  command -v faketime >/dev/null && return
  echo "[testbed] installing Debian's faketime" >&2
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q faketime >/dev/null \
    || { $sudo apt-get update -q >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q faketime >/dev/null; }
}
case ${1:-all} in
  all) faketime_tool; bash "$HERE/rabbitmq.sh" up; bash "$HERE/kube.sh" up ;;
  rabbitmq) bash "$HERE/rabbitmq.sh" up ;;
  kube) bash "$HERE/kube.sh" up ;;
  *) echo "usage: $0 [all|rabbitmq|kube]" >&2; exit 2 ;;
esac
cat >&2 <<MSG
[testbed] up. AMQP: amqp://guest:guest@127.0.0.1:$TKW_AMQP_PORT/
[testbed]     KUBECONFIG=$TKW_STATE/kubeconfig   (kubectl --kubeconfig $TKW_STATE/kubeconfig get nodes)
[testbed]     stop it with tools/testbed/down.sh
MSG
