# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: disk - a whole disk whose partitions are the volumes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import (
    BUILT,
    DISK_VOLUME_FORMATS,
    FOREIGN,
    MIB,
    MISSING,
    PoolBackend,
    ProbeResult,
    blkid_value,
)

# blkid names for libvirt's partition table formats
_BLKID_PTTYPE = {'dos': 'dos', 'gpt': 'gpt', 'mac': 'mac', 'bsd': 'bsd', 'sun': 'sun', 'dvh': 'sgi'}


class DiskBackend(PoolBackend):
    type_name = 'disk'
    summary = 'a whole disk; partitions are the volumes'
    default_target = '/dev'
    options = ('target', 'source_dev', 'source_format')
    required = ('source_dev',)
    source_formats = ('dos', 'dvh', 'gpt', 'mac', 'bsd', 'pc98', 'sun', 'lvm2')
    single_entry = {'source_dev': 'device'}
    capabilities = frozenset(('build', 'volume_create', 'volume_delete', 'volume_wipe', 'volume_upload'))
    volume_formats = DISK_VOLUME_FORMATS
    # partitions start and end on alignment boundaries (cylinders on dos labels)
    volume_granularity = 16 * MIB
    granularity_note = ('16 MiB: partitions end on alignment boundaries, cylinders of at most 255 x 63 x 512 '
                        'bytes (under 8 MiB) on dos labels')

    volume_create_may_leave = True
    # after a pool refresh libvirt reports partitions of gpt disks as format none, whatever their type
    volume_format_read_back = False
    overwrite_destroys = 'writes a new partition table on the disk: every partition on it and their data are lost'
    probe_tools = ('blkid',)

    def volume_name_problem(self, name, definition):
        device = self.first_device(definition)
        if device is None:
            return None
        base = os.path.basename(device)
        stem = base + 'p' if base[-1:].isdigit() else base
        if name.startswith(stem) and name[len(stem):].isdigit():
            return None
        return ('volumes of disk pools are partitions, named after the device and the number libvirt gives '
                'the next partition: %sN, e.g. %s1' % (stem, stem))

    def probe(self, definition):
        device = self.first_device(definition)
        if device is None:
            return None
        table = blkid_value(device, 'PTTYPE')
        if table is None:
            return None
        # a definition without a format holds libvirt's <format type='unknown'/>, which libvirt starts and
        # builds as dos: a dos label is the pool's, another one is named with the format that takes it
        wanted = (self.xml_attr_all(definition, 'source/format', 'type') or ['unknown'])[0]
        label = 'dos' if wanted == 'unknown' else wanted
        if table:
            if _BLKID_PTTYPE.get(label, label) == table:
                return ProbeResult(BUILT, '%s has a %s partition table' % (device, table))
            if wanted == 'unknown':
                fmt = dict((v, k) for k, v in _BLKID_PTTYPE.items()).get(table, table)
                return ProbeResult(FOREIGN, '%s has a %s partition table, and the definition names no format, which '
                                            'libvirt takes as dos (set source_format=%s to use the disk as it is)'
                                   % (device, table, fmt))
            return ProbeResult(FOREIGN, '%s has a %s partition table, not %s' % (device, table, wanted))
        other = blkid_value(device, 'TYPE')
        if other:
            return ProbeResult(FOREIGN, '%s holds %s' % (device, other))
        return ProbeResult(MISSING, 'no partition table on %s' % device)
