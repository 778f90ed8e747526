# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: iscsi - LUNs of an iSCSI target, logged in by the host's kernel initiator."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import PoolBackend

ISCSI_PORT = 3260


class IscsiBackend(PoolBackend):
    type_name = 'iscsi'
    summary = 'LUNs of an iSCSI target through the kernel initiator'
    default_target = '/dev/disk/by-path'
    options = ('target', 'source_host', 'source_dev', 'source_initiator',
               'auth_type', 'auth_username', 'secret_usage', 'secret_uuid')
    required = ('source_host', 'source_dev')
    auth_types = ('chap',)
    auth_secret_usage = {'chap': 'iscsi'}
    single_entry = {'source_host': 'portal', 'source_dev': 'target IQN'}
    capabilities = frozenset(('volume_wipe', 'volume_upload'))

    #: the port libvirt writes into a started pool's <host> when the definition gives none
    default_port = ISCSI_PORT

    def to_xml(self, defining=False):
        root = super(IscsiBackend, self).to_xml(defining)
        # a host given without a port means that port, or a running pool would differ on every run (and restart)
        for host in root.findall('source/host') if self.default_port else ():
            if host.get('port') is None:
                host.set('port', str(self.default_port))
        return root
