#!/usr/bin/env bash
# Start or stop the servers the tests use: libvirtd, and tgtd (a userspace iSCSI target on
# 127.0.0.1:3260 with two file-backed LUNs). Only servers started here are recorded in
# .build/run/*.pid, and stop ends only those, by PID.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="$REPO/.build/run"
mkdir -p "$RUN"
TGT_IQN="${KVMOPS_TGT_IQN:-iqn.2026-11.io.kvmops:test}"
TGT_PORTAL=127.0.0.1:3260

libvirt_up() { virsh -c qemu:///system version >/dev/null 2>&1 || virsh -c qemu:///system pool-list >/dev/null 2>&1; }

wait_for() { # seconds command...
  local limit=$1; shift
  for _ in $(seq $((limit * 5))); do "$@" && return 0; sleep 0.2; done
  return 1
}

start_libvirtd() {
  if libvirt_up; then echo "servers: libvirtd already running, reusing it"; return; fi
  mkdir -p /var/log/libvirt /run/libvirt
  libvirtd -d -p "$RUN/libvirtd.pid"
  wait_for 30 libvirt_up || { echo "servers: libvirtd did not answer; see /var/log/libvirt" >&2; exit 1; }
  echo "servers: libvirtd started (pid $(cat "$RUN/libvirtd.pid"))"
}

tgt_up() { tgtadm --lld iscsi --op show --mode sys >/dev/null 2>&1; }

start_tgtd() {
  if [ -f "$RUN/tgtd.pid" ] && kill -0 "$(cat "$RUN/tgtd.pid")" 2>/dev/null; then echo "servers: tgtd already running"; return; fi
  if tgt_up; then echo "servers: a tgtd not started here is running; refusing to reconfigure it" >&2; exit 1; fi
  mkdir -p "$REPO/.build/tgt"
  truncate -s 64M "$REPO/.build/tgt/lun1.img"
  truncate -s 32M "$REPO/.build/tgt/lun2.img"
  tgtd -f --iscsi portal="$TGT_PORTAL" >"$RUN/tgtd.log" 2>&1 &
  echo $! > "$RUN/tgtd.pid"
  wait_for 15 tgt_up || { echo "servers: tgtd did not start; see $RUN/tgtd.log" >&2; exit 1; }
  tgtadm --lld iscsi --op new --mode target --tid 1 -T "$TGT_IQN"
  tgtadm --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$REPO/.build/tgt/lun1.img"
  tgtadm --lld iscsi --op new --mode logicalunit --tid 1 --lun 2 -b "$REPO/.build/tgt/lun2.img"
  tgtadm --lld iscsi --op bind --mode target --tid 1 -I ALL
  echo "servers: tgtd started (pid $(cat "$RUN/tgtd.pid")) on $TGT_PORTAL with $TGT_IQN"
}

stop_pidfile() { # name
  local file="$RUN/$1.pid" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "servers: $1 (pid $pid) stopped"
  fi
  rm -f "$file"
}

action="${1:-}"; what="${2:-all}"
case "$action" in
  start)
    case "$what" in libvirtd) start_libvirtd ;; tgtd) start_tgtd ;; all) start_libvirtd; start_tgtd ;; *) exit 2 ;; esac ;;
  stop)
    case "$what" in libvirtd) stop_pidfile libvirtd ;; tgtd) stop_pidfile tgtd ;; all) stop_pidfile tgtd; stop_pidfile libvirtd ;; *) exit 2 ;; esac ;;
  *) echo "usage: servers.sh start|stop [libvirtd|tgtd|all]" >&2; exit 2 ;;
esac
