"""Unit-test setup: make the collection importable as ansible_collections.kvmops.storage.

The code imports itself by its FQCN.  Without installing the collection, a
tree ``<repo>/.build/unit/ansible_collections/kvmops/storage -> <repo>`` is
made (idempotently) and ``<repo>/.build/unit`` goes first on sys.path.
``ansible_collections`` and ``ansible_collections/kvmops`` have no
``__init__.py``: Python 3 treats them as namespace packages.
"""

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(REPO, '.build', 'unit')


def _link_collection():
    namespace_dir = os.path.join(BUILD, 'ansible_collections', 'kvmops')
    os.makedirs(namespace_dir, exist_ok=True)
    link = os.path.join(namespace_dir, 'storage')
    if os.path.islink(link):
        if os.path.realpath(link) == os.path.realpath(REPO):
            return
        os.unlink(link)
    elif os.path.exists(link):
        raise RuntimeError('%s exists and is not a symlink to the repository; remove it' % link)
    try:
        os.symlink(REPO, link)
    except FileExistsError:  # another process made it meanwhile
        if os.path.realpath(link) != os.path.realpath(REPO):
            raise


_link_collection()
if sys.path[:1] != [BUILD]:
    while BUILD in sys.path:
        sys.path.remove(BUILD)
    sys.path.insert(0, BUILD)
# The fake libvirt shared by the tests (fake_libvirt.py) lives next to this file.
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(1, HERE)


@pytest.fixture
def directories_answer(monkeypatch):
    """The fake pools' directories are not on this machine: the facts' directory probe finds each one there."""
    from ansible_collections.kvmops.storage.plugins.module_utils import facts as factsu
    monkeypatch.setattr(factsu, 'directory_problem', lambda path: None)
