# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: rbd - a Ceph RADOS pool; volumes are RBD images."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import (
    MIB,
    PoolBackend,
)


class RbdBackend(PoolBackend):
    type_name = 'rbd'
    summary = 'a Ceph RADOS pool of RBD images'
    options = ('source_host', 'source_name', 'auth_type', 'auth_username', 'secret_usage', 'secret_uuid')
    required = ('source_host', 'source_name')
    auth_types = ('ceph',)
    auth_secret_usage = {'ceph': 'ceph'}
    capabilities = frozenset(('volume_create', 'volume_delete', 'volume_resize', 'volume_wipe', 'volume_clone'))
    volume_formats = ('raw',)
    volume_format_in_xml = False
    volume_granularity = 4 * MIB  # RBD object size
