# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: netfs - a network file system (NFS, CIFS, GlusterFS) that libvirt mounts on the target."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import FILE_VOLUME_FORMATS, PoolBackend
from ansible_collections.kvmops.storage.plugins.module_utils.pool_options import FS_NS
from ansible_collections.kvmops.storage.plugins.module_utils.backends.fs import apply_permissions, permissions_differ


class NetfsBackend(PoolBackend):
    type_name = 'netfs'
    summary = 'an NFS, CIFS or GlusterFS export mounted by libvirt'
    options = ('target', 'target_mode', 'target_owner', 'target_group', 'target_label',
               'source_host', 'source_path', 'source_name', 'source_format', 'mount_opts')
    required = ('target', 'source_host', 'source_path')
    source_formats = ('auto', 'nfs', 'glusterfs', 'cifs')
    single_entry = {'source_host': 'server'}
    capabilities = frozenset(('build', 'delete', 'volume_create', 'volume_delete', 'volume_resize',
                              'volume_wipe', 'volume_upload', 'volume_clone', 'volume_backing'))
    thin_provisioned = True  # sparse files on the mounted export (as far as the server keeps them sparse)
    volume_formats = FILE_VOLUME_FORMATS
    volume_read_probes_storage = True
    xml_namespaces = (FS_NS,)
    mounted_target = True
    live_paths = ('target/permissions',)
    # a build makes the mount point; a pool whose mount point went away gets it back by stop, build, start
    rebuild_when_missing = True

    def apply_target_permissions(self, definition):
        apply_permissions(definition)

    def target_permissions_differ(self, definition):
        return permissions_differ(definition)

    def probe(self, definition):
        return self.probe_dir(self.xml_text(definition, 'target/path'))
