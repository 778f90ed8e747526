# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: iscsi-direct - LUNs of an iSCSI target reached by libvirt itself (libiscsi), no kernel initiator."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils.backends.iscsi import IscsiBackend


class IscsiDirectBackend(IscsiBackend):
    type_name = 'iscsi-direct'
    summary = 'LUNs of an iSCSI target through libiscsi (no kernel initiator)'
    default_target = None
    options = ('source_host', 'source_dev', 'source_initiator',
               'auth_type', 'auth_username', 'secret_usage', 'secret_uuid')
    required = ('source_host', 'source_dev', 'source_initiator')
    capabilities = frozenset(('volume_wipe',))
    # libiscsi keeps a definition without a port as it is
    default_port = None
