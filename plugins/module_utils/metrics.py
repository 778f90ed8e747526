# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus metrics of a libvirt host's storage, from the facts (facts.py and records.py).

The numbers are those ``storage_facts`` returns: ``collect`` runs the facts manager with
``gather: [pools, volumes]`` and ``render`` turns its ``libvirt_storage`` dict into
node_exporter's textfile format (the Prometheus text exposition format without
timestamps).  ``write_textfile`` replaces the file atomically, and ``main`` is the
collector the ``storage_metrics`` role runs from a systemd timer.

Every metric name starts with ``libvirt_storage_``; sizes are in bytes (``_bytes``),
times in seconds, booleans are 0 or 1, and the pool state is one series per known state
(1 for the pool's state).  node_exporter adds the ``instance`` label of the host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import math
import os
import sys
import tempfile
import time

from ansible_collections.kvmops.storage.plugins.module_utils.live import POOL_STATES

PREFIX = 'libvirt_storage_'
DEFAULT_OUTPUT = '/var/lib/prometheus/node-exporter/kvmops_storage.prom'
# per-volume series are written while the host has at most this many volumes (0: never; -1: always)
DEFAULT_VOLUME_LIMIT = 1000

STATES = tuple(POOL_STATES[number] for number in sorted(POOL_STATES))

# (name without the prefix, help text): every family the collector can write, in the order written
POOL_FAMILIES = (
    ('pool_info', 'Pool description (value 1): type, uuid, target path, persistent, thin-provisioned.'),
    ('pool_state', 'Pool state as libvirt reports it: 1 for the series of the pool\'s state, 0 for the others.'),
    ('pool_active', 'Whether the pool is running (1) or not (0).'),
    ('pool_autostart', 'Whether libvirtd starts the pool when it starts (1) or not (0).'),
    ('pool_autostart_not_running', 'Autostart set but the pool is not running (1), else 0.'),
    ('pool_capacity_bytes', 'Pool capacity in bytes (0 while the pool is not running).'),
    ('pool_allocation_bytes', 'Bytes allocated in the pool.'),
    ('pool_available_bytes', 'Bytes free in the pool.'),
    ('pool_provisioned_bytes', 'Sum of the capacities of the pool\'s volumes in bytes (running pools).'),
    ('pool_overcommit_ratio', 'Provisioned bytes per byte of pool capacity (running pools of non-zero capacity).'),
    ('pool_volumes', 'Number of volumes in the pool (running pools).'),
)
VOLUME_FAMILIES = (
    ('volume_info', 'Volume description (value 1): type, format, path.'),
    ('volume_capacity_bytes', 'Volume capacity (virtual size) in bytes.'),
    ('volume_allocation_bytes', 'Bytes allocated to the volume on its storage.'),
    ('volume_physical_bytes', 'Physical size of the volume in bytes, where libvirt reports one.'),
)
COLLECTOR_FAMILIES = (
    ('collector_success', 'Whether the last run read the storage of libvirtd (1) or failed (0).'),
    ('collector_last_run_timestamp_seconds', 'When the last run started, in seconds since the epoch.'),
    ('collector_duration_seconds', 'How long the last run took, in seconds.'),
    ('collector_warnings', 'Number of warnings of the last run (pools or volumes that could not be read...).'),
    ('collector_volume_series', 'Whether the per-volume series are written (1) or left out (0): the volume limit.'),
)
FAMILIES = POOL_FAMILIES + VOLUME_FAMILIES + COLLECTOR_FAMILIES


def metric_names():
    """Every metric name the collector may write."""
    return [PREFIX + name for name, _help in FAMILIES]


def escape_label_value(value):
    """A label value as the exposition format writes it: backslash, double quote and newline escaped."""
    return str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def escape_help(text):
    """HELP text: backslash and newline escaped."""
    return text.replace('\\', '\\\\').replace('\n', '\\n')


def format_value(value):
    """A sample value: booleans as 0/1, integers as they are, floats in Python's shortest form."""
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return 'NaN'
    if value in (float('inf'), float('-inf')):
        return '+Inf' if value > 0 else '-Inf'
    return repr(value)


def _labels(pairs):
    if not pairs:
        return ''
    return '{%s}' % ','.join('%s="%s"' % (key, escape_label_value(value)) for key, value in pairs)


def _bool_text(value):
    if value is None:
        return ''
    return 'true' if value else 'false'


def _pool_samples(pool):
    """{family: [(labels, value)]} of one pool record (with its ``volumes`` read or empty)."""
    name = pool['name']
    key = (('pool', name),)
    target = pool.get('target') or {}
    samples = {
        'pool_info': [(key + (('type', pool.get('type') or ''), ('uuid', pool.get('uuid') or ''),
                              ('target_path', target.get('path') or ''),
                              ('persistent', _bool_text(pool.get('persistent'))),
                              ('thin_provisioned', _bool_text(pool.get('thin_provisioned')))), 1)],
        'pool_state': [(key + (('state', state),), pool['state'] == state) for state in STATES],
        'pool_active': [(key, bool(pool['active']))],
        'pool_autostart': [(key, bool(pool['autostart']))],
        'pool_autostart_not_running': [(key, bool(pool['autostart_not_running']))],
        'pool_capacity_bytes': [(key, pool['capacity'])],
        'pool_allocation_bytes': [(key, pool['allocation'])],
        'pool_available_bytes': [(key, pool['available'])],
    }
    if pool['state'] not in STATES:  # a state number libvirt added after this collection was written
        samples['pool_state'].append((key + (('state', pool['state']),), True))
    if pool.get('provisioned') is not None:
        samples['pool_provisioned_bytes'] = [(key, pool['provisioned'])]
        samples['pool_volumes'] = [(key, len(pool.get('volumes') or {}))]
    if pool.get('overcommit_ratio') is not None:
        samples['pool_overcommit_ratio'] = [(key, pool['overcommit_ratio'])]
    return samples


def _volume_lines(pool_name, volume, collected):
    """The series of one volume appended to ``collected`` (by family) already formatted: the text of each line
    after the metric name (its labels and value), as render writes the other series; a host may have thousands
    of volumes, and formatting them here takes half the time of going through (labels, value) samples."""
    key = 'pool="%s",volume="%s"' % (escape_label_value(pool_name), escape_label_value(volume['name']))
    collected['volume_info'].append('{%s,type="%s",format="%s",path="%s"} 1' % (
        key, escape_label_value(volume.get('type') or ''), escape_label_value(volume.get('format') or ''),
        escape_label_value(volume.get('path') or '')))
    collected['volume_capacity_bytes'].append('{%s} %s' % (key, format_value(volume['capacity'])))
    collected['volume_allocation_bytes'].append('{%s} %s' % (key, format_value(volume['allocation'])))
    if volume.get('physical') is not None:
        collected['volume_physical_bytes'].append('{%s} %s' % (key, format_value(volume['physical'])))


def volume_count(facts):
    """Number of volumes in all the pools of a facts dict."""
    return sum(len(pool.get('volumes') or {}) for pool in (facts.get('pools') or {}).values())


def volume_series_wanted(facts, volume_limit):
    """Whether the per-volume series are written: ``volume_limit`` -1 always, 0 never, N while the host has at
    most N volumes (so that a host with thousands of volumes keeps its pool series and a small scrape)."""
    if volume_limit is None or volume_limit < 0:
        return True
    return volume_count(facts) <= volume_limit and volume_limit > 0


def render(facts, success=True, started=None, duration=None, warnings=0, volume_limit=DEFAULT_VOLUME_LIMIT):
    """The textfile of a facts dict (``ansible_facts.libvirt_storage`` with ``pools``): HELP and TYPE before
    each family, the series of a family together, families without series left out."""
    collected = dict((name, []) for name, _help in FAMILIES)
    # the volume series as formatted text (labels and value), the others as (labels, value) samples
    formatted = dict((name, []) for name, _help in VOLUME_FAMILIES)
    pools = (facts or {}).get('pools') or {}
    with_volumes = volume_series_wanted(facts or {}, volume_limit)
    for pool_name in sorted(pools):
        pool = pools[pool_name]
        for family, samples in _pool_samples(pool).items():
            collected[family].extend(samples)
        if with_volumes:
            volumes = pool.get('volumes') or {}
            for volume_name in sorted(volumes):
                _volume_lines(pool['name'], volumes[volume_name], formatted)
    collected['collector_success'] = [((), bool(success))]
    if started is not None:
        collected['collector_last_run_timestamp_seconds'] = [((), float(started))]
    if duration is not None:
        collected['collector_duration_seconds'] = [((), float(duration))]
    collected['collector_warnings'] = [((), int(warnings))]
    collected['collector_volume_series'] = [((), with_volumes)]
    lines = []
    for family, help_text in FAMILIES:
        samples = collected[family]
        texts = formatted.get(family, ())
        if not samples and not texts:
            continue
        name = PREFIX + family
        lines.append('# HELP %s %s' % (name, escape_help(help_text)))
        lines.append('# TYPE %s gauge' % name)
        for labels, value in samples:
            lines.append('%s%s %s' % (name, _labels(labels), format_value(value)))
        lines.extend([name + text for text in texts])
    return '\n'.join(lines) + '\n'


def collect(conn, is_local=True, refresh=False):
    """The facts of every pool with its volumes (the ``storage_facts`` code) and the warnings of the run;
    ``refresh`` as the option of storage_facts (each active pool refreshed first)."""
    # imported here: render() and write_textfile() work without libvirt and lxml
    from ansible_collections.kvmops.storage.plugins.module_utils.facts import FactsManager
    manager = FactsManager(conn, {'gather': ['pools', 'volumes'], 'pools': None, 'query': None, 'refresh': refresh},
                           is_local)
    return manager.facts(), list(manager.warnings)


def write_textfile(path, text):
    """Replace ``path`` with ``text`` atomically: a temporary file in the same directory (a name node_exporter
    does not read: it reads ``*.prom``), written, flushed to disk, made 0644, renamed over ``path``; the
    directory is flushed too.  A reader sees the old file or the new one, never a part."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path), suffix='.tmp')
    try:
        with os.fdopen(handle, 'w') as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.rename(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - a directory that cannot be opened still got the file
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run(uri, volume_limit=DEFAULT_VOLUME_LIMIT, clock=time.time, connection_class=None, refresh=False):
    """One collection: (text, success, messages).  A failure (libvirtd not answering...) gives the collector
    series alone with success 0, so that the failure shows in Prometheus; ``messages`` say why."""
    if connection_class is None:
        from ansible_collections.kvmops.storage.plugins.module_utils.connection import Connection
        connection_class = Connection
    from ansible_collections.kvmops.storage.plugins.module_utils.errors import StorageError
    started = clock()
    facts, messages, success = {}, [], True
    connection = connection_class(uri)
    try:
        try:
            conn = connection.open()
            facts, messages = collect(conn, connection.is_local, refresh)
        finally:
            connection.close()
    except StorageError as exc:
        facts, messages, success = {}, [exc.msg], False
    except Exception as exc:  # pylint: disable=broad-except
        facts, messages, success = {}, ['unexpected error: %s: %s' % (type(exc).__name__, exc)], False
    duration = max(0.0, clock() - started)
    warnings = len(messages) if success else 0
    text = render(facts, success, started, duration, warnings, volume_limit)
    return text, success, messages


def main(argv=None):
    """The collector's command line: collect, write the textfile (or print it), say the warnings on stderr;
    exit 1 when libvirt could not be read (the file then says success 0)."""
    parser = argparse.ArgumentParser(
        prog='kvmops-storage-metrics',
        description='Write the storage metrics of a libvirt host in node_exporter\'s textfile format.')
    parser.add_argument('--uri', default='qemu:///system', help='libvirt connection URI (default %(default)s)')
    parser.add_argument('--output', default=DEFAULT_OUTPUT,
                        help='file to replace atomically (default %(default)s); "-" prints to stdout')
    parser.add_argument('--volume-limit', type=int, default=DEFAULT_VOLUME_LIMIT,
                        help='write per-volume series while the host has at most this many volumes; '
                             '0 never, -1 always (default %(default)s)')
    parser.add_argument('--refresh', action='store_true',
                        help='refresh each active pool before reading it (as storage_facts refresh does); without it '
                             'the pool figures are those of libvirt\'s last refresh or volume change')
    args = parser.parse_args(argv)
    text, success, messages = run(args.uri, args.volume_limit, refresh=args.refresh)
    for message in messages:
        sys.stderr.write('%s: %s\n' % ('warning' if success else 'error', message))
    if args.output == '-':
        sys.stdout.write(text)
    else:
        write_textfile(args.output, text)
    return 0 if success else 1
