#!/usr/bin/env bash
# Start, stop or show the servers the integration tests use.
#
#   servers.sh start  [libvirtd|tgtd|lab|all]
#   servers.sh stop   [libvirtd|tgtd|lab|all]
#   servers.sh status [libvirtd|tgtd|lab|all]
#
# libvirtd  the system daemon behind qemu:///system. One that is already running is reused
#           and not recorded; one started here runs as `libvirtd -d -p .build/run/libvirtd.pid`
#           and logs warnings and errors to /var/log/libvirt/libvirtd.log.
# tgtd      userspace iSCSI target listening on 127.0.0.1:3260 only, serving target
#           iqn.2026-11.io.kvmops:test (tid 1) to all initiators, with LUN 1 and LUN 2 backed by
#           sparse files .build/tgt/lun1.img (64 MiB) and lun2.img (32 MiB), made anew at each
#           start. Its output goes to .build/run/tgtd.log.
# lab       the lab hypervisor VM (QEMU, SSH on 127.0.0.1:2222): tests/lab/lab.sh start|stop|status;
#           its PID is in .build/run/lab.pid. Not part of `all` (it boots a VM): name it.
#
# A server started here has its PID in .build/run/NAME.pid. `stop` signals only that PID
# (after checking it still is that program) and never a server it did not start.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="$REPO/.build/run"
TGT_DIR="$REPO/.build/tgt"

LIBVIRT_URI=qemu:///system
LIBVIRTD_LOG=/var/log/libvirt/libvirtd.log
TGT_IQN=iqn.2026-11.io.kvmops:test
TGT_PORTAL=127.0.0.1:3260

say() { echo "servers: $*"; }
die() { echo "servers: $*" >&2; exit 1; }

# true while PID runs the program COMM (a zombie does not count)
running_as() { # pid comm
  local stat
  [[ "$1" =~ ^[0-9]+$ ]] || return 1
  [ "$(cat "/proc/$1/comm" 2>/dev/null || true)" = "$2" ] || return 1
  stat="$(ps -o stat= -p "$1" 2>/dev/null || true)"
  [ -n "$stat" ] && [[ "$stat" != Z* ]]
}

recorded_pid() { cat "$RUN/$1.pid" 2>/dev/null || true; }

wait_until() { # seconds command... ; polls every 0.2 s
  local tries=$(($1 * 5)); shift
  while [ "$tries" -gt 0 ]; do
    if "$@"; then return 0; fi
    sleep 0.2
    tries=$((tries - 1))
  done
  return 1
}

# --- libvirtd -----------------------------------------------------------------------------
# `virsh version` is no readiness test here: without qemu-system-x86 it fails with "Cannot
# find suitable emulator for x86_64" although the daemon answers. `virsh uri` needs only the
# connection.
libvirt_answers() { timeout 10 virsh -c "$LIBVIRT_URI" uri >/dev/null 2>&1; }

# libvirt 9's QEMU driver looks up its default user and group libvirt-qemu (Debian's build
# setting) before it reads qemu.conf, and libvirtd exits ("Failed to parse user
# 'libvirt-qemu'") when they do not exist, whatever qemu.conf says. Debian creates them in
# libvirt-daemon-system, which is not installed here.
ensure_qemu_user() {
  getent group kvm >/dev/null || groupadd --system kvm
  getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
  if ! id -u libvirt-qemu >/dev/null 2>&1; then
    say "creating the system user libvirt-qemu"
    useradd --system --gid libvirt-qemu --groups kvm --home-dir /var/lib/libvirt --no-create-home \
      --shell /usr/sbin/nologin --comment "Libvirt Qemu" libvirt-qemu
  fi
}

# true once libvirtd answers; fails at once when the daemon started here has exited
libvirtd_ready() {
  local pid
  libvirt_answers && return 0
  pid="$(recorded_pid libvirtd)"
  if [ -n "$pid" ] && ! running_as "$pid" libvirtd; then
    echo "servers: libvirtd (pid $pid) exited during start-up" >&2
    return 2
  fi
  return 1
}

start_libvirtd() {
  local pid
  pid="$(recorded_pid libvirtd)"
  if [ -n "$pid" ] && running_as "$pid" libvirtd; then
    wait_until 30 libvirt_answers || die "libvirtd (pid $pid, started here) does not answer on $LIBVIRT_URI"
    say "libvirtd already running (pid $pid, started here)"
    return
  fi
  rm -f "$RUN/libvirtd.pid"
  if pid="$(pgrep -x libvirtd | head -n1)" && [ -n "$pid" ]; then
    wait_until 30 libvirt_answers || die "a libvirtd (pid $pid) is running but does not answer on $LIBVIRT_URI"
    say "libvirtd already running (pid $pid, not started here): reusing it"
    return
  fi
  if libvirt_answers; then
    say "$LIBVIRT_URI answers (libvirtd not started here): reusing it"
    return
  fi
  mkdir -p /var/log/libvirt /run/libvirt "$RUN"
  ensure_qemu_user
  local log_lines state=1 tries=150
  log_lines=0
  [ -f "$LIBVIRTD_LOG" ] && log_lines="$(wc -l < "$LIBVIRTD_LOG")"
  LIBVIRT_LOG_OUTPUTS="3:file:$LIBVIRTD_LOG" libvirtd -d -p "$RUN/libvirtd.pid" ||
    die "libvirtd -d failed; see $LIBVIRTD_LOG"
  while [ "$tries" -gt 0 ]; do
    state=0
    libvirtd_ready || state=$?
    [ "$state" -eq 1 ] || break
    sleep 0.2
    tries=$((tries - 1))
  done
  if [ "$state" -ne 0 ]; then
    tail -n "+$((log_lines + 1))" "$LIBVIRTD_LOG" >&2 2>/dev/null || true
    rm -f "$RUN/libvirtd.pid"
    die "libvirtd did not come up on $LIBVIRT_URI (log: $LIBVIRTD_LOG)"
  fi
  say "libvirtd started (pid $(recorded_pid libvirtd))"
}

# --- tgtd ---------------------------------------------------------------------------------
tgt_answers() { tgtadm --lld iscsi --mode sys --op show >/dev/null 2>&1; }
tgt_serves_iqn() { tgtadm --lld iscsi --mode target --op show 2>/dev/null | grep -q "^Target [0-9]*: $TGT_IQN\$"; }
portal_listening() { [ -n "$(ss -Hltn "sport = :${TGT_PORTAL##*:}" 2>/dev/null)" ]; }

start_tgtd() {
  local pid sockets
  pid="$(recorded_pid tgtd)"
  if [ -n "$pid" ] && running_as "$pid" tgtd; then
    tgt_serves_iqn || die "tgtd (pid $pid, started here) no longer serves $TGT_IQN: run stop tgtd, then start tgtd"
    say "tgtd already running (pid $pid, started here)"
    return
  fi
  rm -f "$RUN/tgtd.pid"
  if tgt_answers || portal_listening; then
    if tgt_serves_iqn; then
      say "a tgtd not started here serves $TGT_IQN: reusing it"
      return
    fi
    die "port ${TGT_PORTAL##*:} or the tgtd control socket is in use by a server not started here"
  fi

  mkdir -p "$RUN" "$TGT_DIR"
  rm -f "$TGT_DIR/lun1.img" "$TGT_DIR/lun2.img"
  truncate -s 64M "$TGT_DIR/lun1.img"
  truncate -s 32M "$TGT_DIR/lun2.img"

  # -f keeps it in the foreground of this background job, so $! is tgtd's PID and its log
  # goes to the file; no descriptor of the caller stays open in it.
  tgtd -f --iscsi "portal=$TGT_PORTAL" </dev/null >"$RUN/tgtd.log" 2>&1 &
  pid=$!
  echo "$pid" > "$RUN/tgtd.pid"
  if ! wait_until 15 tgt_answers || ! running_as "$pid" tgtd; then
    cat "$RUN/tgtd.log" >&2 || true
    stop_recorded tgtd >/dev/null
    die "tgtd did not start"
  fi

  tgtadm --lld iscsi --mode target --op new --tid 1 --targetname "$TGT_IQN"
  tgtadm --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TGT_DIR/lun1.img"
  tgtadm --lld iscsi --mode logicalunit --op new --tid 1 --lun 2 --backing-store "$TGT_DIR/lun2.img"
  tgtadm --lld iscsi --mode target --op bind --tid 1 --initiator-address ALL

  # it must listen on the loopback portal and nowhere else
  wait_until 5 portal_listening || true
  sockets="$(ss -Hltnp | grep "pid=$pid," | awk '{print $4}' | sort -u | tr '\n' ' ')"
  if [ "$sockets" != "$TGT_PORTAL " ]; then
    stop_recorded tgtd >/dev/null
    die "tgtd listened on '${sockets% }' instead of $TGT_PORTAL only; stopped it"
  fi
  say "tgtd started (pid $pid) on $TGT_PORTAL serving $TGT_IQN (LUN 1: 64 MiB, LUN 2: 32 MiB)"
}

# --- stop / status ------------------------------------------------------------------------
# tgtd does not exit on SIGTERM while it has targets. Its own service unit stops it by
# deleting the targets and then the system through the control socket: done here when the
# recorded PID is the tgtd holding that socket.
tgtd_shutdown() { # pid
  local tid
  ss -Hxlp 2>/dev/null | grep -F "/var/run/tgtd/socket.0 " | grep -q "pid=$1," || return 0
  for tid in $(tgtadm --lld iscsi --mode target --op show 2>/dev/null | sed -n 's/^Target \([0-9]*\):.*/\1/p'); do
    tgtadm --lld iscsi --mode target --op delete --force --tid "$tid" || true
  done
  tgtadm --op delete --mode system || true
}

stop_recorded() { # name (also the program name)
  local name=$1 pid
  pid="$(recorded_pid "$name")"
  if [ -z "$pid" ]; then
    say "$name: not started here, left alone"
    return
  fi
  if running_as "$pid" "$name"; then
    if [ "$name" = tgtd ]; then
      tgtd_shutdown "$pid"
      wait_until 10 eval "! running_as $pid $name" || kill -TERM "$pid" 2>/dev/null || true
    else
      kill -TERM "$pid" 2>/dev/null || true
    fi
    if ! wait_until 30 eval "! running_as $pid $name"; then
      say "$name (pid $pid) still running 30 s after SIGTERM: sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait_until 5 eval "! running_as $pid $name" || die "$name (pid $pid) did not exit"
    fi
    say "$name (pid $pid) stopped"
  else
    say "$name (pid $pid) was no longer running"
  fi
  rm -f "$RUN/$name.pid"
}

status() { # name
  local pid
  pid="$(recorded_pid "$1")"
  if [ -n "$pid" ] && running_as "$pid" "$1"; then
    echo "$1: running (pid $pid, started here)"
  elif pid="$(pgrep -x "$1" | head -n1)" && [ -n "$pid" ]; then
    echo "$1: running (pid $pid, not started here)"
  else
    echo "$1: not running"
  fi
}

usage() { echo "usage: servers.sh start|stop|status [libvirtd|tgtd|lab|all]" >&2; exit 2; }

start_lab() { bash "$REPO/tests/lab/lab.sh" start; }

action="${1:-}"
what="${2:-all}"
case "$what" in
  libvirtd | tgtd | lab) names=("$what") ;;
  all) names=(libvirtd tgtd) ;;
  *) usage ;;
esac
if [ "$action" != status ] && [ "$(id -u)" -ne 0 ]; then die "must run as root"; fi
case "$action" in
  start) for n in "${names[@]}"; do "start_$n"; done ;;
  # stop in reverse order of start
  stop) for ((i = ${#names[@]} - 1; i >= 0; i--)); do
      if [ "${names[$i]}" = lab ]; then bash "$REPO/tests/lab/lab.sh" stop; else stop_recorded "${names[$i]}"; fi
    done ;;
  status) for n in "${names[@]}"; do
      if [ "$n" = lab ]; then bash "$REPO/tests/lab/lab.sh" status; else status "$n"; fi
    done ;;
  *) usage ;;
esac
