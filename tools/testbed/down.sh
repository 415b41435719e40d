#!/usr/bin/env bash
# Tear the test bed down: stop only the processes the test bed started (by the
# pids it recorded); a broker that was already running is left alone.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
bash "$HERE/kube.sh" down
bash "$HERE/cluster2.sh" down
bash "$HERE/rabbitmq.sh" down
