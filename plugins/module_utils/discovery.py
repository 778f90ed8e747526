# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pool source discovery (storage_facts ``discover``): libvirt's virConnectFindStoragePoolSources.

libvirtd asks the storage itself: ``showmount -e HOST`` (and gluster) for netfs, ``pvs`` for logical,
``iscsiadm`` sendtargets for iscsi, libiscsi for iscsi-direct, the gluster CLI for gluster.  Each source
it finds becomes a dict of the options a storage_pool task takes (``type``, ``source_host``,
``source_path``, ``source_dev``, ``source_name``, ``source_format``, ``source_initiator``), read with
pool_options.read (the reader of the options' table), so that a playbook can loop over them into storage_pool.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.connection import VIR_ERR_NO_SUPPORT, call
from ansible_collections.kvmops.storage.plugins.module_utils.errors import OperationError, ValidationError
from ansible_collections.kvmops.storage.plugins.module_utils import pool_options

# pool type -> (host: 'required' | 'optional' | None, port allowed, initiator: 'required' | 'optional' | None)
DISCOVERABLE = {
    'netfs': ('required', False, None),
    'gluster': ('required', False, None),
    'iscsi': ('required', True, 'optional'),
    'iscsi-direct': ('required', True, 'required'),
    'logical': (None, False, None),
}
DISCOVER_KEYS = ('type', 'host', 'port', 'initiator')


def discover_option_spec():
    """The ``discover`` option of storage_facts."""
    return dict(type='dict', options=dict(
        type=dict(type='str', required=True, choices=sorted(DISCOVERABLE)),
        host=dict(type='str'),
        port=dict(type='int'),
        initiator=dict(type='str'),
    ))


def _accepted():
    return ', '.join(sorted(DISCOVERABLE))


def parse_discover(value):
    """The ``discover`` option checked: (type, the srcSpec XML libvirt takes or None).  Every error names
    the option and what it accepts; nothing here asks libvirt."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationError('discover', 'discover must be a dict such as {type: netfs, host: nfs1}, not %r' % (value,))
    given = dict((key, item) for key, item in value.items() if item is not None)
    unknown = sorted(set(given) - set(DISCOVER_KEYS))
    if unknown:
        raise ValidationError('discover', 'discover: %s not known; accepted: %s'
                              % (', '.join(unknown), ', '.join(DISCOVER_KEYS)))
    type_name = given.get('type')
    if type_name is None:
        raise ValidationError('discover.type', 'discover.type is required: the pool type whose sources to find; '
                              'accepted: %s' % _accepted())
    if type_name not in DISCOVERABLE:
        raise ValidationError('discover.type', 'discover.type: libvirt cannot discover the sources of %r pools; it '
                              'can for: %s' % (type_name, _accepted()))
    host_rule, port_allowed, initiator_rule = DISCOVERABLE[type_name]
    host = given.get('host')
    if host is not None:
        host = str(host).strip()
        if not host:
            raise ValidationError('discover.host', 'discover.host is empty; give a host name or address')
    if host_rule is None and host is not None:
        raise ValidationError('discover.host', 'discover.host: %s discovery takes no host (libvirtd looks at the '
                              'physical volumes of the host it runs on)' % type_name)
    if host_rule == 'required' and host is None:
        raise ValidationError('discover.host', 'discover.host is required for %s discovery: the server to ask'
                              % type_name)
    port = given.get('port')
    if port is not None:
        if not port_allowed:
            raise ValidationError('discover.port', 'discover.port: %s discovery takes no port; a port is for iscsi '
                                  'and iscsi-direct' % type_name)
        if isinstance(port, bool) or not str(port).strip().isdigit() or not 0 < int(port) < 65536:
            raise ValidationError('discover.port', 'discover.port: %r is not a port number from 1 to 65535' % (port,))
        port = int(port)
    initiator = given.get('initiator')
    if initiator is not None and initiator_rule is None:
        raise ValidationError('discover.initiator', 'discover.initiator: %s discovery takes no initiator; it is for '
                              'iscsi and iscsi-direct' % type_name)
    if initiator is None and initiator_rule == 'required':
        raise ValidationError('discover.initiator', 'discover.initiator is required for %s discovery: the IQN this '
                              'host logs in with (libiscsi needs one), e.g. iqn.2026-11.com.example:hv1' % type_name)
    if host is None:
        return type_name, None
    source = xmlu.etree.Element('source')
    host_el = xmlu.etree.SubElement(source, 'host', name=host)
    if port is not None:
        host_el.set('port', str(port))
    if initiator is not None:
        iqn = xmlu.etree.SubElement(xmlu.etree.SubElement(source, 'initiator'), 'iqn')
        iqn.set('name', str(initiator).strip())
    return type_name, xmlu.etree.tostring(source, encoding='unicode')


def parse_sources(type_name, text):
    """libvirt's <sources> document as a list of storage_pool options, one dict per source."""
    if not text or not text.strip():
        return []
    root = xmlu.parse(text, option='the sources libvirt found')
    found = []
    for source in xmlu.find_path(root, 'source'):
        wrapper = xmlu.etree.Element('pool')
        wrapper.append(copy.deepcopy(source))
        entry = {'type': type_name}
        entry.update(pool_options.read(wrapper))
        found.append(entry)
    return found


def discover(conn, spec, answer=None):
    """The sources libvirt finds for ``spec`` (parse_discover's answer).  ``answer(action, func, *args)``
    makes the call (the facts give one with a deadline); errors name the ``discover`` option."""
    type_name, source_spec = spec
    action = 'discovering %s pool sources%s' % (type_name, ' on %s' % _host(source_spec) if source_spec else '')
    try:
        if answer is None:
            text = call(action, conn.findStoragePoolSources, type_name, source_spec, 0)
        else:
            text = answer(action, conn.findStoragePoolSources, type_name, source_spec, 0)
    except OperationError as exc:
        if exc.details.get('libvirt_code') == VIR_ERR_NO_SUPPORT or 'missing backend' in exc.msg:
            raise ValidationError('discover.type', 'discover.type: the libvirt on this host cannot discover %s pool '
                                  'sources (%s)' % (type_name, exc.msg))
        exc.reword('discover: %s' % exc.msg)
        raise
    return parse_sources(type_name, text)


def _host(source_spec):
    host = xmlu.etree.fromstring(source_spec).find('host')
    if host is None:
        return ''
    return host.get('name') + (':%s' % host.get('port') if host.get('port') else '')
