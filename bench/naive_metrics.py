# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The naive storage metrics collector of bench scenario (e): libvirt-python in one loop.

naive_metrics.py URI OUTPUT VOLUME_LIMIT writes the series the storage_metrics collector writes
(the same families, labels and values; shorter HELP texts) for every pool of URI: each pool's
XMLDesc(), info(), isActive(), isPersistent(), autostart(), and for a running pool
listAllVolumes() then info(), infoFlags(VIR_STORAGE_VOL_GET_PHYSICAL) and XMLDesc() (format,
path) of each volume, one call after another; the text is written to a temporary file, flushed
to disk and renamed over OUTPUT. VOLUME_LIMIT as the collector's --volume-limit. Prints
{"pools", "volumes"}.
"""

import json
import os
import sys
import time

import libvirt
from lxml import etree

HELP = {
    'pool_info': 'Pool description (value 1).', 'pool_state': 'Pool state (1 for the state of the pool).',
    'pool_active': 'Pool running.', 'pool_autostart': 'Pool autostart.',
    'pool_autostart_not_running': 'Autostart set, pool not running.', 'pool_capacity_bytes': 'Pool capacity.',
    'pool_allocation_bytes': 'Pool allocation.', 'pool_available_bytes': 'Pool available.',
    'pool_provisioned_bytes': 'Sum of the volume capacities.', 'pool_overcommit_ratio': 'Provisioned per capacity.',
    'pool_volumes': 'Volumes in the pool.', 'volume_info': 'Volume description (value 1).',
    'volume_capacity_bytes': 'Volume capacity.', 'volume_allocation_bytes': 'Volume allocation.',
    'volume_physical_bytes': 'Volume physical size.', 'collector_success': 'Run succeeded.',
    'collector_last_run_timestamp_seconds': 'Start of the run.', 'collector_duration_seconds': 'Run time.',
    'collector_warnings': 'Warnings.', 'collector_volume_series': 'Volume series written.'}
ORDER = ['pool_info', 'pool_state', 'pool_active', 'pool_autostart', 'pool_autostart_not_running',
         'pool_capacity_bytes', 'pool_allocation_bytes', 'pool_available_bytes', 'pool_provisioned_bytes',
         'pool_overcommit_ratio', 'pool_volumes', 'volume_info', 'volume_capacity_bytes', 'volume_allocation_bytes',
         'volume_physical_bytes', 'collector_success', 'collector_last_run_timestamp_seconds',
         'collector_duration_seconds', 'collector_warnings', 'collector_volume_series']
STATES = ['inactive', 'building', 'active', 'degraded', 'inaccessible']
VOLUME_TYPES = ['file', 'block', 'dir', 'network', 'netdir', 'ploop']
KNOWN = ['dir', 'fs', 'netfs', 'logical', 'disk', 'iscsi', 'iscsi-direct', 'scsi', 'mpath', 'rbd', 'gluster',
         'zfs', 'vstorage']
THIN = ['dir', 'fs', 'netfs', 'rbd', 'gluster', 'vstorage']


def esc(value):
    return str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def labels(pairs):
    return '{%s}' % ','.join('%s="%s"' % (key, esc(value)) for key, value in pairs) if pairs else ''


def value(number):
    if isinstance(number, bool):
        return '1' if number else '0'
    return str(number) if isinstance(number, int) else repr(float(number))


def read_pool(pool, series):
    """The pool series of one pool into SERIES; for a running pool (name, its volume rows sorted by name).
    A pool that goes away meanwhile is left out (libvirtError before anything is added to SERIES), as the
    collector leaves it out."""
    name = pool.name()
    mine = dict((family, []) for family in ORDER)
    found = read_pool_into(pool, name, mine)
    for family, samples in mine.items():
        series[family].extend(samples)
    return found


def read_pool_into(pool, name, series):
    root = etree.fromstring(pool.XMLDesc(0))
    state, capacity, allocation, available = pool.info()
    active = bool(pool.isActive())
    persistent = bool(pool.isPersistent())
    autostart = bool(pool.autostart()) if persistent else False
    kind = root.get('type')
    key = [('pool', name)]
    thin = '' if kind not in KNOWN else 'true' if kind in THIN else 'false'
    series['pool_info'].append((key + [('type', kind), ('uuid', root.findtext('uuid')),
                                       ('target_path', root.findtext('target/path') or ''),
                                       ('persistent', 'true' if persistent else 'false'),
                                       ('thin_provisioned', thin)], 1))
    for one in STATES:
        series['pool_state'].append((key + [('state', one)], STATES[state] == one))
    series['pool_active'].append((key, active))
    series['pool_autostart'].append((key, autostart))
    series['pool_autostart_not_running'].append((key, autostart and not active))
    series['pool_capacity_bytes'].append((key, capacity))
    series['pool_allocation_bytes'].append((key, allocation))
    series['pool_available_bytes'].append((key, available))
    if STATES[state] != 'active':
        return None
    provisioned = 0
    rows = []
    for vol in pool.listAllVolumes(0):
        try:
            vtype, vcapacity, vallocation = vol.info()
            physical = vol.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2]
            vroot = etree.fromstring(vol.XMLDesc(0))
        except libvirt.libvirtError:
            continue  # deleted since the pool was listed
        target = vroot.find('target')
        form = target.find('format') if target is not None else None
        provisioned += vcapacity
        rows.append((vol.name(), VOLUME_TYPES[vtype], form.get('type') if form is not None else '',
                     target.findtext('path') if target is not None else '', vcapacity, vallocation, physical))
    series['pool_provisioned_bytes'].append((key, provisioned))
    series['pool_volumes'].append((key, len(rows)))
    if capacity:
        series['pool_overcommit_ratio'].append((key, round(float(provisioned) / capacity, 3)))
    return name, sorted(rows)


def volume_series(series, read):
    for name, rows in read:
        for vname, vtype, form, vpath, vcapacity, vallocation, physical in rows:
            key = [('pool', name), ('volume', vname)]
            series['volume_info'].append((key + [('type', vtype), ('format', form or ''), ('path', vpath or '')], 1))
            series['volume_capacity_bytes'].append((key, vcapacity))
            series['volume_allocation_bytes'].append((key, vallocation))
            if physical:
                series['volume_physical_bytes'].append((key, physical))


def write(path, series):
    lines = []
    for family in ORDER:
        if series[family]:
            lines += ['# HELP libvirt_storage_%s %s' % (family, HELP[family]),
                      '# TYPE libvirt_storage_%s gauge' % family]
            lines += ['libvirt_storage_%s%s %s' % (family, labels(pairs), value(number))
                      for pairs, number in series[family]]
    temporary = path + '.tmp'
    with open(temporary, 'w') as handle:
        handle.write('\n'.join(lines) + '\n')
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(temporary, path)


def main(uri, path, limit):
    started = time.time()
    series = dict((name, []) for name in ORDER)
    conn = libvirt.open(uri)
    pools = sorted(conn.listAllStoragePools(0), key=lambda pool: pool.name())
    read = []
    for pool in pools:
        try:
            found = read_pool(pool, series)
        except libvirt.libvirtError:
            continue  # gone since the pools were listed
        if found is not None:
            read.append(found)
    conn.close()
    volumes = sum(len(rows) for dummy, rows in read)
    wanted = limit < 0 or 0 < volumes <= limit
    if wanted:
        volume_series(series, read)
    series['collector_success'].append(([], True))
    series['collector_last_run_timestamp_seconds'].append(([], started))
    series['collector_duration_seconds'].append(([], time.time() - started))
    series['collector_warnings'].append(([], 0))
    series['collector_volume_series'].append(([], wanted))
    write(path, series)
    print(json.dumps({'pools': len(pools), 'volumes': volumes}))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
