# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What libvirt reports, read into plain values: pool states and sources, the fields of a
volume's XML, the secret usage types.
Who uses storage (domains, overlays, pools naming a secret) is inuse.py's.

Shared by the managers (pool.py, volume.py, secret.py) and the facts.  Kept free of the
managers' code so that storage_facts, which only reads, loads none of it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu

# virStoragePoolState
POOL_STATES = {0: 'inactive', 1: 'building', 2: 'active', 3: 'degraded', 4: 'inaccessible'}

# secret usage type -> (virSecretUsageType, the element of <usage> that holds the usage id)
SECRET_USAGES = {
    'none': (0, None),
    'volume': (1, 'volume'),
    'ceph': (2, 'name'),
    'iscsi': (3, 'target'),
    'tls': (4, 'name'),
    'vtpm': (5, 'name'),
}
SECRET_USAGE_BY_NUMBER = dict((number, name) for name, (number, _el) in SECRET_USAGES.items())


def pool_source(root):
    """The <source> of a pool definition as a dict: hosts ("name" or "name:port"), devices, dir,
    format, initiator, name, adapter, auth (type, username and the secret's usage or uuid: the
    name of a libvirt secret, never its value). Keys are left out when the definition has none."""
    source = {}
    hosts = [(('[%s]:%s' if ':' in h.get('name', '') else '%s:%s') % (h.get('name'), h.get('port')))
             if h.get('port') else h.get('name') for h in xmlu.find_path(root, 'source/host')]
    if hosts:
        source['hosts'] = hosts
    devices = [d.get('path') for d in xmlu.find_path(root, 'source/device')]
    if devices:
        source['devices'] = devices
    for key, path, attr in (('dir', 'source/dir', 'path'), ('format', 'source/format', 'type'),
                            ('initiator', 'source/initiator/iqn', 'name')):
        found = xmlu.find_path(root, path)
        if found and found[0].get(attr):
            source[key] = found[0].get(attr)
    name = xmlu.find_path(root, 'source/name')
    if name and name[0].text:
        source['name'] = name[0].text
    adapter = xmlu.find_path(root, 'source/adapter')
    if adapter:
        source['adapter'] = dict(adapter[0].attrib)
    auth = xmlu.find_path(root, 'source/auth')
    if auth:
        secret = xmlu.find_path(auth[0], 'secret')
        source['auth'] = {'type': auth[0].get('type'), 'username': auth[0].get('username')}
        if secret:
            source['auth'].update(dict((k, v) for k, v in secret[0].attrib.items() if k in ('usage', 'uuid')))
    return source


def pool_target_permissions(root):
    """<target><permissions> as a dict (mode, owner, group, label), or None."""
    perms = xmlu.find_path(root, 'target/permissions')
    if not perms:
        return None
    return dict((xmlu.local_name(el), el.text) for el in perms[0] if isinstance(el.tag, str))


def size_of(el, option=None):
    """A <capacity>/<allocation> element in bytes; errors name ``option`` (an ``xml`` option) when given."""
    if el is None or el.text is None:
        return None
    text, unit = el.text.strip(), el.get('unit')
    if unit in (None, 'bytes', 'B', 'b') and text.isdigit():
        return int(text)  # what libvirt writes: no Decimal needed
    # imported here: libvirt writes bytes, only hand-written XML has other units
    from ansible_collections.kvmops.storage.plugins.module_utils.units import parse_size
    tag = xmlu.local_name(el)
    return parse_size('%s%s' % (text, unit or ''),
                      tag if option is None else '%s <%s>' % (option, tag), libvirt_units=True)


def stripped(text):
    """``text`` without surrounding blanks; None for no text or an empty one."""
    return text.strip() if text else None


def volume_fields(root):
    """The properties of a volume from its parsed live XML (no other libvirt call).

    Shared by the volume manager and the facts: name, type, key, path, format,
    capacity, allocation and physical in bytes (physical None when the XML has no
    ``<physical>``: libvirt writes it from 3.0 on, when it knows a size), backing_store ({path, format} or None),
    mode, owner, group.  One pass over the elements: the facts call this for
    every volume of a pool.
    """
    fields = {'name': None, 'type': root.get('type'), 'key': None, 'path': None, 'format': None,
              'capacity': None, 'allocation': None, 'physical': None, 'backing_store': None, 'mode': None, 'owner': None,
              'group': None}
    for child in root:
        tag = child.tag
        if tag in ('name', 'key'):
            fields[tag] = stripped(child.text)
        elif tag in ('capacity', 'allocation', 'physical'):
            fields[tag] = size_of(child)
        elif tag == 'target':
            _target_fields(child, fields)
        elif tag == 'backingStore':
            backing = {'path': None, 'format': None}
            for item in child:
                if item.tag == 'path':
                    backing['path'] = stripped(item.text)
                elif item.tag == 'format':
                    backing['format'] = item.get('type')
            if backing['path']:
                fields['backing_store'] = backing
    return fields


def _target_fields(target, fields):
    for item in target:
        tag = item.tag
        if tag == 'path':
            fields['path'] = stripped(item.text)
        elif tag == 'format':
            fields['format'] = item.get('type')
        elif tag == 'permissions':
            for perm in item:
                if perm.tag in ('mode', 'owner', 'group'):
                    fields[perm.tag] = stripped(perm.text)
