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
    FOREIGN,
    MISSING,
    PoolBackend,
    ProbeResult,
    blkid_value,
)
from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError

FS_FORMATS = ('auto', 'ext2', 'ext3', 'ext4', 'ufs', 'iso9660', 'udf', 'gfs', 'gfs2', 'vfat',
              'hfs+', 'xfs', 'ocfs2', 'vmfs')


class FsBackend(PoolBackend):
    type_name = 'fs'
    summary = 'a block device with a file system, mounted by libvirt'
    options = ('target', 'target_mode', 'target_owner', 'target_group', 'target_label',
               'source_dev', 'source_format', 'mount_opts')
    required = ('target', 'source_dev')
    source_formats = FS_FORMATS
    capabilities = frozenset(('build', 'delete', 'volume_create', 'volume_delete', 'volume_resize',
                              'volume_wipe', 'volume_upload', 'volume_clone'))
    ignored_volumes = ('lost+found',)
    # libvirt makes a file system only when asked not to overwrite, or to overwrite
    build_flags = {'if_missing': BUILD_NO_OVERWRITE, 'no_overwrite': BUILD_NO_OVERWRITE,
                   'overwrite': BUILD_OVERWRITE}

    def validate_type(self, defining):
        devices = self.params.get('source_dev')
        if devices is not None and len(devices) != 1:
            raise ValidationError('source_dev', 'type fs takes exactly one device in source_dev, got %d' % len(devices))

    def probe(self, definition):
        devices = self.xml_attr_all(definition, 'source/device', 'path')
        if not devices:
            return None
        found = blkid_value(devices[0], 'TYPE')
        if found is None:
            return None
        wanted = (self.xml_attr_all(definition, 'source/format', 'type') or ['auto'])[0]
        if not found:
            return ProbeResult(MISSING, 'no file system on %s' % devices[0])
        if wanted in ('auto', found):
            return ProbeResult(BUILT, '%s holds %s' % (devices[0], found))
        return ProbeResult(FOREIGN, '%s holds %s, not %s' % (devices[0], found, wanted))
