# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: fs - a block device with a file system that libvirt mounts on the target."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import (
    BUILD_NO_OVERWRITE,
    BUILD_OVERWRITE,
    BUILT,
    FILE_VOLUME_FORMATS,
    FOREIGN,
    MISSING,
    PoolBackend,
    ProbeResult,
    blkid_value,
)
from ansible_collections.kvmops.storage.plugins.module_utils.pool_options import FS_NS

FS_FORMATS = ('auto', 'ext2', 'ext3', 'ext4', 'ufs', 'iso9660', 'udf', 'gfs', 'gfs2', 'vfat',
              'hfs+', 'xfs', 'ocfs2', 'vmfs')


class FsBackend(PoolBackend):
    type_name = 'fs'
    summary = 'a block device with a file system, mounted by libvirt'
    options = ('target', 'target_mode', 'target_owner', 'target_group', 'target_label',
               'source_dev', 'source_format', 'mount_opts')
    required = ('target', 'source_dev')
    source_formats = FS_FORMATS
    single_entry = {'source_dev': 'device'}
    capabilities = frozenset(('build', 'delete', 'volume_create', 'volume_delete', 'volume_resize',
                              'volume_wipe', 'volume_upload', 'volume_clone', 'volume_backing'))
    thin_provisioned = True  # sparse files on the mounted file system
    volume_formats = FILE_VOLUME_FORMATS
    volume_read_probes_storage = True
    xml_namespaces = (FS_NS,)
    ignored_volumes = ('lost+found',)
    # libvirt makes a file system only when asked not to overwrite, or to overwrite
    build_flags = {'if_missing': BUILD_NO_OVERWRITE, 'no_overwrite': BUILD_NO_OVERWRITE,
                   'overwrite': BUILD_OVERWRITE}
    overwrite_destroys = 'runs mkfs on the device: the file system on it and every file in it are lost'
    probe_tools = ('blkid',)
    mounted_target = True
    live_paths = ('target/permissions',)

    def apply_target_permissions(self, definition):
        apply_permissions(definition)

    def target_permissions_differ(self, definition):
        return permissions_differ(definition)

    def probe(self, definition):
        device = self.first_device(definition)
        if device is None:
            return None
        found = blkid_value(device, 'TYPE')
        if found is None:
            return None
        wanted = (self.xml_attr_all(definition, 'source/format', 'type') or ['auto'])[0]
        if not found:
            return ProbeResult(MISSING, 'no file system on %s' % device)
        if wanted in ('auto', found):
            return ProbeResult(BUILT, '%s holds %s' % (device, found))
        return ProbeResult(FOREIGN, '%s holds %s, not %s' % (device, found, wanted))


def apply_permissions(definition):
    """chmod/chown the directory at <target><path> to <target><permissions> (mode, owner, group);
    what the definition leaves out stays as it is."""
    path = PoolBackend.xml_text(definition, 'target/path')
    mode = PoolBackend.xml_text(definition, 'target/permissions/mode')
    owner = PoolBackend.xml_text(definition, 'target/permissions/owner')
    group = PoolBackend.xml_text(definition, 'target/permissions/group')
    if path is None:
        return
    uid = int(owner) if owner is not None and int(owner) >= 0 else -1
    gid = int(group) if group is not None and int(group) >= 0 else -1
    if uid != -1 or gid != -1:
        os.chown(path, uid, gid)
    if mode is not None:
        os.chmod(path, int(mode, 8))


def permissions_differ(definition):
    """Whether the directory at <target><path> lacks the mode, owner or group of <target><permissions>;
    None when it cannot be read."""
    path = PoolBackend.xml_text(definition, 'target/path')
    try:
        st = os.stat(path) if path is not None else None
    except OSError:
        return None
    if st is None:
        return None
    mode = PoolBackend.xml_text(definition, 'target/permissions/mode')
    owner = PoolBackend.xml_text(definition, 'target/permissions/owner')
    group = PoolBackend.xml_text(definition, 'target/permissions/group')
    return ((mode is not None and int(mode, 8) != st.st_mode & 0o777)
            or (owner is not None and int(owner) >= 0 and int(owner) != st.st_uid)
            or (group is not None and int(group) >= 0 and int(group) != st.st_gid))
