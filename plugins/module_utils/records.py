# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One record per libvirt object: the dict that describes a pool, a volume or a secret.

``storage_pool`` returns a pool record (``pool``), ``storage_volume`` volume records
(``volume``/``volumes``), ``storage_secret`` a secret record (``secret``), and
``storage_facts`` lists the same records; each module's RETURN documents the keys below
(tests/unit/test_records.py holds them together).  What only one side can tell is added by
that side, outside the record: the modules' ``xml`` (and ``value_set`` of a secret, which
only the module may learn), the facts' ``volumes`` of a pool and ``used_by`` of a volume.

Built from what the callers have read already (XML documents, ``info()``): no libvirt call
here, so that the facts stay one call per volume.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils import pool_options
from ansible_collections.kvmops.storage.plugins.module_utils.live import (
    POOL_STATES,
    SECRET_USAGES,
    stripped,
    volume_fields,
)

POOL_KEYS = ('name', 'uuid', 'type', 'state', 'active', 'persistent', 'autostart', 'autostart_not_running',
             'capacity', 'allocation', 'available', 'usage_percent', 'provisioned', 'overcommit_ratio',
             'thin_provisioned', 'target', 'source')
VOLUME_KEYS = ('name', 'pool', 'state', 'type', 'path', 'key', 'format', 'capacity', 'allocation', 'physical',
               'backing_store', 'mode', 'owner', 'group')
SECRET_KEYS = ('state', 'uuid', 'usage', 'usage_id', 'description', 'private', 'ephemeral')


def usage_percent(capacity, allocation):
    """Allocation as a percentage of capacity, one decimal; None when the capacity is 0 or unknown."""
    if not capacity:
        return None
    return round(100.0 * allocation / capacity, 1)


def overcommit_ratio(provisioned, capacity):
    """Provisioned bytes per byte of capacity, three decimals; None when either is unknown or the capacity 0."""
    if provisioned is None or not capacity:
        return None
    return round(float(provisioned) / capacity, 3)


def thin_provisioned(type_name):
    """Whether the backend of pool type ``type_name`` allocates its volumes as they are written; None for a
    type this collection does not manage."""
    # imported here: loads only the backend of the type asked for (the registry imports lazily)
    from ansible_collections.kvmops.storage.plugins.module_utils.backends import BACKENDS
    if type_name not in BACKENDS:
        return None
    return BACKENDS[type_name].thin_provisioned


def pool_record(root, info, active, persistent, autostart):
    """The record of a pool from its parsed XML, ``info()`` (state, capacity, allocation, available) and
    whether it is active, persistent and autostarted.

    ``provisioned`` and ``overcommit_ratio`` are None: they need the volumes, which add_provisioned counts
    when the caller has read them.
    """
    state, capacity, allocation, available = info
    autostart = bool(autostart) if persistent else False
    record = {
        'name': stripped(root.findtext('name')),
        'uuid': stripped(root.findtext('uuid')),
        'type': root.get('type'),
        'state': POOL_STATES.get(state, str(state)),
        'active': bool(active),
        'persistent': bool(persistent),
        'autostart': autostart,
        'autostart_not_running': autostart and not active,
        'capacity': int(capacity),
        'allocation': int(allocation),
        'available': int(available),
        'usage_percent': usage_percent(capacity, allocation),
        'provisioned': None,
        'overcommit_ratio': None,
        'thin_provisioned': thin_provisioned(root.get('type')),
    }
    record.update(pool_options.record(root))
    return record


def add_provisioned(record, volumes):
    """Set ``provisioned`` (the sum of the capacities of ``volumes``, volume records: every volume of the
    pool) and ``overcommit_ratio`` of a pool record."""
    record['provisioned'] = sum(vol['capacity'] or 0 for vol in volumes)
    record['overcommit_ratio'] = overcommit_ratio(record['provisioned'], record['capacity'])
    return record


def volume_record(root, pool_name):
    """The record of a volume from its parsed XML.

    ``physical`` is the ``<physical>`` element libvirt (3.0 and later) writes whenever it knows a non-zero
    physical size; without it, None.  virStorageVolGetInfoFlags(VIR_STORAGE_VOL_GET_PHYSICAL) is not asked
    instead: it returns the same field (0 when the XML has none), and libvirt before 3.0 has neither.
    """
    return volume_record_of(volume_fields(root), pool_name)


def volume_record_of(fields, pool_name):
    """volume_record from the fields live.volume_fields read already."""
    return {
        'name': fields['name'],
        'pool': pool_name,
        'state': 'present',
        'type': fields['type'],
        'path': fields['path'],
        'key': fields['key'],
        'format': fields['format'],
        'capacity': fields['capacity'],
        'allocation': fields['allocation'],
        'physical': fields['physical'],
        'backing_store': fields['backing_store'],
        'mode': fields['mode'],
        'owner': fields['owner'],
        'group': fields['group'],
    }


def secret_record(root, uuid=None):
    """The record of a secret from its parsed XML (never its value); ``uuid`` when the caller has read it."""
    usage = root.find('usage')
    usage_type = usage.get('type') if usage is not None else 'none'
    element = SECRET_USAGES.get(usage_type, (None, None))[1]
    usage_id = usage.findtext(element) if usage is not None and element else None
    return {
        'state': 'present',
        'uuid': uuid or stripped(root.findtext('uuid')),
        'usage': usage_type,
        'usage_id': usage_id,
        # libvirt keeps the text as it was given, blanks included
        'description': root.findtext('description') or None,
        'private': root.get('private') == 'yes',
        'ephemeral': root.get('ephemeral') == 'yes',
    }
