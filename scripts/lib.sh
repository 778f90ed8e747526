# shellcheck shell=bash
# Shell helpers shared by scripts/servers.sh and tests/lab/lab.sh (sourced, not run).

# true while PID runs the program COMM (a zombie does not count)
running_as() { # pid comm
  local stat
  [[ "$1" =~ ^[0-9]+$ ]] || return 1
  [ "$(cat "/proc/$1/comm" 2>/dev/null || true)" = "$2" ] || return 1
  stat="$(ps -o stat= -p "$1" 2>/dev/null || true)"
  [ -n "$stat" ] && [[ "$stat" != Z* ]]
}

# "addr:port addr:port " the process listens on (TCP); empty when none, never a failure
listening_sockets() { # pid
  ss -Hltnp 2>/dev/null | awk -v p="pid=$1," 'index($0, p) {print $4}' | sort -u | tr '\n' ' '
}

port_in_use() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; } # port

wait_until() { # seconds command... ; polls every 0.2 s
  local tries=$(($1 * 5)); shift
  while [ "$tries" -gt 0 ]; do
    if "$@"; then return 0; fi
    sleep 0.2
    tries=$((tries - 1))
  done
  return 1
}
