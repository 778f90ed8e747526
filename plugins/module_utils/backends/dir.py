# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: dir - a directory on the host holds the volumes as files."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import (
    FILE_VOLUME_FORMATS,
    PoolBackend,
)

PERMISSION_PATHS = ('target/permissions',)


class DirBackend(PoolBackend):
    type_name = 'dir'
    summary = 'a directory of image files'
    options = ('target', 'target_mode', 'target_owner', 'target_group', 'target_label')
    required = ('target',)
    capabilities = frozenset(('build', 'delete', 'volume_create', 'volume_delete', 'volume_resize',
                              'volume_wipe', 'volume_upload', 'volume_clone', 'volume_backing'))
    thin_provisioned = True  # sparse files: a volume takes the blocks written to it
    volume_formats = FILE_VOLUME_FORMATS
    delete_refuses_nonempty = True
    # a build makes the directory (with the definition's permissions) or sets them; it destroys nothing
    rebuild_when_missing = True

    def rebuild_paths(self):
        return PERMISSION_PATHS

    def probe(self, definition):
        return self.probe_dir(self.xml_text(definition, 'target/path'))
