#!/usr/bin/env bash
# Run the demo playbook (playbooks/demo.yml) against this machine's libvirtd:
#   scripts/demo.sh [ansible-playbook options...]        e.g. scripts/demo.sh --check --diff
# Sets the machine up (scripts/setup.sh) and starts libvirtd unless one is running. libvirtd
# stays up afterwards so the result can be looked at (virsh pool-list --all); one started
# here can be stopped with `scripts/servers.sh stop libvirtd`.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/setup.sh
bash scripts/servers.sh start libvirtd

export PATH="$REPO/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$REPO/.build/collections"
export ANSIBLE_LOCALHOST_WARNING=false
exec ansible-playbook -i localhost, -c local playbooks/demo.yml "$@"
