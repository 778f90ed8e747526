# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: vstorage - a Virtuozzo Storage cluster mounted on the target."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import (
    FILE_VOLUME_FORMATS,
    PoolBackend,
)


class VstorageBackend(PoolBackend):
    type_name = 'vstorage'
    summary = 'a Virtuozzo Storage cluster mounted by libvirt'
    options = ('target', 'target_mode', 'target_owner', 'target_group', 'target_label', 'source_name')
    required = ('target', 'source_name')
    capabilities = frozenset(('build', 'delete', 'volume_create', 'volume_delete', 'volume_resize',
                              'volume_wipe', 'volume_upload', 'volume_clone', 'volume_backing'))
    thin_provisioned = True  # files on the Virtuozzo storage cluster, allocated as written
    volume_formats = FILE_VOLUME_FORMATS

    def probe(self, definition):
        return self.probe_dir(self.xml_text(definition, 'target/path'))
