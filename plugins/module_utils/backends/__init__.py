# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registry: libvirt pool type name -> backend class."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils.backends.dir import DirBackend
from ansible_collections.kvmops.storage.plugins.module_utils.backends.disk import DiskBackend
from ansible_collections.kvmops.storage.plugins.module_utils.backends.fs import FsBackend
from ansible_collections.kvmops.storage.plugins.module_utils.backends.gluster import GlusterBackend
from ansible_collections.kvmops.storage.plugins.module_utils.backends.iscsi import IscsiBackend
from ansible_collections.kvmops.storage.plugins.module_utils.backends.iscsi_direct import IscsiDirectBackend
from ansible_collections.kvmops.storage.plugins.module_utils.backends.logical import LogicalBackend
from ansible_collections.kvmops.storage.plugins.module_utils.backends.mpath import MpathBackend
from ansible_collections.kvmops.storage.plugins.module_utils.backends.netfs import NetfsBackend
from ansible_collections.kvmops.storage.plugins.module_utils.backends.rbd import RbdBackend
from ansible_collections.kvmops.storage.plugins.module_utils.backends.scsi import ScsiBackend
from ansible_collections.kvmops.storage.plugins.module_utils.backends.vstorage import VstorageBackend
from ansible_collections.kvmops.storage.plugins.module_utils.backends.zfs import ZfsBackend
from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError

BACKENDS = dict((cls.type_name, cls) for cls in (
    DirBackend, FsBackend, NetfsBackend, LogicalBackend, DiskBackend, IscsiBackend,
    IscsiDirectBackend, ScsiBackend, MpathBackend, RbdBackend, GlusterBackend, ZfsBackend,
    VstorageBackend,
))
POOL_TYPES = tuple(BACKENDS)

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
