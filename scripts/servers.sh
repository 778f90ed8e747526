#!/usr/bin/env bash
# Start, stop or show the servers the integration tests use.
#
#   servers.sh start  [libvirtd|tgtd|ceph|lab|all]
#   servers.sh stop   [libvirtd|tgtd|ceph|lab|all]
#   servers.sh status [libvirtd|tgtd|ceph|lab|all]
#   servers.sh started NAME   exit 0 when NAME runs with the PID(s) recorded here (ceph: all three
#                             daemons), 1 otherwise; for callers that stop only what they started
#
# libvirtd  the system daemon behind qemu:///system. One that is already running is reused
#           and not recorded; one started here runs as `libvirtd -d -p .build/run/libvirtd.pid`
#           and logs warnings and errors to /var/log/libvirt/libvirtd.log. virtlogd (which QEMU
#           domains need to start: libvirtd hands their console log to it) starts and stops with
#           it: one already running is reused, one started here runs as
#           `virtlogd -d -p .build/run/virtlogd.pid`.
# tgtd      userspace iSCSI target listening on 127.0.0.1:3260 only, serving target
#           iqn.2026-11.io.kvmops:test (tid 1) to all initiators, with LUN 1 and LUN 2 backed by
#           sparse files .build/tgt/lun1.img (64 MiB) and lun2.img (32 MiB), made anew at each
#           start. Its output goes to .build/run/tgtd.log.
# ceph      a one-node Ceph cluster (1 mon on 127.0.0.1:6789 speaking msgr v1 only, 1 mgr, 1 OSD
#           with the in-memory objectstore, pools of size 1, cephx), every daemon bound to
#           127.0.0.1. All its state is under .build/ceph (configuration .build/ceph/ceph.conf,
#           for `ceph -c`/`rbd -c`; logs in .build/ceph/log); nothing is written to /etc/ceph.
#           It holds the RADOS pool libvirt-it (initialised for RBD) and the client
#           client.libvirt (mon 'profile rbd', osd 'profile rbd pool=libvirt-it'); what the
#           tests need to reach them is in .build/ceph/testbed.env (KEY=VALUE lines). The
#           daemons' PIDs are in .build/run/ceph-mon.pid, ceph-mgr.pid and ceph-osd.pid.
#           `stop` removes .build/ceph, so the next start makes a new cluster.
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

# shellcheck source=scripts/lib.sh
source "$REPO/scripts/lib.sh"

recorded_pid() { cat "$RUN/$1.pid" 2>/dev/null || true; }

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

# --- virtlogd -----------------------------------------------------------------------------
virtlogd_socket() { [ -S /run/libvirt/virtlogd-sock ]; }

start_virtlogd() {
  local pid
  pid="$(recorded_pid virtlogd)"
  if [ -n "$pid" ] && running_as "$pid" virtlogd; then
    say "virtlogd already running (pid $pid, started here)"
    return
  fi
  rm -f "$RUN/virtlogd.pid"
  if pid="$(pgrep -x virtlogd | head -n1)" && [ -n "$pid" ]; then
    say "virtlogd already running (pid $pid, not started here): reusing it"
    return
  fi
  mkdir -p /var/log/libvirt /run/libvirt "$RUN"
  virtlogd -d -p "$RUN/virtlogd.pid" || die "virtlogd -d failed"
  wait_until 10 virtlogd_socket || die "virtlogd did not make /run/libvirt/virtlogd-sock"
  say "virtlogd started (pid $(recorded_pid virtlogd))"
}

start_libvirtd() {
  local pid
  start_virtlogd
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
portal_listening() { port_in_use "${TGT_PORTAL##*:}"; }

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
  sockets="$(listening_sockets "$pid")"
  if [ "$sockets" != "$TGT_PORTAL " ]; then
    stop_recorded tgtd >/dev/null
    die "tgtd listened on '${sockets% }' instead of $TGT_PORTAL only; stopped it"
  fi
  say "tgtd started (pid $pid) on $TGT_PORTAL serving $TGT_IQN (LUN 1: 64 MiB, LUN 2: 32 MiB)"
}

# --- ceph ---------------------------------------------------------------------------------
CEPH_DIR="$REPO/.build/ceph"
CEPH_CONF="$CEPH_DIR/ceph.conf"
CEPH_MON=127.0.0.1:6789
CEPH_POOL=libvirt-it
CEPH_CLIENT=libvirt
CEPH_DAEMONS=(ceph-mon ceph-mgr ceph-osd)

cephc() { timeout 20 ceph -c "$CEPH_CONF" --connect-timeout 10 "$@"; }
ceph_answers() { cephc health >/dev/null 2>&1; }
ceph_osd_up() { cephc osd dump 2>/dev/null | grep -q '^osd\.0 up '; }
ceph_mgr_active() { cephc mgr stat 2>/dev/null | grep -q '"available": *true'; }
ceph_port_listening() { port_in_use "${CEPH_MON##*:}"; }

ceph_write_conf() { # fsid
  cat > "$CEPH_CONF" <<EOF
# one-node test cluster made by scripts/servers.sh; removed by servers.sh stop ceph
[global]
fsid = $1
mon initial members = a
mon host = [v1:$CEPH_MON]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind msgr2 = false
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
run dir = $CEPH_DIR/run
log file = $CEPH_DIR/log/\$cluster-\$name.log
mon cluster log file = $CEPH_DIR/log/\$cluster.log
osd objectstore = memstore
memstore device bytes = 1073741824
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1

[mon]
mon data = $CEPH_DIR/mon/\$cluster-\$id

[mgr]
mgr data = $CEPH_DIR/mgr/\$cluster-\$id

[osd]
osd data = $CEPH_DIR/osd/\$cluster-\$id
osd memory target = 536870912

[client]
keyring = $CEPH_DIR/\$cluster.\$name.keyring
EOF
}

# starts one daemon in the foreground of a background job, so $! is its PID
ceph_spawn() { # program args...
  local prog=$1
  shift
  "$prog" -f -c "$CEPH_CONF" "$@" </dev/null >>"$CEPH_DIR/log/$prog.out" 2>&1 &
  echo "$!" > "$RUN/$prog.pid"
}

ceph_fail() { # message
  local d
  for d in "${CEPH_DAEMONS[@]}"; do tail -n 20 "$CEPH_DIR/log/$d.out" >&2 2>/dev/null || true; done
  stop_ceph >/dev/null
  die "$1"
}

start_ceph() {
  local d pid fsid osd_uuid sockets t0=$SECONDS
  local alive=()
  for d in "${CEPH_DAEMONS[@]}"; do
    pid="$(recorded_pid "$d")"
    if [ -n "$pid" ] && running_as "$pid" "$d"; then alive+=("$d"); fi
  done
  if [ "${#alive[@]}" -eq "${#CEPH_DAEMONS[@]}" ]; then
    wait_until 30 ceph_answers || die "ceph (started here) does not answer on $CEPH_MON: run stop ceph, then start ceph"
    cephc osd pool ls | grep -qx "$CEPH_POOL" || die "ceph (started here) has no pool $CEPH_POOL: run stop ceph, then start ceph"
    say "ceph already running (started here; mon pid $(recorded_pid ceph-mon)) on $CEPH_MON"
    return
  fi
  if [ "${#alive[@]}" -gt 0 ]; then
    die "of the ceph daemons started here only ${alive[*]} still run: run stop ceph, then start ceph"
  fi
  for d in "${CEPH_DAEMONS[@]}"; do rm -f "$RUN/$d.pid"; done
  if ceph_port_listening; then
    die "port ${CEPH_MON##*:} is in use by a server not started here"
  fi

  rm -rf "$CEPH_DIR"
  mkdir -p "$RUN" "$CEPH_DIR/run" "$CEPH_DIR/log" "$CEPH_DIR/mon/ceph-a" "$CEPH_DIR/mgr/ceph-x" "$CEPH_DIR/osd/ceph-0"
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  ceph_write_conf "$fsid"

  # keys: the mon's and client.admin's (imported into the mon keyring so the mon knows it)
  ceph-authtool --create-keyring "$CEPH_DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$CEPH_DIR/ceph.client.admin.keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
  ceph-authtool "$CEPH_DIR/mon.keyring" --import-keyring "$CEPH_DIR/ceph.client.admin.keyring" >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v1:$CEPH_MON]" "$CEPH_DIR/monmap" >/dev/null
  ceph-mon -c "$CEPH_CONF" --mkfs -i a --monmap "$CEPH_DIR/monmap" --keyring "$CEPH_DIR/mon.keyring" \
    >"$CEPH_DIR/log/ceph-mon.out" 2>&1 || ceph_fail "ceph-mon --mkfs failed"

  ceph_spawn ceph-mon -i a
  wait_until 30 ceph_answers || ceph_fail "the ceph monitor did not answer on $CEPH_MON"

  cephc auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
    -o "$CEPH_DIR/mgr/ceph-x/keyring" >/dev/null 2>&1 || ceph_fail "creating the mgr key failed"
  ceph_spawn ceph-mgr -i x

  osd_uuid="$(cat /proc/sys/kernel/random/uuid)"
  [ "$(cephc osd new "$osd_uuid" 2>/dev/null)" = 0 ] || ceph_fail "ceph osd new did not give osd.0"
  ceph-osd -c "$CEPH_CONF" -i 0 --mkfs --mkkey --no-mon-config --osd-uuid "$osd_uuid" >"$CEPH_DIR/log/ceph-osd.out" 2>&1 ||
    ceph_fail "ceph-osd --mkfs failed"
  cephc auth add osd.0 osd 'allow *' mon 'allow profile osd' mgr 'allow profile osd' \
    -i "$CEPH_DIR/osd/ceph-0/keyring" >/dev/null 2>&1 || ceph_fail "ceph auth add osd.0 failed"
  cephc osd crush add osd.0 1 root=default host=localhost >/dev/null 2>&1 || ceph_fail "ceph osd crush add failed"
  ceph_spawn ceph-osd -i 0
  wait_until 60 ceph_osd_up || ceph_fail "osd.0 did not come up"

  # the pool and the client the tests use; rbd pool init returns once the pool takes writes
  cephc osd pool create "$CEPH_POOL" 8 8 >/dev/null 2>&1 || ceph_fail "creating pool $CEPH_POOL failed"
  timeout 60 rbd -c "$CEPH_CONF" pool init "$CEPH_POOL" || ceph_fail "rbd pool init $CEPH_POOL failed"
  cephc auth get-or-create "client.$CEPH_CLIENT" mon 'profile rbd' osd "profile rbd pool=$CEPH_POOL" \
    -o "$CEPH_DIR/ceph.client.$CEPH_CLIENT.keyring" >/dev/null 2>&1 || ceph_fail "creating client.$CEPH_CLIENT failed"
  cephc auth print-key "client.$CEPH_CLIENT" > "$CEPH_DIR/client.$CEPH_CLIENT.key" ||
    ceph_fail "reading the key of client.$CEPH_CLIENT failed"
  cat > "$CEPH_DIR/testbed.env" <<EOF
CEPH_CONF=$CEPH_CONF
CEPH_MON_HOST=$CEPH_MON
CEPH_POOL=$CEPH_POOL
CEPH_CLIENT=$CEPH_CLIENT
CEPH_KEY_FILE=$CEPH_DIR/client.$CEPH_CLIENT.key
CEPH_KEYRING=$CEPH_DIR/ceph.client.$CEPH_CLIENT.keyring
EOF

  # every daemon must listen on 127.0.0.1 and nowhere else, the mon on $CEPH_MON only
  wait_until 15 ceph_mgr_active || say "warning: the ceph mgr is not active yet"
  for d in "${CEPH_DAEMONS[@]}"; do
    pid="$(recorded_pid "$d")"
    running_as "$pid" "$d" || ceph_fail "$d (pid $pid) exited during start-up"
    sockets="$(listening_sockets "$pid")"
    if [ -z "$sockets" ] || tr ' ' '\n' <<< "$sockets" | grep -v '^$' | grep -qv '^127\.0\.0\.1:'; then
      ceph_fail "$d listened on '${sockets% }' instead of 127.0.0.1 only; stopped the cluster"
    fi
    if [ "$d" = ceph-mon ] && [ "$sockets" != "$CEPH_MON " ]; then
      ceph_fail "ceph-mon listened on '${sockets% }' instead of $CEPH_MON only; stopped the cluster"
    fi
  done
  say "ceph started in $((SECONDS - t0)) s on $CEPH_MON (pids: mon $(recorded_pid ceph-mon), mgr $(recorded_pid ceph-mgr), osd $(recorded_pid ceph-osd)): pool $CEPH_POOL, client.$CEPH_CLIENT, $(cephc health 2>/dev/null || echo 'health unknown'); see $CEPH_DIR/testbed.env"
}

# stops the daemons started here (OSD, mgr, then mon) and removes the cluster's state
stop_ceph() {
  local i
  # stop_recorded removes each PID file, or dies and leaves the state in place
  for ((i = ${#CEPH_DAEMONS[@]} - 1; i >= 0; i--)); do stop_recorded "${CEPH_DAEMONS[$i]}"; done
  if [ -d "$CEPH_DIR" ]; then
    rm -rf "$CEPH_DIR"
    say "ceph: removed $CEPH_DIR"
  fi
}

status_ceph() {
  local d
  for d in "${CEPH_DAEMONS[@]}"; do status "$d"; done
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

usage() { echo "usage: servers.sh start|stop|status|started [libvirtd|tgtd|ceph|lab|all]" >&2; exit 2; }

started() { # name: its recorded PIDs are live and still that program
  local d
  case "$1" in
    ceph) for d in "${CEPH_DAEMONS[@]}"; do running_as "$(recorded_pid "$d")" "$d" || return 1; done ;;
    lab) running_as "$(recorded_pid lab)" qemu-system-x86 ;; # QEMU's comm: its name cut to 15 characters
    *) running_as "$(recorded_pid "$1")" "$1" ;;
  esac
}

start_lab() { bash "$REPO/tests/lab/lab.sh" start; }
stop_lab() { bash "$REPO/tests/lab/lab.sh" stop; }
status_lab() { bash "$REPO/tests/lab/lab.sh" status; }
stop_libvirtd() {
  stop_recorded libvirtd
  stop_recorded virtlogd
}
stop_tgtd() { stop_recorded tgtd; }
status_libvirtd() {
  status libvirtd
  status virtlogd
}
status_tgtd() { status tgtd; }

action="${1:-}"
what="${2:-all}"
case "$what" in
  libvirtd | tgtd | ceph | lab) names=("$what") ;;
  all) names=(libvirtd tgtd ceph) ;;
  *) usage ;;
esac
if [ "$action" = started ]; then
  [ "$what" != all ] || usage
  started "$what"
  exit
fi
if [ "$action" != status ] && [ "$(id -u)" -ne 0 ]; then die "must run as root"; fi
case "$action" in
  start) for n in "${names[@]}"; do "start_$n"; done ;;
  # stop in reverse order of start
  stop) for ((i = ${#names[@]} - 1; i >= 0; i--)); do "stop_${names[$i]}"; done ;;
  status) for n in "${names[@]}"; do "status_$n"; done ;;
  *) usage ;;
esac
