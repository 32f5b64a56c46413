#!/usr/bin/env bash
# The quickstart: start the demo cloud broker, plan, apply into a scratch
# cluster directory, show the binding's Secret (keys only) and the patched
# Deployment, plan again (expecting "No changes."), then stop the broker.
#
# Run from anywhere. Uses $CATALOGCTL if set, otherwise the repository's
# .venv/bin/catalogctl (not a catalogctl on PATH), and $PYTHON or .venv/bin/python
# for the broker. QUICKSTART_PORT (default 18089) moves the broker and the
# broker.yaml the run applies; QUICKSTART_PROVISION_SECONDS (default 3) is how
# long the broker takes to provision.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
catalogctl="${CATALOGCTL:-$repo/.venv/bin/catalogctl}"
python="${PYTHON:-$repo/.venv/bin/python}"
port="${QUICKSTART_PORT:-18089}"

work="$(mktemp -d "${TMPDIR:-/tmp}/catalogctl-quickstart.XXXXXX")"
cp -R examples/quickstart/cluster "$work/cluster"
# The services as committed name port 18089; the copy applied names $port.
cp -R examples/quickstart/services "$work/services"
sed -i.orig "s#http://127.0.0.1:18089#http://127.0.0.1:$port#" "$work/services/broker.yaml"
rm -f "$work/services/broker.yaml.orig"

# The demo broker's credentials; catalogctl reads the broker's authInfo Secret
# (catalogctl-system/cloud-broker-auth) from CATALOGCTL_SECRET_* variables here,
# the way a CI pipeline without cluster access to that Secret would.
export DEMO_BROKER_USERNAME=demo
export DEMO_BROKER_PASSWORD="demo-$(date +%s)-$$"
export CATALOGCTL_SECRET_CATALOGCTL_SYSTEM_CLOUD_BROKER_AUTH_USERNAME="$DEMO_BROKER_USERNAME"
export CATALOGCTL_SECRET_CATALOGCTL_SYSTEM_CLOUD_BROKER_AUTH_PASSWORD="$DEMO_BROKER_PASSWORD"
export CATALOGCTL_STATE="$work/state"
export CATALOGCTL_CLUSTER_DIR="$work/cluster"

"$python" -m examples.demo_broker --port "$port" \
  --provision-seconds "${QUICKSTART_PROVISION_SECONDS:-3}" >"$work/broker.log" 2>&1 &
broker=$!
trap 'kill "$broker" 2>/dev/null || true; wait "$broker" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q READY "$work/broker.log" 2>/dev/null && break
  kill -0 "$broker" 2>/dev/null || { cat "$work/broker.log"; exit 1; }
  sleep 0.1
done
grep -q READY "$work/broker.log" || { echo "demo broker did not start" >&2; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "catalogctl plan"
"$catalogctl" plan -f "$work/services"

step "catalogctl apply --auto-approve"
"$catalogctl" apply -f "$work/services" --auto-approve

step "The binding's Secret (values masked)"
"$catalogctl" output ServiceBinding/cloud-apps/cloud-queue-binding

step "The patched Deployment ($work/cluster/cloud-apps/deployment/myapp.yaml)"
cat "$work/cluster/cloud-apps/deployment/myapp.yaml"

step "catalogctl plan again"
"$catalogctl" plan -f "$work/services" --detailed-exitcode

step "Done: state in $work/state, cluster files in $work/cluster"
