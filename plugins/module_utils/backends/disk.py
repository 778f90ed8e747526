# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: disk - a whole disk whose partitions are the volumes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import (
    BUILT,
    FOREIGN,
    MISSING,
    PoolBackend,
    ProbeResult,
    blkid_value,
)
from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError

# blkid names for libvirt's partition table formats
_BLKID_PTTYPE = {'dos': 'dos', 'gpt': 'gpt', 'mac': 'mac', 'bsd': 'bsd', 'sun': 'sun', 'dvh': 'sgi'}


class DiskBackend(PoolBackend):
    type_name = 'disk'
    summary = 'a whole disk; partitions are the volumes'
    default_target = '/dev'
    options = ('target', 'source_dev', 'source_format')
    required = ('source_dev',)
    source_formats = ('dos', 'dvh', 'gpt', 'mac', 'bsd', 'pc98', 'sun', 'lvm2')
    capabilities = frozenset(('build', 'volume_create', 'volume_delete', 'volume_wipe', 'volume_upload'))

    def validate_type(self, defining):
        devices = self.params.get('source_dev')
        if devices is not None and len(devices) != 1:
            raise ValidationError('source_dev', 'type disk takes exactly one device in source_dev, got %d' % len(devices))

    def probe(self, definition):
        devices = self.xml_attr_all(definition, 'source/device', 'path')
        if not devices:
            return None
        table = blkid_value(devices[0], 'PTTYPE')
        if table is None:
            return None
        wanted = (self.xml_attr_all(definition, 'source/format', 'type') or ['dos'])[0]
        if table:
            if _BLKID_PTTYPE.get(wanted, wanted) == table:
                return ProbeResult(BUILT, '%s has a %s partition table' % (devices[0], table))
            return ProbeResult(FOREIGN, '%s has a %s partition table, not %s' % (devices[0], table, wanted))
        other = blkid_value(devices[0], 'TYPE')
        if other:
            return ProbeResult(FOREIGN, '%s holds %s' % (devices[0], other))
        return ProbeResult(MISSING, 'no partition table on %s' % devices[0])
