# Shared settings of the test bed scripts (sourced, not run).
# State (pids, data, logs, kubeconfig) lives outside the checkout so that a
# clean clone reuses a running bed; binaries are cached by version.
TKW_CACHE=${TKW_CACHE:-$HOME/.cache/tacker-k8s-worker}
TKW_STATE=${TKW_STATE:-$TKW_CACHE/testbed}
TKW_AMQP_PORT=${TKW_AMQP_PORT:-5672}
TKW_APISERVER_PORT=${TKW_APISERVER_PORT:-16443}
TKW_ETCD_PORT=${TKW_ETCD_PORT:-12379}
TKW_ETCD_PEER_PORT=${TKW_ETCD_PEER_PORT:-12380}
TKW_KWOK_PORT=${TKW_KWOK_PORT:-10247}
TKW_KCM_PORT=${TKW_KCM_PORT:-10257}
TKW_SCHED_PORT=${TKW_SCHED_PORT:-10259}
TKW_KWOK_NODES=${TKW_KWOK_NODES:-2}
# Pre-created hostPath volumes of the StorageClass tkw-local (packages' StatefulSets).
TKW_VOLUMES=${TKW_VOLUMES:-16}
K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.8.0}
# metrics-server of the bed (metrics.k8s.io); 0: none (vim2 has none).
TKW_METRICS_PORT=${TKW_METRICS_PORT:-14443}
mkdir -p "$TKW_STATE"

say() { printf '[testbed] %s\n' "$*" >&2; }
die() { printf '[testbed] error: %s\n' "$*" >&2; exit 1; }

# bin NAME: the path of a control-plane binary (TKW_BIN_DIR wins over the cache).
bin() {
  local name=$1 p
  if [ -n "${TKW_BIN_DIR:-}" ] && [ -x "$TKW_BIN_DIR/$name" ]; then echo "$TKW_BIN_DIR/$name"; return; fi
  case $name in
    etcd) p=$TKW_CACHE/etcd-$ETCD_VERSION/bin/etcd ;;
    kwok|kwokctl) p=$TKW_CACHE/kwok-$KWOK_VERSION/bin/$name ;;
    metrics-server) p=$TKW_CACHE/metrics-server-$METRICS_SERVER_VERSION/bin/$name ;;
    *) p=$TKW_CACHE/kubernetes-$K8S_VERSION/bin/$name ;;
  esac
  [ -x "$p" ] || die "$name not found at $p (run tools/testbed/build-binaries.sh or set TKW_BIN_DIR)"
  echo "$p"
}

# alive NAME: true when the process whose pid we recorded for NAME is running,
# and is still that program (a pid left from an earlier boot or session may
# have been reused by something else).
alive() {
  local f=$TKW_STATE/$1.pid pid token=$1
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  [ "$token" = rabbitmq ] && token=rabbit
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$token"
}

# stop_pid NAME: stop the process we started under NAME, by its recorded pid.
stop_pid() {
  local f=$TKW_STATE/$1.pid pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if [ -n "$pid" ] && alive "$1"; then
    say "stopping $1 (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# wait_for DESC SECONDS CMD...: retry CMD until it succeeds or time runs out.
wait_for() {
  local desc=$1 secs=$2; shift 2
  local end=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || die "timed out after ${secs}s waiting for $desc"
    sleep 0.5
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
