#!/usr/bin/env bash
# The whole test suite:
#   scripts/test.sh [unit] [sanity] [lint] [packaging] [integration]     (no argument: all five)
#
#   unit         pytest tests/unit
#   sanity       ansible-test sanity on a copy of the collection in .build/sanity, and its compile
#                test on every other target Python (3.8-3.13, from pyenv)
#   lint         ansible-lint (config: .ansible-lint)
#   packaging    scripts/packaging.sh: the collection tarball built and installed into an empty
#                collections path, galaxy-importer, antsibull-docs lint-collection-docs and
#                ansible-builder create on it (tools in /var/cache/kvmops-packaging/venv)
#   integration  pytest tests/integration against the real libvirtd, tgtd and ceph, and the lab VM
#                (tests/lab/lab.sh: built once into /var/cache/kvmops-lab, booted for the run)
#
# Runs scripts/setup.sh first; for the integration tests it starts scripts/servers.sh start all
# and start lab in the background while the other steps run (their output: .build/servers-start.log,
# printed by the integration step). The integration tests run as two pytest processes side by
# side: those marked lab, and the others. On exit it stops the servers this run started (a
# server that was already running is left alone). Every step runs even when an earlier one
# failed; the summary at the end has one line per step, and the exit status is 1 when any
# step failed.
#
# Environment:
#   KVMOPS_SANITY_ARGS  more arguments for ansible-test sanity (e.g. "--test pylint")
#   KVMOPS_PYTEST_ARGS  more arguments for both pytest runs (e.g. "-k dir -x")
# shellcheck disable=SC2317  # the step functions are called through run_step
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

ALL_STEPS=(unit sanity lint packaging integration)
STEPS=("$@")
[ "${#STEPS[@]}" -gt 0 ] || STEPS=("${ALL_STEPS[@]}")
for s in "${STEPS[@]}"; do
  case " ${ALL_STEPS[*]} " in *" $s "*) ;; *) echo "test.sh: unknown step '$s' (steps: ${ALL_STEPS[*]})" >&2; exit 2 ;; esac
done
wants() { case " ${STEPS[*]} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: must run as root (package installs, libvirtd, tgtd, loop devices)" >&2
  exit 1
fi

bash scripts/setup.sh

export PATH="$REPO/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$REPO/.build/collections"
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_NOCOLOR=1 PY_COLORS=0 NO_COLOR=1
read -r -a PYTEST_ARGS <<< "${KVMOPS_PYTEST_ARGS:-}"
read -r -a SANITY_ARGS <<< "${KVMOPS_SANITY_ARGS:-}"

# --- servers: started in the background while the other steps run (the lab VM boots under
# TCG for a minute or two); the integration step waits for them. On exit only those this run
# started are stopped.
STARTED=()
SERVERS_PID=
SERVERS_LOG="$REPO/.build/servers-start.log"
BEFORE=()
recorded() { bash "$REPO/scripts/servers.sh" started "$1"; } # name
servers_wait() { # exit status of the start; fills STARTED
  local rc=0 s
  [ -n "$SERVERS_PID" ] || return 0
  wait "$SERVERS_PID" || rc=$?
  SERVERS_PID=
  for s in libvirtd tgtd ceph lab; do
    if recorded "$s" && [[ " ${BEFORE[*]-} " != *" $s "* ]]; then STARTED+=("$s"); fi
  done
  cat "$SERVERS_LOG"
  return "$rc"
}
stop_started() {
  local i
  servers_wait >/dev/null 2>&1 || true
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
    bash "$REPO/scripts/servers.sh" stop "${STARTED[$i]}" || true
  done
}
trap stop_started EXIT
if wants integration; then
  for s in libvirtd tgtd ceph lab; do if recorded "$s"; then BEFORE+=("$s"); fi; done
  mkdir -p "$REPO/.build"
  # the boot competes with the sanity step for the CPU: more time for SSH to come up
  (export KVMOPS_LAB_TIMEOUT="${KVMOPS_LAB_TIMEOUT:-360}"
   bash scripts/servers.sh start all && bash scripts/servers.sh start lab) >"$SERVERS_LOG" 2>&1 &
  SERVERS_PID=$!
fi

# --- steps ---------------------------------------------------------------------------------
SUMMARY=()
FAILED=0
run_step() { # name function
  local name=$1 start rc=0 secs
  echo
  echo "=== $name"
  start=$SECONDS
  "$2" || rc=$?
  secs=$((SECONDS - start))
  case "$rc" in
    0) SUMMARY+=("$(printf '%-12s passed   %4ss' "$name" "$secs")") ;;
    77) SUMMARY+=("$(printf '%-12s skipped  %4ss  (no test files)' "$name" "$secs")") ;;
    *) SUMMARY+=("$(printf '%-12s FAILED   %4ss  (exit %s)' "$name" "$secs" "$rc")"); FAILED=1 ;;
  esac
}

has_tests() { [ -n "$(find "$1" -name 'test_*.py' -o -name '*_test.py' 2>/dev/null | head -n1)" ]; }

# pytest exits 5 when it collected no test: a failure when there are test files
pytest_dir() { # dir args...
  local dir=$1; shift
  if ! has_tests "$dir"; then
    echo "no test files in $dir"
    return 77
  fi
  python -m pytest "$dir" "$@" -p no:cacheprovider ${PYTEST_ARGS[@]+"${PYTEST_ARGS[@]}"}
}

step_unit() { pytest_dir tests/unit -q; }

# The tests marked `lab` run modules in the lab VM and the others on this host's servers: they
# share no object, so they run as two pytest processes side by side (the lab's half mostly
# waits on the VM). The lab half's output goes to .build/integration-lab.log and is printed
# after the host half's. A half that selects no test (pytest's exit 5, e.g. under a -k of
# KVMOPS_PYTEST_ARGS) is no failure unless both do.
step_integration() {
  local log="$REPO/.build/integration-lab.log" lab_pid host_rc=0 lab_rc=0
  has_tests tests/integration || { echo "no test files in tests/integration"; return 77; }
  if ! servers_wait; then
    echo "test.sh: the test servers did not start" >&2
    return 1
  fi
  mkdir -p "$REPO/.build"
  pytest_dir tests/integration -v --durations=25 -m lab --basetemp=/tmp/kvmops-it-lab >"$log" 2>&1 &
  lab_pid=$!
  pytest_dir tests/integration -v --durations=25 -m 'not lab' --basetemp=/tmp/kvmops-it-host || host_rc=$?
  wait "$lab_pid" || lab_rc=$?
  echo
  echo "=== integration: the lab half (tests marked lab)"
  cat "$log"
  echo "integration: host half exit $host_rc, lab half exit $lab_rc"
  if [ "$host_rc" -eq 5 ] && [ "$lab_rc" -eq 5 ]; then return 5; fi
  for rc in "$host_rc" "$lab_rc"; do [ "$rc" -eq 0 ] || [ "$rc" -eq 5 ] || return "$rc"; done
}

# ansible-lint puts its cache dir ($ANSIBLE_HOME, default ~/.ansible) first in the collections
# path, so a kvmops.storage installed there by hand would shadow the work tree: give it its own.
step_lint() { ANSIBLE_HOME="$REPO/.build/ansible-lint-home" ansible-lint; }

step_packaging() { bash scripts/packaging.sh; }

# ansible-test creates a virtualenv per sanity test (~/.ansible/test/venv) and bootstraps pip
# into each with get-pip.py, which it downloads once from ci-files.testing.ansible.com into
# ~/.ansible/test/cache/get_pip_<version>.py. That host is not reachable from here (only the
# package registries are), so scripts/offline_get_pip.py goes to that path instead: pip from
# ensurepip, then `pip install pip==<version>` from the package index. Neither --requirements
# nor --venv avoids that download.
install_get_pip_stand_in() {
  local version cache
  version="$(python -c 'import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="3.11"))["pip"])')" || return
  cache="$HOME/.ansible/test/cache/get_pip_${version//./_}.py"
  if ! cmp -s "$REPO/scripts/offline_get_pip.py" "$cache"; then
    mkdir -p "$(dirname "$cache")"
    cp "$REPO/scripts/offline_get_pip.py" "$cache"
  fi
}

# ansible-test wants the collection at .../ansible_collections/kvmops/storage and resolves
# symlinks, so it runs on a copy of the work tree (what .gitignore ignores left out). The
# copy has a git repository of its own: ansible-test lists the files to test with git from
# the nearest repository upwards, and in this repo's own .build/ that would list none.
# All of ansible-core 2.19's sanity tests run here (shellcheck needs the shellcheck package;
# pslint has no .ps1 file to check); none is skipped. Then the compile test runs on each other
# target Python of TARGET_PYTHONS, from pyenv (/root/.pyenv/versions/X.Y.Z).
TARGET_PYTHONS=(3.8 3.9 3.10 3.12 3.13)
step_sanity() {
  local tree="$REPO/.build/sanity/ansible_collections/kvmops/storage"
  mkdir -p "$tree"
  rsync -a --delete --delete-excluded --filter='P /.git/' --filter='P /tests/output/' \
    --filter=':- .gitignore' --exclude=/.git --exclude=/.venv --exclude=/.build --exclude=/tests/output \
    "$REPO/" "$tree/" || return
  [ -d "$tree/.git" ] || git -C "$tree" init -q || return
  install_get_pip_stand_in || return
  (cd "$tree" && ansible-test sanity --python 3.11 --color no ${SANITY_ARGS[@]+"${SANITY_ARGS[@]}"}) || return
  # the module code must also compile on every target Python the docs claim (requirements: python >= 3.8)
  local version bin found rc=0
  for version in "${TARGET_PYTHONS[@]}"; do
    bin=
    for found in /root/.pyenv/versions/"$version".*/bin; do [ -x "$found/python$version" ] && bin=$found; done
    if [ -z "$bin" ] || [ ! -x "$bin/python$version" ]; then
      echo "test.sh: Python $version is not in /root/.pyenv/versions (the compile test needs each of ${TARGET_PYTHONS[*]})" >&2
      rc=1
      continue
    fi
    (cd "$tree" && PATH="$bin:$PATH" ansible-test sanity --test compile --python "$version" --color no) || rc=1
  done
  return "$rc"
}

for s in "${STEPS[@]}"; do run_step "$s" "step_$s"; done

echo
echo "=== summary"
printf '%s\n' "${SUMMARY[@]}"
printf '%-12s %s   %4ss\n' total "$([ "$FAILED" -eq 0 ] && echo passed || echo FAILED)" "$SECONDS"
exit "$FAILED"
