# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: logical - an LVM volume group; volumes are logical volumes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import (
    BUILT,
    FOREIGN,
    MIB,
    MISSING,
    PoolBackend,
    ProbeResult,
    blkid_value,
    run_probe,
)


class LogicalBackend(PoolBackend):
    type_name = 'logical'
    summary = 'an LVM volume group'
    options = ('target', 'source_name', 'source_dev', 'source_format')
    required = ()  # libvirt names the volume group after the pool when source_name is left out
    source_formats = ('lvm2',)
    capabilities = frozenset(('build', 'delete', 'volume_create', 'volume_delete', 'volume_wipe',
                              'volume_upload', 'volume_clone', 'volume_backing'))
    volume_formats = ('raw',)
    volume_format_in_xml = False
    # logical volumes are whole extents: 4 MiB unless the VG was made otherwise (vgcreate -s), so the
    # extent size is read from the host (host_granularity); this is the fallback when nothing tells
    volume_granularity = 4 * MIB
    granularity_note = ('the extent size of the volume group, read with vgs (with a remote URI, bounded from the '
                        'sizes libvirt reports; 4 MiB when nothing tells)')

    def __init__(self, params):
        super(LogicalBackend, self).__init__(params)
        self._extent_sizes = {}  # volume group name -> extent size read with vgs (None: vgs cannot tell)

    def host_granularity(self, definition, is_local, sizes=()):
        """The volume group's extent size: read with vgs on the host when the module runs there.
        Otherwise (a remote URI, or vgs cannot tell) an upper bound of it from what libvirt reports:
        extents are a power of two that divides the VG's size, its free space and every LV's size
        (``sizes``), so the largest power of two dividing all of them is never below the extent
        size, and a volume rounded up to whole extents is never taken for a larger one."""
        vg_name = self.xml_text(definition, 'source/name') or self.name
        if is_local:
            if vg_name not in self._extent_sizes:
                rc, out = run_probe(['vgs', '--noheadings', '--units', 'b', '--nosuffix', '-o', 'vg_extent_size',
                                     vg_name])
                text = out.strip().rstrip('B')
                self._extent_sizes[vg_name] = int(text) if rc == 0 and text.isdigit() and int(text) > 0 else None
            if self._extent_sizes[vg_name]:
                return self._extent_sizes[vg_name]
        bound = extent_bound([self.xml_text(definition, 'capacity'), self.xml_text(definition, 'available')]
                             + list(sizes))
        return bound or self.volume_granularity
    overwrite_destroys = ('wipes the start of each device and makes a new volume group on them: the volume group '
                          'and every logical volume they held are lost')
    probe_tools = ('vgs', 'pvs', 'blkid')

    def probe(self, definition):
        vg_name = self.xml_text(definition, 'source/name') or self.name
        rc, out = run_probe(['vgs', '--noheadings', '-o', 'vg_name', vg_name])
        if rc == 0 and out:
            return ProbeResult(BUILT, 'volume group %s exists' % vg_name)
        devices = self.xml_attr_all(definition, 'source/device', 'path')
        if not devices:
            return None if rc is None else ProbeResult(MISSING, 'volume group %s does not exist' % vg_name)
        for device in devices:
            found = blkid_value(device, 'TYPE')
            if found is None:
                return None
            if found and found != 'LVM2_member':
                return ProbeResult(FOREIGN, '%s holds %s' % (device, found))
            if found == 'LVM2_member':
                owner = _volume_group_of(device)
                if owner is None:
                    return None
                if owner:
                    # a physical volume of another volume group holds that group's data
                    return ProbeResult(FOREIGN, '%s is a physical volume of volume group %s' % (device, owner))
        return ProbeResult(MISSING, 'volume group %s does not exist' % vg_name)


def _volume_group_of(device):
    """The volume group the physical volume ``device`` belongs to ('' for none), None if unknown."""
    rc, out = run_probe(['pvs', '--noheadings', '-o', 'vg_name', device])
    if rc != 0:
        return None
    return out.strip()


def extent_bound(sizes):
    """The largest power of two that divides every non-zero size in ``sizes`` (ints or digit
    strings; others are skipped), or None when there is none."""
    common = 0
    for size in sizes:
        text = str(size).strip() if size is not None else ''
        if text.isdigit() and int(text) > 0:
            common = _gcd(common, int(text))
    if not common:
        return None
    return common & -common


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a
