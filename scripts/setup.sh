#!/usr/bin/env bash
# Set up this Debian machine for the collection: Debian packages, the libvirt users,
# a virtualenv in .venv with the Python requirements, and a collections path in .build.
# Idempotent: a second run only checks.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

[ "$(id -u)" -eq 0 ] || { echo "setup.sh: run as root (it installs packages and manages libvirtd)" >&2; exit 1; }

PACKAGES=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-driver-storage-rbd
  libvirt-daemon-driver-storage-iscsi-direct libvirt-daemon-driver-storage-gluster
  libvirt-daemon-driver-storage-zfs libvirt-clients libvirt-dev pkg-config qemu-utils parted tgt
  e2fsprogs util-linux rsync python3-venv)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libvirtd's QEMU driver resolves its default user and group at start-up, before reading qemu.conf
getent group kvm >/dev/null || groupadd -r kvm
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
id libvirt-qemu >/dev/null 2>&1 || useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python requirements into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

mkdir -p .build/collections/ansible_collections/kvmops
ln -sfn "$REPO" .build/collections/ansible_collections/kvmops/storage
echo "setup: ready (.venv, .build/collections)"
