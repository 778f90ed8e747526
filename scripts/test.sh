#!/usr/bin/env bash
# The whole test suite: set-up, test servers, unit tests, ansible-test sanity, ansible-lint,
# integration tests against the real servers. Stops the servers it started. Exit 1 if any step failed.
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/setup.sh || exit 1
export PATH="$REPO/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$REPO/.build/collections"
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_NOCOLOR=1 PY_COLORS=0

trap 'bash "$REPO/scripts/servers.sh" stop all' EXIT
bash scripts/servers.sh start all || exit 1

declare -a SUMMARY=()
FAILED=0
step() { # name command...
  local name=$1 start rc; shift
  echo; echo "=== $name"
  start=$(date +%s)
  "$@"; rc=$?
  local secs=$(( $(date +%s) - start ))
  if [ $rc -eq 0 ]; then SUMMARY+=("passed  $name (${secs}s)"); else SUMMARY+=("FAILED  $name (${secs}s, exit $rc)"); FAILED=1; fi
}

sanity() {
  local tree="${TMPDIR:-/tmp}/kvmops-storage-sanity/ansible_collections/kvmops/storage"
  mkdir -p "$tree"
  rsync -a --delete --exclude .git --exclude .venv --exclude .build --exclude tests/output \
    --exclude .pytest_cache --exclude __pycache__ "$REPO/" "$tree/"
  # ansible-test bootstraps pip in its sanity virtualenvs with a script it downloads from a host
  # outside the package registries; give it a stand-in that uses ensurepip and PyPI instead
  local pip_version
  pip_version="$(grep -oP "pip='\\K[0-9.]+" "$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py" | head -1)"
  mkdir -p ~/.ansible/test/cache
  cp "$REPO/scripts/offline_get_pip.py" ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"
  (cd "$tree" && ansible-test sanity --python 3.11 --color no --requirements ${KVMOPS_SANITY_ARGS:-})
}

step unit python -m pytest tests/unit -q -p no:cacheprovider
step sanity sanity
step lint ansible-lint -q
step integration python -m pytest tests/integration -v -p no:cacheprovider

echo
echo "=== summary"
printf '%s\n' "${SUMMARY[@]}"
exit $FAILED
