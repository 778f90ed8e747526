#!/usr/bin/env bash
# The lab hypervisor: a Debian 12 virtual machine with a full kernel (device-mapper, NFS
# client and server, kernel iSCSI initiator, LIO target), libvirtd, LVM, NFS and targetcli,
# run under QEMU (TCG) and reached by Ansible over SSH like any remote KVM host.
#
#   lab.sh build    make the root disk image in the cache dir (only when the recipe changed)
#   lab.sh start    build if needed, boot a copy-on-write overlay of it with two fresh 1 GiB
#                   data disks (/dev/vdb, /dev/vdc) and a virtio-scsi controller at PCI
#                   address 0000:00:08.0 with one fresh 32 MiB LUN, wait for SSH and libvirtd,
#                   write the Ansible inventory .build/lab/inventory.ini (host `lab`)
#   lab.sh stop     poweroff over SSH, then end the recorded QEMU process if it is still there
#   lab.sh status   running or not
#   lab.sh ssh [COMMAND...]   a root shell (or one command) in the VM
#
# The cache dir lives outside the git tree and survives runs: the root filesystem tree, the
# ext4 root image made from it with mkfs.ext4 -d, the kernel and initrd, the SSH key pair and
# a stamp holding the hash of the build recipe. The running VM only writes to the overlay in
# .build/lab, so the cached image stays clean. QEMU's PID is in .build/run/lab.pid.
#
# Environment:
#   KVMOPS_LAB_CACHE     cache dir (default /var/cache/kvmops-lab)
#   KVMOPS_LAB_MIRROR    Debian mirror (default: the first bookworm mirror in /etc/apt)
#   KVMOPS_LAB_PORT      host port forwarded to the VM's SSH, on 127.0.0.1 (default 2222)
#   KVMOPS_LAB_TIMEOUT   seconds to wait for SSH after boot (default 180)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN="$REPO/.build/run"
LAB="$REPO/.build/lab"
CACHE="${KVMOPS_LAB_CACHE:-/var/cache/kvmops-lab}"
PORT="${KVMOPS_LAB_PORT:-2222}"
BOOT_TIMEOUT="${KVMOPS_LAB_TIMEOUT:-180}"
SUITE=bookworm
ROOT_SIZE=4G
DATA_DISKS=(data1 data2)
DATA_SIZE=1G
SCSI_LUN_SIZE=32M
SCSI_PCI_SLOT=0x8
KEY="$CACHE/id_ed25519"

say() { echo "lab: $*"; }
die() { echo "lab: $*" >&2; exit 1; }
# shellcheck source=scripts/lib.sh
source "$REPO/scripts/lib.sh"

# --- the build recipe (its text is hashed into the stamp) ---------------------------------
VM_PACKAGES=(
  systemd-sysv udev kmod openssh-server python3 python3-libvirt python3-lxml
  # Ansible's package/apt module installs python3-apt itself when it is missing (slow, online)
  python3-apt
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-utils
  lvm2 parted nfs-kernel-server nfs-common open-iscsi targetcli-fb iproute2 procps
  # targetcli talks to the system bus at start-up and fails without it
  dbus
  # the storage_metrics role's test reads the collector's textfile back through node_exporter
  prometheus-node-exporter
)
VM_KERNEL=(linux-image-cloud-amd64 initramfs-tools)

# libvirtd run at boot: Debian's libvirt-daemon ships no service unit (that comes with
# libvirt-daemon-system, which also brings its default network and dnsmasq).
LIBVIRTD_UNIT='[Unit]
Description=libvirt daemon (lab)
After=network.target iscsid.socket remote-fs.target
Wants=iscsid.socket

[Service]
ExecStartPre=/bin/mkdir -p /var/log/libvirt /run/libvirt
ExecStart=/usr/sbin/libvirtd
Restart=on-failure
KillMode=process

[Install]
WantedBy=multi-user.target'

NETWORK_UNIT='[Match]
Name=en*

[Network]
DHCP=yes'

configure_rootfs() { # rootfs
  local root=$1
  echo lab > "$root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\tlab\n' > "$root/etc/hosts"
  printf '/dev/vda\t/\text4\terrors=remount-ro\t0\t1\n' > "$root/etc/fstab"
  printf '%s\n' "$NETWORK_UNIT" > "$root/etc/systemd/network/20-en.network"
  printf '%s\n' "$LIBVIRTD_UNIT" > "$root/etc/systemd/system/kvmops-libvirtd.service"
  chroot "$root" systemctl enable systemd-networkd.service kvmops-libvirtd.service >/dev/null 2>&1
  # nothing here waits for a network that is configured after boot
  chroot "$root" systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1
  # libvirt 9 looks up its default QEMU user and group libvirt-qemu (made by
  # libvirt-daemon-system, not installed) and libvirtd exits without them
  chroot "$root" sh -c 'getent group kvm >/dev/null || groupadd --system kvm
    getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
    id -u libvirt-qemu >/dev/null 2>&1 || useradd --system --gid libvirt-qemu --groups kvm \
      --home-dir /var/lib/libvirt --no-create-home --shell /usr/sbin/nologin libvirt-qemu'
  mkdir -p "$root/root/.ssh" "$root/srv/nfs" "$root/etc/target"
  chmod 700 "$root/root/.ssh"
  cp "$KEY.pub" "$root/root/.ssh/authorized_keys"
  chmod 600 "$root/root/.ssh/authorized_keys"
  # a unique initiator name (open-iscsi makes it at first boot only when this file is missing)
  printf 'InitiatorName=iqn.2026-11.io.kvmops:lab\n' > "$root/etc/iscsi/initiatorname.iscsi"
}

recipe_hash() {
  { printf '%s\n' "$SUITE" "$ROOT_SIZE" "${VM_PACKAGES[@]}" "${VM_KERNEL[@]}" \
      "$LIBVIRTD_UNIT" "$NETWORK_UNIT"
    declare -f configure_rootfs build_image; } | sha256sum | cut -d' ' -f1
}

# the first http(s) mirror in /etc/apt that serves bookworm
apt_mirror() {
  local uri
  uri="$(grep -rhs -A3 -E '^(Types: deb|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/ |
    sed -n -E 's/^URIs: (http[^ ]*debian)\/?$/\1/p; s/^deb (\[[^]]*\] )?(http[^ ]*debian)\/? bookworm .*/\2/p' |
    head -n1)"
  echo "${uri:-http://deb.debian.org/debian}"
}

build_image() {
  local root="$CACHE/rootfs" mirror kernel initrd
  mirror="${KVMOPS_LAB_MIRROR:-$(apt_mirror)}"
  rm -rf "$root" "$CACHE/root.img.new"
  mkdir -p "$CACHE"
  [ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N '' -C kvmops-lab -f "$KEY"
  say "debootstrap $SUITE from $mirror"
  local pkgs
  pkgs="$(IFS=,; echo "${VM_PACKAGES[*]}")"
  debootstrap --variant=minbase --include="$pkgs" "$SUITE" "$root" "$mirror" > "$CACHE/build.log" 2>&1 ||
    { tail -n 30 "$CACHE/build.log" >&2; die "debootstrap failed (log: $CACHE/build.log)"; }
  say "installing the kernel in the image"
  mount -t proc proc "$root/proc"
  if ! DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q --no-install-recommends \
      "${VM_KERNEL[@]}" >> "$CACHE/build.log" 2>&1; then
    umount "$root/proc"
    tail -n 30 "$CACHE/build.log" >&2
    die "kernel install failed (log: $CACHE/build.log)"
  fi
  umount "$root/proc"
  chroot "$root" apt-get clean
  configure_rootfs "$root"
  kernel="$(find "$root/boot" -name 'vmlinuz-*' | sort | tail -n1)"
  initrd="$(find "$root/boot" -name 'initrd.img-*' | sort | tail -n1)"
  if [ -z "$kernel" ] || [ -z "$initrd" ]; then die "no kernel or initrd in $root/boot"; fi
  cp "$kernel" "$CACHE/vmlinuz"
  cp "$initrd" "$CACHE/initrd.img"
  say "mkfs.ext4 -d (root disk $ROOT_SIZE)"
  mkfs.ext4 -q -F -L lab-root -d "$root" "$CACHE/root.img.new" "$ROOT_SIZE"
  mv "$CACHE/root.img.new" "$CACHE/root.img"
  rm -rf "$root"
}

cmd_build() {
  local want start=$SECONDS
  want="$(recipe_hash)"
  if [ -f "$CACHE/root.img" ] && [ -f "$CACHE/vmlinuz" ] && [ -f "$KEY" ] &&
     [ "$(cat "$CACHE/stamp" 2>/dev/null || true)" = "$want" ]; then
    say "image up to date in $CACHE"
    return
  fi
  if lab_running; then die "the lab VM runs on the old image: lab.sh stop first"; fi
  for tool in debootstrap mkfs.ext4 ssh-keygen qemu-img; do
    command -v "$tool" >/dev/null || die "$tool missing (scripts/setup.sh installs it)"
  done
  rm -f "$CACHE/stamp"
  build_image
  echo "$want" > "$CACHE/stamp"
  say "image built in $((SECONDS - start)) s ($CACHE)"
}

# --- running it -------------------------------------------------------------------------
pid_file="$RUN/lab.pid"
recorded_pid() { cat "$pid_file" 2>/dev/null || true; }
# QEMU's comm is its program name cut to 15 characters
lab_running() { running_as "$(recorded_pid)" qemu-system-x86; }

SSH_OPTS=(-i "$KEY" -p "$PORT" -o BatchMode=yes -o StrictHostKeyChecking=no
  -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10)
# the command runs in the VM's shell: callers pass it as one quoted word
# shellcheck disable=SC2029
vm() { ssh "${SSH_OPTS[@]}" root@127.0.0.1 "$@"; }

wait_for() { # seconds what command...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  while ! "$@" >/dev/null 2>&1; do
    lab_running || die "QEMU exited while waiting for $what (console: $LAB/console.log)"
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 2
  done
}

write_inventory() {
  cat > "$LAB/inventory.ini" <<EOF
# written by tests/lab/lab.sh start
[hypervisors]
lab ansible_host=127.0.0.1 ansible_port=$PORT ansible_user=root ansible_ssh_private_key_file=$KEY

[hypervisors:vars]
ansible_python_interpreter=/usr/bin/python3
ansible_pipelining=true
ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'
EOF
}

cmd_start() {
  local start
  if lab_running; then
    say "already running (pid $(recorded_pid))"
    write_inventory
    return
  fi
  cmd_build
  if port_in_use "$PORT"; then
    die "port $PORT is in use on this machine (set KVMOPS_LAB_PORT)"
  fi
  mkdir -p "$RUN" "$LAB"
  rm -f "$pid_file" "$LAB/root.qcow2" "$LAB/console.log"
  qemu-img create -q -f qcow2 -b "$CACHE/root.img" -F raw "$LAB/root.qcow2"
  local drives=(-drive "file=$LAB/root.qcow2,format=qcow2,if=virtio")
  for disk in "${DATA_DISKS[@]}"; do
    rm -f "$LAB/$disk.img"
    truncate -s "$DATA_SIZE" "$LAB/$disk.img"
    drives+=(-drive "file=$LAB/$disk.img,format=raw,if=virtio")
  done
  rm -f "$LAB/scsi-lun0.img"
  truncate -s "$SCSI_LUN_SIZE" "$LAB/scsi-lun0.img"
  drives+=(-device "virtio-scsi-pci,id=scsi0,addr=$SCSI_PCI_SLOT"
           -drive "file=$LAB/scsi-lun0.img,format=raw,if=none,id=lun0"
           -device "scsi-hd,drive=lun0,bus=scsi0.0,serial=kvmops-lun0")
  start=$SECONDS
  qemu-system-x86_64 -name kvmops-lab -accel tcg,thread=multi -smp 2 -m 2048 \
    -display none -serial "file:$LAB/console.log" -monitor none \
    -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initrd.img" \
    -append "console=ttyS0 root=/dev/vda rw quiet" "${drives[@]}" \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$PORT-:22" -device virtio-net-pci,netdev=n0 \
    -daemonize -pidfile "$pid_file"
  lab_running || die "QEMU did not start"
  say "QEMU started (pid $(recorded_pid)); waiting up to ${BOOT_TIMEOUT} s for SSH on 127.0.0.1:$PORT"
  if ! wait_for "$BOOT_TIMEOUT" SSH vm true; then
    tail -n 20 "$LAB/console.log" >&2 || true
    cmd_stop
    die "no SSH answer within ${BOOT_TIMEOUT} s"
  fi
  wait_for 60 libvirtd vm virsh -c qemu:///system uri || { cmd_stop; die "libvirtd does not answer in the VM"; }
  write_inventory
  say "ready in $((SECONDS - start)) s; inventory: $LAB/inventory.ini"
}

cmd_stop() {
  local pid
  pid="$(recorded_pid)"
  if ! lab_running; then
    say "not running"
    rm -f "$pid_file"
    return
  fi
  timeout 20 ssh "${SSH_OPTS[@]}" root@127.0.0.1 systemctl poweroff >/dev/null 2>&1 || true
  if ! wait_until 60 eval '! lab_running'; then
    say "no clean shutdown in 60 s: ending QEMU (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    sleep 3
    if lab_running; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$pid_file"
  say "stopped (pid $pid)"
}

cmd_status() {
  if lab_running; then echo "lab: running (pid $(recorded_pid), ssh 127.0.0.1:$PORT)"; else echo "lab: not running"; fi
}

cmd_ssh() {
  lab_running || die "not running"
  if [ -t 0 ] && [ "$#" -eq 0 ]; then exec ssh "${SSH_OPTS[@]/BatchMode=yes/BatchMode=no}" -t root@127.0.0.1; fi
  exec ssh "${SSH_OPTS[@]}" root@127.0.0.1 "$@"
}

action="${1:-}"
[ "$#" -gt 0 ] && shift
case "$action" in
  build | start | stop) [ "$(id -u)" -eq 0 ] || die "must run as root"; "cmd_$action" ;;
  status) cmd_status ;;
  ssh) cmd_ssh "$@" ;;
  *) echo "usage: lab.sh build|start|stop|status|ssh [COMMAND...]" >&2; exit 2 ;;
esac
