# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The typed options of storage_pool, each declared once: its argument spec, where it lives in the
pool XML, and where it shows in the pool record.  The module's argument spec, the XML writer
(backends/base.py), the reader of a definition into options (discovery) and the ``target`` and
``source`` of the pool record (records.py) are all made from POOL_OPTIONS, so that what is
written and what is read back cannot drift apart.

An entry's ``path`` is a slash path of element names below ``<pool>`` (``fs:`` names an element of
libvirt's fs namespace); ``attr`` says where the value is on that element: None for its text, a
name for one attribute, ``'*'`` for all of them (a dict), a tuple for a value split over several
(``host`` ``name`` and ``port``).  A ``list`` option has one element per item, the others one
element that several options may share (``<auth type= username=>``).  ``write`` turns a task's
value into the XML value (as libvirt stores it, so that a second run sees no change; None leaves
the element out); ``read`` turns the XML value back into a task's value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import grp
import os
import pwd
import re

from ansible_collections.kvmops.storage.plugins.module_utils import canon
from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError

FS_NS = 'http://libvirt.org/schemas/storagepool/fs/1.0'
NAMESPACES = {'fs': FS_NS}
ADAPTER_KEYS = ('type', 'name', 'parent', 'parent_wwnn', 'parent_wwpn', 'parent_fabric_wwn',
                'wwnn', 'wwpn', 'managed', 'parentaddr')
# <parentaddr><address>: the PCI address of a scsi_host adapter, as libvirt prints each part
PCI_PARTS = (('domain', '0x%04x', 0xffff), ('bus', '0x%02x', 0xff), ('slot', '0x%02x', 0x1f), ('function', '0x%x', 7))

PoolOption = collections.namedtuple('PoolOption', ('name', 'spec', 'path', 'attr', 'record', 'write', 'read'))


def parse_host(item, option='source_host'):
    """``host``, ``host:port``, ``[v6addr]:port`` -> (name, port or None)."""
    text = str(item).strip()
    if not text:
        raise ValidationError(option, '%s: an empty host name is not allowed' % option)
    if text.startswith('['):
        end = text.find(']')
        if end < 0:
            raise ValidationError(option, '%s: %r has an unclosed "["' % (option, item))
        name, rest = text[1:end], text[end + 1:]
        port = rest[1:] if rest.startswith(':') else None
    elif text.count(':') == 1:
        name, port = text.split(':')
    else:
        name, port = text, None
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValidationError(option, '%s: %r: the port must be a number from 1 to 65535' % (option, item))
    return name, (int(port) if port is not None else None)


def host_text(name, port):
    """A <host name= port=> as a task writes it: ``name``, ``name:port``, ``[v6addr]:port``."""
    if not port:
        return name
    return ('[%s]:%s' if ':' in (name or '') else '%s:%s') % (name, port)


def id_number(value, option, lookup):
    text = str(value).strip()
    if re.match(r'^-?[0-9]+$', text):
        return int(text)
    try:
        return lookup(text)
    except KeyError:
        raise ValidationError(option, '%s: %r is neither a number nor a name known on the host running the module'
                              % (option, value))


def _owner(value):
    owner = id_number(value, 'target_owner', lambda n: pwd.getpwnam(n).pw_uid)
    return None if owner == -1 else owner  # -1 leaves the owner as libvirt has it (libvirt does not store -1)


def _group(value):
    group = id_number(value, 'target_group', lambda n: grp.getgrnam(n).gr_gid)
    return None if group == -1 else group


def _number(value, option, highest):
    text = str(value).strip().lower()
    try:
        number = int(text, 16) if text.startswith('0x') else int(text)
    except ValueError:
        number = -1
    if isinstance(value, bool) or not 0 <= number <= highest:
        raise ValidationError(option, '%s: %r is not a number from 0 to %d (decimal or 0x hex)'
                              % (option, value, highest))
    return number


def pci_address(value, option='source_adapter.parentaddr.address'):
    """A PCI address - a dict of domain, bus, slot, function or the text lspci and sysfs print
    (``0000:00:05.0``) - as the attributes libvirt writes (``0x0000``, ``0x00``, ``0x05``, ``0x0``)."""
    if isinstance(value, str):
        found = re.match(r'^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$', value.strip())
        if not found:
            raise ValidationError(option, '%s: %r is not a PCI address such as 0000:00:05.0' % (option, value))
        value = dict(zip(('domain', 'bus', 'slot', 'function'),
                         ['0x' + (part or '0') for part in found.groups()]))
    if not isinstance(value, dict) or set(value) != set(part for part, _fmt, _top in PCI_PARTS):
        raise ValidationError(option, '%s must be a PCI address: 0000:00:05.0, or a dict of domain, bus, slot and '
                              'function' % option)
    return dict((part, fmt % _number(value[part], '%s.%s' % (option, part), top)) for part, fmt, top in PCI_PARTS)


def _adapter(value):
    """source_adapter as the attributes of <adapter> and, for ``parentaddr``, its child elements."""
    written = dict((key, ('yes' if value[key] else 'no') if isinstance(value[key], bool) else str(value[key]))
                   for key in ADAPTER_KEYS if value.get(key) is not None and key != 'parentaddr')
    parent = value.get('parentaddr')
    if parent is not None:
        option = 'source_adapter.parentaddr'
        if not isinstance(parent, dict) or set(parent) != {'unique_id', 'address'}:
            raise ValidationError(option, '%s must be a dict of unique_id (/sys/class/scsi_host/hostN/unique_id) and '
                                  'address (the PCI address of the adapter)' % option)
        written['parentaddr'] = {'unique_id': str(_number(parent['unique_id'], option + '.unique_id', 2 ** 31)),
                                 'address': pci_address(parent['address'])}
    return written


_TEXT = dict(type='str')
_LIST = dict(type='list', elements='str')

POOL_OPTIONS = (
    PoolOption('target', dict(type='path'), 'target/path', None, ('target', 'path'), os.path.normpath, None),
    PoolOption('target_mode', dict(type='raw'), 'target/permissions/mode', None, ('target', 'permissions', 'mode'),
               lambda v: canon.format_mode(canon.parse_mode(v, 'target_mode', '0711')), None),
    PoolOption('target_owner', dict(type='raw'), 'target/permissions/owner', None,
               ('target', 'permissions', 'owner'), _owner, None),
    PoolOption('target_group', dict(type='raw'), 'target/permissions/group', None,
               ('target', 'permissions', 'group'), _group, None),
    PoolOption('target_label', _TEXT, 'target/permissions/label', None, ('target', 'permissions', 'label'), None,
               None),
    PoolOption('source_host', _LIST, 'source/host', ('name', 'port'), ('source', 'hosts'), parse_host,
               lambda attrs: host_text(*attrs)),
    PoolOption('source_dev', _LIST, 'source/device', 'path', ('source', 'devices'), None, None),
    PoolOption('source_path', _TEXT, 'source/dir', 'path', ('source', 'dir'), canon.sanitize_path, None),
    PoolOption('source_adapter', dict(type='dict'), 'source/adapter', '*', ('source', 'adapter'), _adapter, None),
    PoolOption('source_name', _TEXT, 'source/name', None, ('source', 'name'), None, None),
    PoolOption('source_format', _TEXT, 'source/format', 'type', ('source', 'format'), None, None),
    PoolOption('source_initiator', _TEXT, 'source/initiator/iqn', 'name', ('source', 'initiator'), None, None),
    PoolOption('auth_type', _TEXT, 'source/auth', 'type', ('source', 'auth', 'type'), None, None),
    PoolOption('auth_username', _TEXT, 'source/auth', 'username', ('source', 'auth', 'username'), None, None),
    # names of libvirt secrets, not secret values
    PoolOption('secret_usage', dict(type='str', no_log=False), 'source/auth/secret', 'usage',
               ('source', 'auth', 'usage'), None, None),
    PoolOption('secret_uuid', dict(type='str', no_log=False), 'source/auth/secret', 'uuid',
               ('source', 'auth', 'uuid'), lambda v: canon.uuid_text(v, 'secret_uuid'), None),
    PoolOption('mount_opts', _LIST, 'fs:mount_opts/fs:option', 'name', ('source', 'mount_opts'), None, None),
)
BY_NAME = dict((option.name, option) for option in POOL_OPTIONS)
TYPED_OPTIONS = tuple(option.name for option in POOL_OPTIONS)
# the elements directly below <pool> that the options live in, in the order they are written
CONTAINERS = ('source', 'target', 'fs:mount_opts')


def argument_spec():
    """The typed options' part of storage_pool's argument spec."""
    return dict((option.name, dict(option.spec)) for option in POOL_OPTIONS)


def is_list(option):
    return option.spec['type'] == 'list'


def _tag(part):
    prefix, _sep, name = part.rpartition(':')
    return '{%s}%s' % (NAMESPACES[prefix], name) if prefix else name


def _child(parent, part, new=False):
    if not new:
        for child in parent:
            if isinstance(child.tag, str) and xmlu.local_name(child) == part:
                return child
    return xmlu.sub(parent, _tag(part))


def _set(el, attr, value):
    if attr is None:
        el.text = str(value)
    elif attr == '*':
        _set_tree(el, value)
    elif isinstance(attr, tuple):
        for key, item in zip(attr, value):
            if item is not None:
                el.set(key, str(item))
    else:
        el.set(attr, str(value))


def _set_tree(el, value):
    """A dict as an element: text values as attributes, dicts as child elements named by their key."""
    for key, item in value.items():
        if isinstance(item, dict):
            _set_tree(xmlu.sub(el, key), item)
        else:
            el.set(key, item)


def _tree(el):
    value = dict(el.attrib)
    for child in el:
        if isinstance(child.tag, str):
            value[xmlu.local_name(child)] = _tree(child)
    return value


def write(root, values):
    """Write the options in ``values`` (name -> a task's value; None: not given) into the pool element
    ``root``: the containers (<source>, <target>...) in CONTAINERS order, the elements in each in the
    table's order."""
    converted = []
    for option in POOL_OPTIONS:
        given = values.get(option.name)
        if given is None:
            continue
        items = [option.write(item) if option.write else item for item in (given if is_list(option) else [given])]
        items = [item for item in items if item is not None]
        if items or (is_list(option) and not given):
            # a given empty list writes the elements above its items: an empty <fs:mount_opts> replaces the
            # live one (a list is replaced as a whole)
            converted.append((option, items))
    needed = set(option.path.split('/')[0] for option, _items in converted)
    made = dict((name, _child(root, name)) for name in CONTAINERS if name in needed)
    for option, items in converted:
        parts = option.path.split('/')
        parent = made[parts[0]]
        for part in parts[1:-1]:
            parent = _child(parent, part)
        for item in items:
            _set(_child(parent, parts[-1], new=is_list(option)), option.attr, item)
    return root


def _value(option, el):
    if option.attr is None:
        value = el.text.strip() if el.text and el.text.strip() else None
    elif option.attr == '*':
        value = _tree(el) or None
    elif isinstance(option.attr, tuple):
        value = tuple(el.get(key) for key in option.attr) if el.get(option.attr[0]) else None
    else:
        value = el.get(option.attr) or None
    if value is not None and option.read:
        value = option.read(value)
    return value


def read(root):
    """The typed options a task would give to describe the definition ``root`` (the options it has)."""
    found = {}
    for option in POOL_OPTIONS:
        values = [value for value in (_value(option, el) for el in xmlu.find_path(root, option.path))
                  if value is not None]
        if values:
            found[option.name] = values if is_list(option) else values[0]
    return found


def record(root):
    """The ``target`` and ``source`` of a pool record: every option's value at its record key.
    ``target`` always has ``path`` and ``permissions`` (None when the definition has none)."""
    result = {'target': {'path': None, 'permissions': None}, 'source': {}}
    for name, value in read(root).items():
        keys = BY_NAME[name].record
        place = result
        for key in keys[:-1]:
            if place.get(key) is None:
                place[key] = {}
            place = place[key]
        place[keys[-1]] = value
    return result
