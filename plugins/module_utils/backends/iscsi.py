# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: iscsi - LUNs of an iSCSI target, logged in by the host's kernel initiator."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import PoolBackend
from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError


class IscsiBackend(PoolBackend):
    type_name = 'iscsi'
    summary = 'LUNs of an iSCSI target through the kernel initiator'
    default_target = '/dev/disk/by-path'
    options = ('target', 'source_host', 'source_dev', 'source_initiator',
               'auth_type', 'auth_username', 'secret_usage', 'secret_uuid')
    required = ('source_host', 'source_dev')
    auth_types = ('chap',)
    capabilities = frozenset(('volume_wipe', 'volume_upload'))

    def validate_type(self, defining):
        for option in ('source_host', 'source_dev'):
            value = self.params.get(option)
            if value is not None and len(value) != 1:
                raise ValidationError(option, 'type %s takes exactly one entry in %s (the %s), got %d'
                                      % (self.type_name, option,
                                         'portal' if option == 'source_host' else 'target IQN', len(value)))
