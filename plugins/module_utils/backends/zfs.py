# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: zfs - a ZFS pool; volumes are zvols."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import (
    BUILT,
    MIB,
    MISSING,
    PoolBackend,
    ProbeResult,
    run_probe,
)


class ZfsBackend(PoolBackend):
    type_name = 'zfs'
    summary = 'a ZFS pool of zvols'
    options = ('source_name', 'source_dev')
    required = ('source_name',)
    capabilities = frozenset(('build', 'delete', 'volume_create', 'volume_delete', 'volume_upload'))
    volume_formats = ('raw',)
    volume_format_in_xml = False
    volume_granularity = MIB  # zvol block size
    granularity_note = ('1 MiB: a zvol is whole blocks of its volblocksize, and libvirt makes zvols with the '
                        'default one (8 or 16 KiB)')
    probe_tools = ('zpool',)

    def probe(self, definition):
        zpool = self.xml_text(definition, 'source/name') or self.name
        rc, _out = run_probe(['zpool', 'list', '-H', '-o', 'name', zpool])
        if rc is None:
            return None
        if rc == 0:
            return ProbeResult(BUILT, 'zpool %s exists' % zpool)
        return ProbeResult(MISSING, 'zpool %s does not exist' % zpool)
