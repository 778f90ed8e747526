#!/usr/bin/env bash
# Benchmarks of kvmops.storage side by side with community.libvirt (see bench/README.md).
#
#   bench/run.sh [--runs N] [--quick] [--scenarios b,c,a] [--keep] ...   (bench/run.py --help)
#
# Prepares the machine with scripts/setup.sh, starts libvirtd with scripts/servers.sh unless one
# is running (and stops it on exit only when it was started here), creates the virtualenv with
# the ansible 12 package (community.libvirt) in .build/bench-venv-ansible12 when it is missing,
# then runs bench/run.py with the project's .venv.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

if [ "$(id -u)" -ne 0 ]; then
  echo "bench/run.sh: must run as root (libvirtd on qemu:///system, pools under /var/lib)" >&2
  exit 1
fi

bash scripts/setup.sh

PEER_VENV="${KVMOPS_BENCH_PEER_VENV:-$REPO/.build/bench-venv-ansible12}"
peer_ready() {
  "$PEER_VENV/bin/python" -c 'import libvirt, lxml, ansible_collections.community.libvirt' >/dev/null 2>&1
}
if ! peer_ready; then
  echo "bench: creating $PEER_VENV (ansible 12.x with community.libvirt, libvirt-python, lxml)"
  rm -rf "$PEER_VENV"
  "$(.venv/bin/python -c 'import sys; print(sys.base_prefix)')/bin/python3" -m venv "$PEER_VENV"
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    "$PEER_VENV/bin/python" -m pip install -q 'ansible>=12,<13' libvirt-python lxml
  peer_ready || { echo "bench/run.sh: $PEER_VENV is not usable" >&2; exit 1; }
fi

# libvirtd: stop it on exit only when servers.sh records a PID it did not record before
recorded_libvirtd() { bash "$REPO/scripts/servers.sh" started libvirtd; }
started=false
was_recorded=false
if recorded_libvirtd; then was_recorded=true; fi
stop_started() {
  if [ "$started" = true ]; then bash "$REPO/scripts/servers.sh" stop libvirtd || true; fi
}
trap stop_started EXIT
bash scripts/servers.sh start libvirtd
if [ "$was_recorded" = false ] && recorded_libvirtd; then started=true; fi

"$REPO/.venv/bin/python" "$REPO/bench/run.py" --peer-venv "$PEER_VENV" "$@"
