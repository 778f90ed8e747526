#!/usr/bin/env bash
# The collection as it is shipped (scripts/test.sh packaging runs this):
#   build      ansible-galaxy collection build -> .build/packaging/dist/kvmops-storage-VERSION.tar.gz
#   install    that tarball installed into an empty collections path (.build/packaging/collections)
#              and verified; every file git tracks and galaxy.yml does not ignore is in it, and
#              every tracked file of the content (plugins, roles, playbooks, meta, docs...) whatever
#              build_ignore says; installed from git+file:// at HEAD too, with the same files
#   importer   galaxy-importer on the tarball (config: tests/packaging/galaxy-importer.cfg): no warning
#              or error, and the docs of every module, filter and role found
#   docs       antsibull-docs lint-collection-docs --plugin-docs on the installed copy;
#              antsibull-changelog lint on the fragments
#   ee         ansible-builder create for tests/packaging/execution-environment.yml (the collection
#              from the tarball): a build context with that tarball, and the introspection that the
#              image build runs, over the installed copy, lists requirements.txt and bindep.txt
#              (no image is built)
#   bindep     bindep.txt parses, names runtime and compile packages for dpkg and rpm, and the
#              Debian ones are installed on this machine (scripts/setup.sh installs them)
#
# The tools run from their own virtualenv, kept outside the tree so that a new clone reuses it
# (KVMOPS_PACKAGING_VENV, default /var/cache/kvmops-packaging/venv), made from
# tests/packaging/requirements.txt when it is missing or that list (or its Python) changed.
# Every check runs even when an earlier one failed (except after a failed build); exit 1 when any failed.
# shellcheck disable=SC2317  # the check functions are called through check
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

VENV="${KVMOPS_PACKAGING_VENV:-/var/cache/kvmops-packaging/venv}"
OUT="$REPO/.build/packaging"
REQUIREMENTS="$REPO/tests/packaging/requirements.txt"

# --- the tools' virtualenv ------------------------------------------------------------------
base_python() {
  local candidate
  for candidate in ${PYTHON:-} "$REPO/.venv/bin/python" python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  echo "packaging.sh: no Python 3.11 or later with the venv module (ansible-builder needs one; set PYTHON)" >&2
  return 1
}

ensure_venv() {
  local python want stamp="$VENV/.requirements.sha256" log="$OUT/venv-install.log"
  python="$(base_python)" || return
  want="$( { cat "$REQUIREMENTS"; "$python" -VV; } | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ] && [ -x "$VENV/bin/ansible-builder" ]; then
    return 0
  fi
  echo "packaging: installing tests/packaging/requirements.txt into $VENV"
  # only a virtualenv (or nothing) is replaced: a KVMOPS_PACKAGING_VENV pointing elsewhere is refused
  if [ -e "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ]; then
    echo "packaging.sh: $VENV exists and is not a virtualenv (no pyvenv.cfg); not replacing it" >&2
    return 1
  fi
  rm -rf "$VENV"
  "$python" -m venv "$VENV" || return
  if ! PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    "$VENV/bin/python" -m pip install -q -r "$REQUIREMENTS" >"$log" 2>&1; then
    grep -v "^WARNING: Location '.*' is ignored" "$log" | tail -n 30 >&2
    echo "packaging.sh: pip install -r tests/packaging/requirements.txt failed (log: $log)" >&2
    return 1
  fi
  echo "$want" >"$stamp"
}

# --- checks -----------------------------------------------------------------------------------
RESULTS=()
FAILED=0
check() { # name function
  local name=$1 start=$SECONDS rc=0
  echo "--- $name"
  "$2" || rc=$?
  if [ "$rc" -eq 0 ]; then
    RESULTS+=("$(printf '  %-9s ok      %3ss' "$name" $((SECONDS - start)))")
  else
    RESULTS+=("$(printf '  %-9s FAILED  %3ss' "$name" $((SECONDS - start)))")
    FAILED=1
  fi
  return "$rc"
}

TARBALL=""
INSTALLED="$OUT/collections/ansible_collections/kvmops/storage"

run_build() {
  local version
  version="$(python -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["version"])' galaxy.yml)" || return
  mkdir -p "$OUT/dist"
  ansible-galaxy collection build --force --output-path "$OUT/dist" "$REPO" || return
  TARBALL="$OUT/dist/kvmops-storage-$version.tar.gz"
  [ -f "$TARBALL" ] || { echo "no $TARBALL after the build" >&2; return 1; }
  echo "$(du -k "$TARBALL" | cut -f1) KiB, $(tar -tzf "$TARBALL" | wc -l) entries"
}

run_install() {
  ansible-galaxy collection install --offline -p "$OUT/collections" "$TARBALL" || return
  ansible-galaxy collection list -p "$OUT/collections" kvmops.storage 2>/dev/null | grep -E '^kvmops\.storage ' || {
    echo "ansible-galaxy collection list does not show kvmops.storage in $OUT/collections" >&2
    return 1
  }
  ansible-galaxy collection verify --offline -p "$OUT/collections" kvmops.storage || return
  python "$REPO/scripts/packaging_checks.py" files "$REPO" "$INSTALLED" || return
  # as from a requirements.yml naming the Git repository (the README's third way), at the commit checked out
  local commit lost
  commit="$(git -C "$REPO" rev-parse HEAD)" || return
  printf 'collections:\n  - name: git+file://%s\n    type: git\n    version: %s\n' "$REPO" "$commit" \
    >"$OUT/git-requirements.yml"
  ansible-galaxy collection install --offline -r "$OUT/git-requirements.yml" -p "$OUT/git-collections" \
    >"$OUT/git-install.log" 2>&1 || { cat "$OUT/git-install.log"; return 1; }
  # what the tarball has of the commit, the Git install has too
  lost="$(comm -23 <(cd "$INSTALLED" && find . -type f ! -path ./MANIFEST.json ! -path ./FILES.json | sed 's|^\./||' | sort) \
    <(cd "$OUT/git-collections/ansible_collections/kvmops/storage" && find . -type f | sed 's|^\./||' | sort) \
    | comm -12 - <(git -C "$REPO" ls-tree -r --name-only "$commit" | sort))"
  if [ -n "$lost" ]; then
    echo "installed from Git (commit $commit) without: $lost" >&2
    return 1
  fi
  echo "installed from git+file:// at $commit too, with the same files"
}

run_importer() {
  local dir="$OUT/importer" log="$OUT/importer/importer.log" rc=0
  mkdir -p "$dir/tmp" "$dir/ansible-tmp"
  # its own collections path: the install check fills $OUT/collections meanwhile
  (cd "$dir" && ANSIBLE_COLLECTIONS_PATH="$dir/tmp" GALAXY_IMPORTER_CONFIG="$REPO/tests/packaging/galaxy-importer.cfg" \
    GALAXY_IMPORTER_TMP_ROOT_DIR="$dir/tmp" GALAXY_IMPORTER_ANSIBLE_LOCAL_TMP="$dir/ansible-tmp" \
    python -m galaxy_importer.main "$TARBALL") >"$log" 2>&1 || rc=$?
  grep -vE '^(Loading|Linting) ' "$log" || true
  if [ "$rc" -ne 0 ]; then
    echo "galaxy-importer exited $rc" >&2
    return 1
  fi
  if grep -qE '^(WARNING|ERROR)' "$log"; then
    echo "galaxy-importer reported the warnings or errors above" >&2
    return 1
  fi
  [ "$(tail -n 1 "$log")" = "Importer processing completed successfully" ] || {
    echo "galaxy-importer did not finish with 'Importer processing completed successfully'" >&2
    return 1
  }
  python "$REPO/scripts/packaging_checks.py" importer "$REPO" "$dir/importer_result.json"
}

run_docs() {
  local out rc=0
  out="$(antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs all \
    --disallow-unknown-collection-refs "$INSTALLED" 2>&1)" || rc=$?
  if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
    printf '%s\n' "$out"
    echo "antsibull-docs lint-collection-docs: exit $rc" >&2
    return 1
  fi
  echo "antsibull-docs lint-collection-docs --plugin-docs: no findings"
  (cd "$REPO" && antsibull-changelog lint) || { echo "antsibull-changelog lint reported the above" >&2; return 1; }
  echo "antsibull-changelog lint: no findings"
}

run_ee() {
  local dir="$OUT/ee"
  mkdir -p "$dir"
  cp "$REPO/tests/packaging/execution-environment.yml" "$dir/execution-environment.yml"
  cp "$TARBALL" "$dir/kvmops-storage.tar.gz"
  (cd "$dir" && ansible-builder create -f execution-environment.yml -c context --output-filename Containerfile -v 1) \
    || return
  # what the image build's builder stage runs over the collections it installed (ansible-builder 3)
  python "$dir/context/_build/scripts/introspect.py" introspect --write-pip "$dir/introspect-requirements.txt" \
    --write-bindep "$dir/introspect-bindep.txt" "$OUT/collections" >/dev/null || return
  python "$REPO/scripts/packaging_checks.py" ee-context "$REPO" "$dir/context" "$TARBALL" \
    "$dir/introspect-requirements.txt" "$dir/introspect-bindep.txt"
}

run_bindep() {
  local missing rc=0
  python "$REPO/scripts/packaging_checks.py" bindep "$REPO" || return
  # the Debian packages, runtime and compile, exist: this machine has them all
  missing="$(bindep -f "$REPO/bindep.txt" -b compile)" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "bindep.txt names Debian packages that are not installed here: ${missing:-(bindep exit $rc)}" >&2
    return 1
  fi
  echo "bindep -b compile: every Debian package named is installed"
}

mkdir -p "$OUT"
ensure_venv
export PATH="$VENV/bin:$PATH"
# the tools see only the collection installed from the tarball, and keep their caches here
export ANSIBLE_COLLECTIONS_PATH="$OUT/collections" ANSIBLE_HOME="$OUT/ansible-home"
export ANSIBLE_NOCOLOR=1 PY_COLORS=0 NO_COLOR=1
# Below $OUT git must find no repository: antsibull-docs copies a collection that is in one with only the
# files git tracks, which in this repository's .build/ are none (it would lint no plugin and say nothing).
export GIT_CEILING_DIRECTORIES="$OUT"
rm -rf "$OUT/dist" "$OUT/collections" "$OUT/git-collections" "$OUT/importer" "$OUT/importer.out" "$OUT/ee" "$OUT/ansible-home"

# galaxy-importer (mostly its ansible-lint run) takes the longest: it runs beside the other checks
IMPORTER_PID=""
start_importer() {
  (
    start=$SECONDS rc=0
    run_importer || rc=$?
    echo "(galaxy-importer took $((SECONDS - start))s)"
    exit "$rc"
  ) >"$OUT/importer.out" 2>&1 &
  IMPORTER_PID=$!
}
wait_importer() {
  local rc=0
  wait "$IMPORTER_PID" || rc=$?
  cat "$OUT/importer.out"
  return "$rc"
}

if check build run_build; then
  start_importer
  check install run_install || true
  check docs run_docs || true
  check ee run_ee || true
fi
check bindep run_bindep || true
if [ -n "$IMPORTER_PID" ]; then check importer wait_importer || true; fi

echo "--- packaging checks"
printf '%s\n' "${RESULTS[@]}"
exit "$FAILED"
