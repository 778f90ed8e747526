"""Fakes of libvirt's virConnect / virStoragePool / virStorageVol / virDomain / virStream for volume tests.

Volumes are kept as XML strings, as ``virsh vol-dumpxml`` prints them, and
every call is recorded in ``conn.calls`` as ``(method, args)``.  Errors are
real ``libvirt.libvirtError`` instances with libvirt's error codes (see
``fakes.libvirt_error``).  ``conn.fail_on`` maps ``(method, volume name)``
to the exception that call raises, e.g. ``{('createXML', 'b'): exc}``, or to a list of exceptions
raised by that many calls in turn (then the call succeeds); ``('refresh', pool name)`` makes a
refresh fail.  A refresh counts as a mutation: libvirt stops a pool whose refresh fails.
"""

import libvirt
from lxml import etree

from fakes import libvirt_error
from ansible_collections.kvmops.storage.plugins.module_utils.volume import item_options, volume_argument_spec

MIB = 1024 * 1024
GIB = 1024 * MIB
DIR_PATH = '/var/lib/libvirt/images'
VOLUME_MUTATING = ('createXML', 'createXMLFrom', 'resize', 'wipePattern', 'vol.delete', 'upload', 'refresh')


def volume_xml(name, capacity, fmt='raw', path=None, allocation=0, backing=None, vol_type='file',
               mode='0600', owner='0', group='0'):
    """A volume as ``virsh vol-dumpxml`` prints it (``fmt=None``: no <format>, as for logical volumes)."""
    path = path or '%s/%s' % (DIR_PATH, name)
    fmt_el = "<format type='%s'/>" % fmt if fmt else ''
    backing_el = ''
    if backing:
        backing_el = "<backingStore><path>%s</path><format type='qcow2'/></backingStore>" % backing
    return ("<volume type='%s'><name>%s</name><key>%s</key><source/>"
            "<capacity unit='bytes'>%d</capacity><allocation unit='bytes'>%d</allocation>"
            "<target><path>%s</path>%s<permissions><mode>%s</mode><owner>%s</owner><group>%s</group>"
            "</permissions></target>%s</volume>"
            % (vol_type, name, path, capacity, allocation, path, fmt_el, mode, owner, group, backing_el))


def logical_pool_xml(name='vg0'):
    return """<pool type='logical'>
  <name>%s</name>
  <uuid>0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0</uuid>
  <source><device path='/dev/sdb'/><name>%s</name><format type='lvm2'/></source>
  <target><path>/dev/%s</path></target>
</pool>
""" % (name, name, name)


def domain_xml(name, *disk_sources):
    """A domain whose disks have the given <source> attributes (dicts)."""
    disks = ''.join('<disk type="file" device="disk"><source %s/><target dev="vd%s"/></disk>'
                    % (' '.join('%s="%s"' % item for item in sorted(attrs.items())), chr(ord('a') + index))
                    for index, attrs in enumerate(disk_sources))
    return '<domain type="kvm"><name>%s</name><devices>%s</devices></domain>' % (name, disks)


def volume_params(**given):
    """Module params as AnsibleModule hands them over: every option present, defaults applied, and
    every suboption of each ``volumes`` item present (None when not given)."""
    spec = volume_argument_spec()
    params = dict((key, option.get('default')) for key, option in spec.items())
    params['uri'] = 'qemu:///system'
    unknown = set(given) - set(params)
    assert not unknown, 'unknown option(s) %s' % sorted(unknown)
    params.update(given)
    if params.get('volumes') is not None:
        params['volumes'] = [_fill_item(item) for item in params['volumes']]
    return params


def _fill_item(item):
    options = item_options()
    unknown = set(item) - set(options)
    assert not unknown, 'unknown item option(s) %s' % sorted(unknown)
    filled = dict((key, None) for key in options)
    for key, value in item.items():
        sub = options[key].get('options')
        if sub and isinstance(value, dict):
            value = dict(dict((name, None) for name in sub), **value)
        filled[key] = value
    return filled


class FakeStream:
    def __init__(self, conn):
        self.conn = conn
        self.vol = None
        self.direction = None

    def sendAll(self, handler, opaque):
        self.conn.record('stream.sendAll', self.vol.name())
        self.vol.pool.conn.maybe_fail('sendAll', self.vol.name())
        data = bytearray()
        while True:
            chunk = handler(self, 65536, opaque)
            if not chunk:
                break
            data.extend(chunk)
        self.vol.content = bytes(data)

    def recvAll(self, handler, opaque):
        self.conn.record('stream.recvAll', self.vol.name())
        handler(self, self.vol.content, opaque)

    def finish(self):
        self.conn.record('stream.finish')

    def abort(self):
        self.conn.record('stream.abort')


class FakeVol:
    """virStorageVol over an XML string."""

    def __init__(self, pool, xml):
        self.pool = pool
        self.xml = xml
        self.content = b''

    def _root(self):
        return etree.fromstring(self.xml.encode())

    def name(self):
        return self._root().findtext('name')

    def path(self):
        return self._root().findtext('target/path')

    def XMLDesc(self, flags=0):
        self.pool.conn.record('vol.XMLDesc', self.name(), flags)
        return self.xml

    def info(self):
        root = self._root()
        return [0, int(root.findtext('capacity')), int(root.findtext('allocation') or 0)]

    def delete(self, flags=0):
        self.pool.conn.record('vol.delete', self.name(), flags)
        self.pool.conn.maybe_fail('vol.delete', self.name())
        del self.pool.volumes[self.name()]

    def resize(self, capacity, flags=0):
        self.pool.conn.record('resize', self.name(), capacity, flags)
        self.pool.conn.maybe_fail('resize', self.name())
        root = self._root()
        root.find('capacity').text = str(capacity)
        self.xml = etree.tostring(root, encoding='unicode')

    def wipePattern(self, algorithm, flags=0):
        self.pool.conn.record('wipePattern', self.name(), algorithm, flags)
        self.pool.conn.maybe_fail('wipePattern', self.name())

    def upload(self, stream, offset, length, flags=0):
        self.pool.conn.record('upload', self.name(), offset, length, flags)
        self.pool.conn.maybe_fail('upload', self.name())
        stream.vol = self

    def download(self, stream, offset, length, flags=0):
        self.pool.conn.record('download', self.name(), offset, length, flags)
        stream.vol = self


class FakeVolPool:
    """virStoragePool with volumes by name; ``hidden`` volumes show up only after a refresh
    (files made in the pool's directory outside libvirt)."""

    def __init__(self, conn, xml, active=True):
        self.conn = conn
        self.xml = xml
        self.active = active
        self.volumes = {}
        self.hidden = {}

    def name(self):
        return etree.fromstring(self.xml.encode()).findtext('name')

    def target_path(self):
        return etree.fromstring(self.xml.encode()).findtext('target/path')

    def add(self, xml, hidden=False):
        vol = FakeVol(self, xml)
        (self.hidden if hidden else self.volumes)[vol.name()] = vol
        return vol

    def XMLDesc(self, flags=0):
        self.conn.record('pool.XMLDesc', flags)
        return self.xml

    def isActive(self):
        return 1 if self.active else 0

    def listAllVolumes(self, flags=0):
        self.conn.record('listAllVolumes', self.name())
        if not self.active:
            raise libvirt_error('storage pool is not active', libvirt.VIR_ERR_OPERATION_INVALID)
        return list(self.volumes.values())

    def refresh(self, flags=0):
        self.conn.record('refresh', self.name())
        self.conn.maybe_fail('refresh', self.name())
        self.volumes.update(self.hidden)
        self.hidden = {}

    def storageVolLookupByName(self, name):
        if name not in self.volumes:
            raise libvirt_error('Storage volume not found: no storage vol with matching name %r' % name,
                                libvirt.VIR_ERR_NO_STORAGE_VOL)
        return self.volumes[name]

    def _store(self, xml):
        """What libvirt keeps of a new volume: the given XML with key and target path filled in."""
        root = etree.fromstring(xml.encode())
        name = root.findtext('name')
        path = '%s/%s' % (self.target_path(), name)
        target = root.find('target')
        if target is None:
            target = etree.SubElement(root, 'target')
        if target.find('path') is None:
            etree.SubElement(target, 'path').text = path
        if root.find('key') is None:
            etree.SubElement(root, 'key').text = path
        return self.add(etree.tostring(root, encoding='unicode'))

    def createXML(self, xml, flags=0):
        name = etree.fromstring(xml.encode()).findtext('name')
        self.conn.record('createXML', name, xml, flags)
        left = self.conn.leave_on_fail.get(name)
        try:
            self.conn.maybe_fail('createXML', name)
        except libvirt.libvirtError:
            if left is not None:
                self.add(left)
            raise
        if name in self.volumes:
            raise libvirt_error('storage volume name %r already in use' % name,
                                libvirt.VIR_ERR_STORAGE_VOL_EXIST)
        return self._store(xml)

    def createXMLFrom(self, xml, source, flags=0):
        name = etree.fromstring(xml.encode()).findtext('name')
        self.conn.record('createXMLFrom', name, source.name(), flags)
        self.conn.maybe_fail('createXMLFrom', name)
        return self._store(xml)


class FakeDomain:
    def __init__(self, name, xml):
        self._name = name
        self.xml = xml

    def name(self):
        return self._name

    def XMLDesc(self, flags=0):
        return self.xml


class FakeVolConn:
    """virConnect with storage pools (by name) and domains."""

    def __init__(self):
        self.pools = {}
        self.domains = []
        self.calls = []
        self.fail_on = {}
        self.leave_on_fail = {}

    def record(self, method, *args):
        self.calls.append((method, args))

    def maybe_fail(self, method, name):
        exc = self.fail_on.get((method, name))
        if isinstance(exc, list):
            exc = exc.pop(0) if exc else None
        if exc is not None:
            raise exc

    def methods(self):
        return [method for method, _args in self.calls]

    def mutations(self):
        return [method for method, _args in self.calls if method in VOLUME_MUTATING]

    def add_pool(self, xml, **kwargs):
        pool = FakeVolPool(self, xml, **kwargs)
        self.pools[pool.name()] = pool
        return pool

    def add_domain(self, name, *disk_sources):
        self.domains.append(FakeDomain(name, domain_xml(name, *disk_sources)))

    def storagePoolLookupByName(self, name):
        self.record('storagePoolLookupByName', name)
        if name not in self.pools:
            raise libvirt_error("Storage pool not found: no storage pool with matching name '%s'" % name,
                                libvirt.VIR_ERR_NO_STORAGE_POOL)
        return self.pools[name]

    def storageVolLookupByPath(self, path):
        self.record('storageVolLookupByPath', path)
        for pool in self.pools.values():
            for vol in pool.volumes.values():
                if vol.path() == path:
                    return vol
        raise libvirt_error('Storage volume not found: no storage vol with matching path %r' % path,
                            libvirt.VIR_ERR_NO_STORAGE_VOL)

    def listAllDomains(self, flags=0):
        self.record('listAllDomains', flags)
        return list(self.domains)

    def newStream(self, flags=0):
        self.record('newStream', flags)
        return FakeStream(self)
