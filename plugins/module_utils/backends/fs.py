# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: fs - a block device with a file system that libvirt mounts on the target."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import (
    BUILD_NO_OVERWRITE,
    BUILD_OVERWRITE,
    BUILT,
    FILE_VOLUME_FORMATS,
    FS_NS,
    FOREIGN,
    MISSING,
    PoolBackend,
    ProbeResult,
    blkid_value,
)

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
    volume_formats = FILE_VOLUME_FORMATS
    xml_namespaces = (FS_NS,)
    ignored_volumes = ('lost+found',)
    # libvirt makes a file system only when asked not to overwrite, or to overwrite
    build_flags = {'if_missing': BUILD_NO_OVERWRITE, 'no_overwrite': BUILD_NO_OVERWRITE,
                   'overwrite': BUILD_OVERWRITE}

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
