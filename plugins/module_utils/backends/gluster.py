# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: gluster - a GlusterFS volume reached through libgfapi."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import (
    FILE_VOLUME_FORMATS,
    PoolBackend,
)


class GlusterBackend(PoolBackend):
    type_name = 'gluster'
    summary = 'a GlusterFS volume through libgfapi'
    options = ('source_host', 'source_name', 'source_path')
    required = ('source_host', 'source_name')
    capabilities = frozenset(('volume_delete',))
    thin_provisioned = True  # sparse files on the gluster volume
    volume_formats = FILE_VOLUME_FORMATS
