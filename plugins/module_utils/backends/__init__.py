# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registry: libvirt pool type name -> backend class."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError

# Every pool type, in the order docs/pool_types.md lists them.  A backend module is imported
# when its type is first asked for: a task on a dir pool does not load (and, run from
# AnsiballZ, compile) the modules of the twelve other types.
POOL_TYPES = ('dir', 'fs', 'netfs', 'logical', 'disk', 'iscsi', 'iscsi-direct', 'scsi', 'mpath', 'rbd',
              'gluster', 'zfs', 'vstorage')


def _import(type_name):
    # one static import per type, so that Ansible packs every backend with the module
    if type_name == 'dir':
        from ansible_collections.kvmops.storage.plugins.module_utils.backends.dir import DirBackend as cls
    elif type_name == 'fs':
        from ansible_collections.kvmops.storage.plugins.module_utils.backends.fs import FsBackend as cls
    elif type_name == 'netfs':
        from ansible_collections.kvmops.storage.plugins.module_utils.backends.netfs import NetfsBackend as cls
    elif type_name == 'logical':
        from ansible_collections.kvmops.storage.plugins.module_utils.backends.logical import LogicalBackend as cls
    elif type_name == 'disk':
        from ansible_collections.kvmops.storage.plugins.module_utils.backends.disk import DiskBackend as cls
    elif type_name == 'iscsi':
        from ansible_collections.kvmops.storage.plugins.module_utils.backends.iscsi import IscsiBackend as cls
    elif type_name == 'iscsi-direct':
        from ansible_collections.kvmops.storage.plugins.module_utils.backends.iscsi_direct import IscsiDirectBackend as cls
    elif type_name == 'scsi':
        from ansible_collections.kvmops.storage.plugins.module_utils.backends.scsi import ScsiBackend as cls
    elif type_name == 'mpath':
        from ansible_collections.kvmops.storage.plugins.module_utils.backends.mpath import MpathBackend as cls
    elif type_name == 'rbd':
        from ansible_collections.kvmops.storage.plugins.module_utils.backends.rbd import RbdBackend as cls
    elif type_name == 'gluster':
        from ansible_collections.kvmops.storage.plugins.module_utils.backends.gluster import GlusterBackend as cls
    elif type_name == 'zfs':
        from ansible_collections.kvmops.storage.plugins.module_utils.backends.zfs import ZfsBackend as cls
    elif type_name == 'vstorage':
        from ansible_collections.kvmops.storage.plugins.module_utils.backends.vstorage import VstorageBackend as cls
    else:
        raise KeyError(type_name)
    return cls


class _Registry(Mapping):
    """Pool type name -> backend class, importing each backend on first use."""

    def __init__(self):
        self._loaded = {}

    def __getitem__(self, type_name):
        if type_name not in self._loaded:
            self._loaded[type_name] = _import(type_name)
        return self._loaded[type_name]

    def __iter__(self):
        return iter(POOL_TYPES)

    def __len__(self):
        return len(POOL_TYPES)

    def __contains__(self, type_name):
        return type_name in POOL_TYPES


BACKENDS = _Registry()

REMOVED_TYPES = {
    'sheepdog': 'libvirt removed the sheepdog storage driver in 8.8.0',
}


def backend_class(type_name, option='type'):
    """The backend class for a pool type, or a ValidationError naming the accepted types."""
    if type_name in BACKENDS:
        return BACKENDS[type_name]
    if type_name in REMOVED_TYPES:
        raise ValidationError(option, '%s %r is not supported: %s; accepted: %s'
                              % (option, type_name, REMOVED_TYPES[type_name], ', '.join(POOL_TYPES)))
    raise ValidationError(option, '%s %r is not a libvirt pool type; accepted: %s'
                          % (option, type_name, ', '.join(POOL_TYPES)))
