#!/usr/bin/env bash
# Bring the whole test bed up (idempotent): RabbitMQ, then the Kubernetes
# control plane (building its binaries on first use).
#   up.sh [all|rabbitmq|kube|vim2]   (vim2: a second cluster, tools/testbed/cluster2.sh)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/common.sh"
# One at a time: parallel test workers each ask for the bed at start-up.
mkdir -p "$TKW_STATE"
# The lock's fd is closed for everything started below (9>&-): a daemon that
# inherited it would hold the lock for its whole life, and the next up.sh
# (a test worker asking for the bed) would wait forever.
exec 9>"$TKW_STATE/up.lock"
flock -w 1800 9 || { echo "[testbed] error: another up.sh held $TKW_STATE/up.lock for 30 minutes" >&2; exit 1; }
# Debian's faketime (libfaketime) for the clock-skew tests.
faketime_tool() {
  command -v faketime >/dev/null && return
  echo "[testbed] installing Debian's faketime" >&2
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q faketime >/dev/null \
    || { $sudo apt-get update -q >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q faketime >/dev/null; }
}
case ${1:-all} in
  all) faketime_tool 9>&-; bash "$HERE/rabbitmq.sh" up 9>&-; bash "$HERE/kube.sh" up 9>&- ;;
  rabbitmq) bash "$HERE/rabbitmq.sh" up 9>&- ;;
  kube) bash "$HERE/kube.sh" up 9>&- ;;
  vim2) bash "$HERE/cluster2.sh" up 9>&- ;;
  *) echo "usage: $0 [all|rabbitmq|kube|vim2]" >&2; exit 2 ;;
esac
cat >&2 <<MSG
[testbed] up. AMQP: amqp://guest:guest@127.0.0.1:$TKW_AMQP_PORT/
[testbed]     KUBECONFIG=$TKW_STATE/kubeconfig   (kubectl --kubeconfig $TKW_STATE/kubeconfig get nodes)
[testbed]     stop it with tools/testbed/down.sh
MSG
