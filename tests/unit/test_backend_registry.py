"""What a task loads at start-up: the backend registry imports a pool type's backend module when
that type is first used; a pool task without auth does not load the secret manager."""

import ast
import os
import subprocess
import sys

import pytest

from ansible_collections.kvmops.storage.plugins.module_utils.backends import BACKENDS, POOL_TYPES

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(REPO, '.build', 'unit')
PACKAGE = 'ansible_collections.kvmops.storage.plugins.module_utils.backends'
MODULE_OF = {name: name.replace('-', '_') for name in POOL_TYPES}


def _imported_backends(code):
    """Run CODE in a fresh interpreter; return the backend modules it has imported."""
    script = ('import sys\nsys.path.insert(0, %r)\n%s\n'
              'print(" ".join(sorted(m for m in sys.modules if m.startswith(%r + "."))))\n'
              % (BUILD, code, PACKAGE))
    out = subprocess.run([sys.executable, '-c', script], stdout=subprocess.PIPE, check=True,
                         universal_newlines=True).stdout
    return set(name.rsplit('.', 1)[1] for name in out.split()) - {'base'}


def test_importing_the_managers_loads_no_backend():
    assert _imported_backends('from %s import backend_class\n'
                              'import ansible_collections.kvmops.storage.plugins.module_utils.pool\n'
                              'import ansible_collections.kvmops.storage.plugins.module_utils.volume' % PACKAGE) == set()


@pytest.mark.parametrize('type_name, loaded', [('dir', {'dir'}), ('iscsi-direct', {'iscsi_direct', 'iscsi'})])
def test_a_type_loads_its_own_backend_only(type_name, loaded):
    assert _imported_backends('from %s import backend_class\nbackend_class(%r)' % (PACKAGE, type_name)) == loaded


def test_registry_is_a_mapping_over_every_type_in_order():
    assert list(BACKENDS) == list(POOL_TYPES)
    assert len(BACKENDS) == 13
    assert [cls.type_name for cls in BACKENDS.values()] == list(POOL_TYPES)
    assert 'sheepdog' not in BACKENDS
    with pytest.raises(KeyError):
        BACKENDS['sheepdog']  # pylint: disable=pointless-statement


def test_every_backend_module_is_imported_statically():
    """Ansible packs into a module's AnsiballZ payload only the module_utils it finds in import
    statements: each backend module must appear in one."""
    with open(os.path.join(REPO, 'plugins', 'module_utils', 'backends', '__init__.py')) as handle:
        tree = ast.parse(handle.read())
    imported = set(node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom))
    assert set('%s.%s' % (PACKAGE, module) for module in MODULE_OF.values()) <= imported


def test_a_pool_task_without_auth_does_not_load_the_secret_manager():
    script = ('import sys\nsys.path.insert(0, %r)\n'
              'import ansible_collections.kvmops.storage.plugins.modules.storage_pool\n'
              'print("ansible_collections.kvmops.storage.plugins.module_utils.secret" in sys.modules)\n' % BUILD)
    out = subprocess.run([sys.executable, '-c', script], stdout=subprocess.PIPE, check=True,
                         universal_newlines=True).stdout
    assert out.split() == ['False']
