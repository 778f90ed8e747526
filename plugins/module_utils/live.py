# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What libvirt reports, read into plain values: pool states, the fields of a
volume's XML, the secret usage types.
Who uses storage (domains, overlays, pools naming a secret) is inuse.py's.

Shared by the managers (pool.py, volume.py, secret.py) and the facts.  Kept free of the
managers' code so that storage_facts, which only reads, loads none of it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

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


def image_directory(pool_xml, backend, is_local):
    """The directory of a pool that holds image files in it (dir, fs, netfs...), when the module runs on
    the hypervisor and so can look at it; None otherwise.  A pool refresh lists that directory."""
    if not (is_local and backend.volume_format_in_xml and 'raw' in backend.volume_formats):
        return None
    target = xmlu.find_path(pool_xml, 'target/path')
    return target[0].text.strip() if target and target[0].text and target[0].text.strip() else None


def directory_problem(path):
    """None when ``path`` answers as a pool refresh needs it (libvirt opens and reads the directory and
    asks statvfs for its file system's sizes; a failure of either fails the refresh, and libvirt stops
    the pool), else what is wrong.  On a network file system whose server does not answer this blocks,
    as the refresh would: call it through deadline.Runner."""
    try:
        if not os.path.isdir(path):
            return 'directory %s does not exist' % path if not os.path.lexists(path) else '%s is not a directory' % path
        with os.scandir(path) as entries:
            next(iter(entries), None)
        os.statvfs(path)
    except OSError as exc:
        return '%s: %s' % (path, exc.strerror or exc)
    return None


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
