#!/usr/bin/env bash
# Prepare this Debian 12 machine for developing and testing the collection:
#   - the Debian packages for libvirtd, its storage drivers, tgtd and the tools the tests call;
#   - a Python 3.11 virtualenv in .venv with requirements-dev.txt;
#   - .build/collections/ansible_collections/kvmops/storage -> the repo root, so that
#     ANSIBLE_COLLECTIONS_PATH=$REPO/.build/collections finds kvmops.storage.
# Idempotent: apt-get runs only for missing packages, pip only when the requirements
# (or the virtualenv's Python) changed since the last install.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: must run as root (installs Debian packages; the tests manage libvirtd)" >&2
  exit 1
fi

# --- Debian packages --------------------------------------------------------------------
PACKAGES=(
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-driver-storage-rbd
  libvirt-daemon-driver-storage-iscsi-direct libvirt-daemon-driver-storage-gluster
  libvirt-daemon-driver-storage-zfs libvirt-clients libvirt-dev pkg-config qemu-utils parted
  tgt e2fsprogs util-linux rsync
  # the QEMU emulator: libvirt defines a domain only when it finds one (the volume-in-use tests)
  qemu-system-x86
  # building libvirt-python (no wheels on PyPI) and creating the virtualenv
  gcc python3-dev python3-venv
  # ss, pgrep and useradd, used by scripts/servers.sh
  iproute2 procps passwd
  # scripts/test.sh: the sanity copy is a git repository; ansible-test's shellcheck test
  # skips itself without the shellcheck program
  git shellcheck
  # the one-node Ceph cluster behind the rbd pool tests (scripts/servers.sh start ceph)
  ceph-mon ceph-osd ceph-mgr ceph-common
  # the capacity report test renders the HTML report in headless Chromium
  chromium
  # tests/lab/lab.sh: the lab VM's image and SSH to it
  debootstrap openssh-client
  # promtool (check metrics, check rules, test rules) for the storage_metrics role's tests
  prometheus
)
missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python virtualenv ------------------------------------------------------------------
py311_ok() { "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != (3, 11))' >/dev/null 2>&1; }

if [ -e .venv ] && ! py311_ok .venv/bin/python; then
  echo "setup: .venv has no working Python 3.11; recreating it"
  rm -rf .venv
fi
if [ ! -e .venv ]; then
  python=""
  for candidate in ${PYTHON:-} python3.11 /usr/bin/python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && py311_ok "$candidate"; then python="$candidate"; break; fi
  done
  if [ -z "$python" ]; then
    echo "setup.sh: no Python 3.11 with the venv module found (set PYTHON=/path/to/python3.11)" >&2
    exit 1
  fi
  echo "setup: creating .venv with $("$python" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
  "$python" -m venv .venv
fi

# pip runs only when requirements*.txt or the virtualenv's Python changed
stamp=.venv/.requirements.sha256
want="$( { cat requirements.txt requirements-dev.txt; .venv/bin/python -VV; } | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "setup: installing requirements-dev.txt into .venv"
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    .venv/bin/python -m pip install -q -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

# --- collections path -------------------------------------------------------------------
link=.build/collections/ansible_collections/kvmops/storage
mkdir -p "$(dirname "$link")"
if [ "$(readlink "$link" 2>/dev/null || true)" != "$REPO" ]; then
  if [ -e "$link" ] && [ ! -L "$link" ]; then
    echo "setup.sh: $link exists and is not a symlink; remove it" >&2
    exit 1
  fi
  ln -sfn "$REPO" "$link"
fi

echo "setup: ready (.venv with $(.venv/bin/python -V); ANSIBLE_COLLECTIONS_PATH=$REPO/.build/collections)"
