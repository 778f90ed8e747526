# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: scsi - LUNs of a SCSI host adapter (HBA or vHBA)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import PoolBackend


class ScsiBackend(PoolBackend):
    type_name = 'scsi'
    summary = 'LUNs of a SCSI host adapter (scsi_host or fc_host)'
    default_target = '/dev/disk/by-path'
    options = ('target', 'source_adapter')
    required = ('source_adapter',)
    capabilities = frozenset(('volume_wipe', 'volume_upload'))
