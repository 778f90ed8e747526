#!/usr/bin/env bash
# Set up this machine and run the demo playbook against the local libvirtd (left running afterwards).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash scripts/setup.sh
bash scripts/servers.sh start libvirtd
# the demo leaves libvirtd running for a look at the pools: forget it so no test run stops it
rm -f .build/run/libvirtd.pid
export PATH="$REPO/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$REPO/.build/collections" ANSIBLE_LOCALHOST_WARNING=false
exec ansible-playbook -i localhost, -c local playbooks/demo.yml "$@"
