# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tables of the capacity report (playbooks/capacity_report.yml) built from the fleet's
``libvirt_storage`` facts in one pass in Python: the pools of every host, the largest volumes, the
volumes no domain uses, and the CSV of every volume. A template walking 1,000 volumes per host over
100 hosts takes minutes; this takes about a second. The filters in plugins/filter/capacity.py are
thin wrappers around these functions.

Order: hosts, pools and volumes by name, case-insensitively (as Jinja's ``sort`` and ``dictsort``
order them); the largest volumes by capacity, the unused ones by allocation then capacity, largest
first, ties in that order. A volume is a backing store when any volume of the same host, in any pool,
is backed by its path.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils import capacity_history as history

CSV_HEADER = ('host,pool,pool_type,pool_state,pool_capacity,pool_allocation,pool_available,pool_usage_percent,'
              'over_threshold,pool_provisioned,pool_overcommit_ratio,volume,volume_path,volume_format,volume_capacity,'
              'volume_allocation,volume_physical,backing_store,used_by')
FORMULA_STARTS = ('=', '+', '-', '@', '\t', '\r')


def _key(item):
    name = item[0]
    return name.lower() if isinstance(name, str) else name


def _plain(data):
    """``data`` itself, or, for the lazy dict that ansible-core 2.19 and later hand a filter for a
    variable, its plain copy. Reading a lazy dict checks every value read for a template, which costs
    more than the whole report over 1,000 volumes a host; facts a module returned hold no template (a
    module's result is not trusted as one), so the plain values are the same."""
    copy = getattr(data, '_non_lazy_copy', None)
    if callable(copy):
        try:
            return copy()
        except Exception:  # pylint: disable=broad-except
            return data  # an ansible-core whose private method differs: read the values the slow way
    return data


def host_storage(facts_by_host, host):
    """The ``libvirt_storage`` facts of ``host``: ``facts_by_host`` maps a host to its variables
    (``hostvars``) or directly to those facts; {} for a host without them."""
    data = facts_by_host.get(host) or {}
    if 'pools' not in data:
        data = (data.get('ansible_facts') or {}).get('libvirt_storage') or {}
    return _plain(data)


def read_storage(facts_by_host, hosts):
    """{host: its libvirt_storage facts as plain dicts} for each of ``hosts``, each host read once
    (reading a host's variables from ``hostvars`` costs tens of milliseconds)."""
    return dict((host, host_storage(facts_by_host, host)) for host in set(hosts))


def _pools_of(storage):
    """(host, pool name, pool facts, [(volume name, volume facts)...], the backing store paths of the
    host) in report order, from read_storage()."""
    for host in sorted(storage, key=lambda name: name.lower()):
        pools = storage[host].get('pools') or {}
        backing = set()
        for pool in pools.values():
            for vol in (pool.get('volumes') or {}).values():
                if vol.get('backing_store'):
                    backing.add(vol['backing_store'].get('path'))
        for name, pool in sorted(pools.items(), key=_key):
            yield host, name, pool, sorted((pool.get('volumes') or {}).items(), key=_key), backing


def _over(pool, threshold):
    usage = pool.get('usage_percent')
    return usage is not None and usage >= float(threshold)


def fleet_tables(facts_by_host, hosts, threshold, top, unused_top, time=None, csv=False):
    """The data of the HTML report: ``pools`` (each pool's facts without its volumes, with ``host``,
    ``over``, ``volume_count`` and ``sort_usage``), ``volume_count``, ``largest`` (the ``top`` largest
    volumes by capacity), ``unused`` (the ``unused_top`` unused volumes of the largest allocation) and
    ``unused_count``; each volume with ``host``, ``pool`` and ``is_backing`` added. With ``csv``, also
    ``csv`` (fleet_csv()); with ``time``, also ``points`` (the history points of the run at that time,
    capacity_history.run_points()): every host is read once for all of them."""
    storage = read_storage(facts_by_host, hosts)
    pools, largest, unused = [], [], []
    volume_count = 0
    for host, name, pool, volumes, backing in _pools_of(storage):
        usage = pool.get('usage_percent')
        record = dict((key, value) for key, value in pool.items() if key != 'volumes')
        record.update(host=host, over=_over(pool, threshold), volume_count=len(volumes),
                      sort_usage=usage if usage is not None else -1)
        pools.append(record)
        volume_count += len(volumes)
        for _vol_name, vol in volumes:
            is_backing = vol.get('path') in backing
            largest.append((vol.get('capacity') or 0, host, name, vol, is_backing))
            if not vol.get('used_by') and not is_backing:
                unused.append((vol.get('allocation') or 0, vol.get('capacity') or 0, host, name, vol, is_backing))
    largest.sort(key=lambda entry: entry[0], reverse=True)
    unused.sort(key=lambda entry: entry[:2], reverse=True)
    result = {
        'pools': pools, 'volume_count': volume_count, 'unused_count': len(unused),
        'largest': [dict(vol, host=host, pool=name, is_backing=is_backing)
                    for _size, host, name, vol, is_backing in largest[:max(int(top), 0)]],
        'unused': [dict(vol, host=host, pool=name, is_backing=is_backing)
                   for _alloc, _size, host, name, vol, is_backing in unused[:max(int(unused_top), 0)]]}
    if csv:
        result['csv'] = fleet_csv(storage, hosts, threshold)
    if time is not None:
        result['points'] = history.run_points(storage, hosts, time)
    return result


def _text(value):
    """A quoted CSV text field (RFC 4180); a text that a spreadsheet would run as a formula gets a
    leading '."""
    value = '' if value is None else str(value)
    if value[:1] in FORMULA_STARTS and value:
        value = "'" + value
    return '"%s"' % value.replace('"', '""')


def _number(value):
    return '' if value is None else str(value)


def fleet_csv(facts_by_host, hosts, threshold):
    """The CSV of every volume of the fleet, one row per volume; a pool without volumes has one row
    with the volume columns empty. Ends with a newline."""
    lines = [CSV_HEADER]
    storage = read_storage(facts_by_host, hosts)  # at once when it was read already
    for host, name, pool, volumes, _backing in _pools_of(storage):
        cols = ','.join([_text(host), _text(pool.get('name')), _text(pool.get('type')), _text(pool.get('state')),
                         str(pool.get('capacity')), str(pool.get('allocation')), str(pool.get('available')),
                         _number(pool.get('usage_percent')), 'yes' if _over(pool, threshold) else 'no',
                         _number(pool.get('provisioned')), _number(pool.get('overcommit_ratio'))])
        if not volumes:
            lines.append(cols + ',,,,,,,,')
        for vol_name, vol in volumes:
            backing = vol.get('backing_store')
            lines.append(','.join([cols, _text(vol_name), _text(vol.get('path') or ''), _text(vol.get('format') or ''),
                                   _number(vol.get('capacity')), _number(vol.get('allocation')),
                                   _number(vol.get('physical')), _text(backing.get('path') if backing else ''),
                                   _text(' '.join(vol.get('used_by') or []))]))
    return '\n'.join(lines) + '\n'
