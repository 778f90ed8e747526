"""One fake of the libvirt binding for the unit tests: a virConnect with storage pools, volumes,
secrets and domains, kept as XML strings.

Every call is recorded in ``conn.calls`` as ``(method, args)``.  Calls on a pool or a volume
record that object's name first (``('build', ('images', flags))``, ``('resize', ('web1', size,
flags))``); calls on a secret record its uuid first.  ``conn.mutations()`` lists the calls that
change something, a pool ``refresh`` included: in libvirt a refresh that fails stops the pool,
so check mode must not make one either.

Errors are real ``libvirt.libvirtError`` instances with the error code and domain libvirt uses
(``libvirt_error``).  ``conn.fail_on`` maps a method, or a ``(method, object name)`` pair, to the
exception that call raises; a list of exceptions fails only the first calls, one each.

Where the managers depend on it the fake behaves as libvirt 9 does; tests/unit/test_fake_contract.py
runs the same scenarios on this fake and on libvirt itself:
- a defined pool is inactive; define fills in uuid, capacity/allocation/available and <source>;
  redefining a pool needs its uuid (a definition without one is refused);
  a transient pool disappears when it is stopped; ``delete`` and ``undefine`` need an inactive
  pool; a transient pool has no autostart; listing or refreshing the volumes of an inactive pool
  is VIR_ERR_OPERATION_INVALID;
- a new volume gets its key and target path; a second volume of that name is refused;
- secrets (rules of libvirt 9.0 measured on libvirtd): one secret per usage, the usage of an
  existing secret cannot change, private cannot go from yes to no, a private secret's value cannot
  be read (VIR_ERR_INVALID_SECRET), a value never set is VIR_ERR_NO_SECRET, an empty value is refused.
"""

import uuid as uuidlib

import libvirt
from lxml import etree

from ansible_collections.kvmops.storage.plugins.module_utils.backends import base
from ansible_collections.kvmops.storage.plugins.module_utils.pool_options import TYPED_OPTIONS
from ansible_collections.kvmops.storage.plugins.module_utils.pool import pool_argument_spec
from ansible_collections.kvmops.storage.plugins.module_utils.volume import item_options, volume_argument_spec

MIB = 1024 * 1024
GIB = 1024 * MIB
DIR_PATH = '/var/lib/libvirt/images'

# recorded method -> the name mutations() reports
MUTATING = {
    'storagePoolDefineXML': 'define', 'create': 'create', 'destroy': 'destroy', 'build': 'build',
    'delete': 'delete', 'undefine': 'undefine', 'setAutostart': 'setAutostart', 'refresh': 'refresh',
    'createXML': 'createXML', 'createXMLFrom': 'createXMLFrom', 'resize': 'resize',
    'wipePattern': 'wipePattern', 'vol.delete': 'vol.delete', 'upload': 'upload',
    'secretDefineXML': 'secretDefineXML', 'setValue': 'setValue', 'secret.undefine': 'secret.undefine',
    'defineXML': 'domain.define', 'domain.undefine': 'domain.undefine',
}

USAGE_NUMBER = {'volume': libvirt.VIR_SECRET_USAGE_TYPE_VOLUME, 'ceph': libvirt.VIR_SECRET_USAGE_TYPE_CEPH,
                'iscsi': libvirt.VIR_SECRET_USAGE_TYPE_ISCSI, 'tls': libvirt.VIR_SECRET_USAGE_TYPE_TLS,
                'vtpm': libvirt.VIR_SECRET_USAGE_TYPE_VTPM}
USAGE_ELEMENT = {'volume': 'volume', 'ceph': 'name', 'iscsi': 'target', 'tls': 'name', 'vtpm': 'name'}

# the units libvirt takes in <capacity unit=...> and <allocation unit=...>
_UNITS = {'b': 1, 'bytes': 1}
for _index, _letter in enumerate('KMGTPE'):
    _UNITS.update({_letter: 1024 ** (_index + 1), _letter + 'iB': 1024 ** (_index + 1), _letter + 'B': 1000 ** (_index + 1)})

# the volume type libvirt gives the volumes of a pool type
_VOLUME_TYPE = {'logical': 'block', 'disk': 'block', 'iscsi': 'block', 'iscsi-direct': 'network', 'scsi': 'block',
                'mpath': 'block', 'zfs': 'block', 'rbd': 'network', 'gluster': 'network'}

_ERROR_DOMAIN = {libvirt.VIR_ERR_NO_SECRET: libvirt.VIR_FROM_SECRET,
                 libvirt.VIR_ERR_INVALID_SECRET: libvirt.VIR_FROM_SECRET,
                 libvirt.VIR_ERR_NO_DOMAIN: libvirt.VIR_FROM_DOMAIN}


def refuse_host_probes(monkeypatch):
    """Unit tests never look at the host: a probe that is not faked fails the test.  Returns the refusing
    function, for a test module that refuses more of a backend's host calls."""
    def refuse(*args, **kwargs):
        raise AssertionError('a unit test ran a host probe: %r %r' % (args, kwargs))
    monkeypatch.setattr(base, 'run_probe', refuse)
    monkeypatch.setattr(base.PoolBackend, 'probe_dir', staticmethod(refuse))
    return refuse


def libvirt_error(message, code, domain=None):
    """A real libvirt.libvirtError whose get_error_code() is ``code`` (get_error_domain(): ``domain``,
    by default the one libvirt uses for that code: storage, secret or domain)."""
    exc = libvirt.libvirtError(message)
    if domain is None:
        domain = _ERROR_DOMAIN.get(code, libvirt.VIR_FROM_STORAGE)
    # (code, domain, message, level, str1, str2, str3, int1, int2) as virGetLastError returns it
    exc.err = (code, domain, message, libvirt.VIR_ERR_ERROR, None, None, None, 0, 0)
    return exc


def _root(xml):
    return etree.fromstring(xml.encode() if isinstance(xml, str) else xml)


def _text(root):
    return etree.tostring(root, encoding='unicode')


# ---- module parameters ---------------------------------------------------------------------------

def pool_params(**given):
    """storage_pool params as AnsibleModule hands them over: every option present, defaults applied."""
    params = dict((key, spec.get('default')) for key, spec in pool_argument_spec().items())
    params['uri'] = 'qemu:///system'
    for key in TYPED_OPTIONS:
        assert key in params, key
    unknown = set(given) - set(params)
    assert not unknown, 'unknown option(s) %s' % sorted(unknown)
    params.update(given)
    return params


def volume_params(**given):
    """storage_volume params as AnsibleModule hands them over: every option present, defaults
    applied, and every suboption of each ``volumes`` item present (None when not given)."""
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


# ---- XML as libvirt prints it ----------------------------------------------------------------------

def dir_pool_xml(name='images', path=DIR_PATH, mode='0755', uuid='9f5a4c1e-2d3b-4a6f-8e7d-1c2b3a4d5e6f',
                 capacity=107374182400, allocation=21474836480, available=85899345920):
    """A dir pool's persistent definition as ``virsh pool-dumpxml --inactive`` prints it."""
    return """<pool type='dir'>
  <name>%s</name>
  <uuid>%s</uuid>
  <capacity unit='bytes'>%d</capacity>
  <allocation unit='bytes'>%d</allocation>
  <available unit='bytes'>%d</available>
  <source>
  </source>
  <target>
    <path>%s</path>
    <permissions>
      <mode>%s</mode>
      <owner>0</owner>
      <group>0</group>
    </permissions>
  </target>
</pool>
""" % (name, uuid, capacity, allocation, available, path, mode)


def rbd_pool_xml(name='ceph-vms', secret='<secret uuid="2ec115d7-3a88-3ceb-bc12-0ac909a6fd87"/>'):
    return """<pool type='rbd'>
  <name>%s</name>
  <uuid>0a0b0c0d-1111-2222-3333-444455556666</uuid>
  <capacity unit='bytes'>1000</capacity>
  <allocation unit='bytes'>10</allocation>
  <available unit='bytes'>990</available>
  <source>
    <host name='mon1.example.com' port='6789'/>
    <host name='mon2.example.com' port='6789'/>
    <name>vms</name>
    <auth type='ceph' username='libvirt'>
      %s
    </auth>
  </source>
</pool>
""" % (name, secret)


def logical_pool_xml(name='vg0'):
    return """<pool type='logical'>
  <name>%s</name>
  <uuid>0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0</uuid>
  <source><device path='/dev/sdb'/><name>%s</name><format type='lvm2'/></source>
  <target><path>/dev/%s</path></target>
</pool>
""" % (name, name, name)


def volume_xml(name, capacity, fmt='raw', path=None, allocation=0, backing=None, vol_type='file',
               mode='0600', owner='0', group='0', physical=None, mtime=None):
    """A volume as ``virsh vol-dumpxml`` prints it (``fmt=None``: no <format>, as for logical volumes;
    ``physical``: the <physical> libvirt 3.0 and later writes when it knows a size; ``mtime``: the
    <timestamps> of a file volume)."""
    path = path or '%s/%s' % (DIR_PATH, name)
    physical_el = "<physical unit='bytes'>%d</physical>" % physical if physical else ''
    fmt_el = "<format type='%s'/>" % fmt if fmt else ''
    backing_el = ''
    if backing:
        backing_el = "<backingStore><path>%s</path><format type='qcow2'/></backingStore>" % backing
    return ("<volume type='%s'><name>%s</name><key>%s</key><source/>"
            "<capacity unit='bytes'>%d</capacity><allocation unit='bytes'>%d</allocation>%s"
            "<target><path>%s</path>%s<permissions><mode>%s</mode><owner>%s</owner><group>%s</group>"
            "</permissions>%s</target>%s</volume>"
            % (vol_type, name, path, capacity, allocation, physical_el, path, fmt_el, mode, owner, group,
               "<timestamps><mtime>%s</mtime></timestamps>" % mtime if mtime else '', backing_el))


def domain_xml(name, *disk_sources):
    """A domain whose disks have the given <source> attributes (dicts)."""
    disks = ''.join('<disk type="file" device="disk"><source %s/><target dev="vd%s"/></disk>'
                    % (' '.join('%s="%s"' % item for item in sorted(attrs.items())), chr(ord('a') + index))
                    for index, attrs in enumerate(disk_sources))
    return '<domain type="kvm"><name>%s</name><devices>%s</devices></domain>' % (name, disks)


def secret_xml(usage=None, usage_id=None, private=False, ephemeral=False, description=None, uuid=None):
    """A secret definition (no <uuid> when ``uuid`` is None)."""
    xml = "<secret ephemeral='%s' private='%s'>\n" % ('yes' if ephemeral else 'no', 'yes' if private else 'no')
    if uuid:
        xml += '  <uuid>%s</uuid>\n' % uuid
    if description:
        xml += '  <description>%s</description>\n' % description
    if usage:
        xml += "  <usage type='%s'>\n    <%s>%s</%s>\n  </usage>\n" % (
            usage, USAGE_ELEMENT[usage], usage_id, USAGE_ELEMENT[usage])
    return xml + '</secret>\n'


# ---- streams, volumes, pools, secrets, domains ---------------------------------------------------------

class FakeStream:
    def __init__(self, conn):
        self.conn = conn
        self.vol = None

    def sendAll(self, handler, opaque):
        self.conn.record('stream.sendAll', self.vol.name())
        self.conn.maybe_fail('sendAll', self.vol.name())
        data = bytearray()
        while True:
            chunk = handler(self, 65536, opaque)
            if not chunk:
                break
            data.extend(chunk)
        self.vol.content = bytes(data)

    def sparseSendAll(self, handler, hole_handler, skip_handler, opaque):
        """libvirt-python's loop: a hole section is sent with sendHole and skipped, a data section is
        read at most 262120 bytes at a time. The holes sent are in ``holes`` as (offset, length)."""
        self.conn.record('stream.sparseSendAll', self.vol.name())
        self.conn.maybe_fail('sendAll', self.vol.name())
        data = bytearray()
        self.holes = []
        while True:
            in_data, length = hole_handler(self, opaque)
            if not in_data and length > 0:
                self.holes.append((len(data), length))
                data.extend(bytes(length))
                skip_handler(self, length, opaque)
                continue
            chunk = handler(self, min(262120, length), opaque)
            if not chunk:
                break
            assert len(chunk) <= length, 'more data than the section holds'
            data.extend(chunk)
        self.vol.content = bytes(data)
        self.vol.holes = self.holes

    def recvAll(self, handler, opaque):
        self.conn.record('stream.recvAll', self.vol.name())
        handler(self, self.vol.content, opaque)

    def sparseRecvAll(self, handler, hole_handler, opaque):
        """libvirt-python's loop over a sparse download: the volume's ``holes`` ((offset, length), as
        sparseSendAll keeps them) come as holes, the rest as data of at most 262120 bytes at a time."""
        self.conn.record('stream.sparseRecvAll', self.vol.name())
        self.conn.maybe_fail('recvAll', self.vol.name())
        content = getattr(self.vol, 'content', b'')
        holes = dict(getattr(self.vol, 'holes', None) or [])
        position = 0
        while position < len(content):
            if position in holes:
                hole_handler(self, holes[position], opaque)
                position += holes[position]
                continue
            end = min([offset for offset in holes if offset > position] + [len(content), position + 262120])
            handler(self, content[position:end], opaque)
            position = end

    def finish(self):
        self.conn.record('stream.finish')

    def abort(self):
        self.conn.record('stream.abort')


class FakeVol:
    """virStorageVol over an XML string; ``content`` is what an upload wrote."""

    def __init__(self, pool, xml):
        self.pool = pool
        self.conn = pool.conn
        self.xml = xml
        self.content = b''

    def name(self):
        return _root(self.xml).findtext('name')

    def key(self):
        return _root(self.xml).findtext('key')

    def path(self):
        return _root(self.xml).findtext('target/path')

    def storagePoolLookupByVolume(self):
        return self.pool

    def XMLDesc(self, flags=0):
        self.conn.record('vol.XMLDesc', self.name(), flags)
        self.conn.maybe_fail('vol.XMLDesc', self.name())
        return self.xml

    def info(self):
        self.conn.record('vol.info', self.name())
        root = _root(self.xml)
        kind = {'file': libvirt.VIR_STORAGE_VOL_FILE, 'block': libvirt.VIR_STORAGE_VOL_BLOCK,
                'network': libvirt.VIR_STORAGE_VOL_NETWORK}.get(root.get('type'), libvirt.VIR_STORAGE_VOL_FILE)
        return [kind, int(root.findtext('capacity')), int(root.findtext('allocation') or 0)]

    def delete(self, flags=0):
        self.conn.record('vol.delete', self.name(), flags)
        self.conn.maybe_fail('vol.delete', self.name())
        del self.pool.volumes[self.name()]

    def resize(self, capacity, flags=0):
        self.conn.record('resize', self.name(), capacity, flags)
        self.conn.maybe_fail('resize', self.name())
        root = _root(self.xml)
        if not flags & libvirt.VIR_STORAGE_VOL_RESIZE_SHRINK:
            if capacity < int(root.findtext('allocation') or 0):
                raise libvirt_error("invalid argument: can't shrink capacity below existing allocation",
                                    libvirt.VIR_ERR_INVALID_ARG)
            if capacity < int(root.findtext('capacity')):
                raise libvirt_error("invalid argument: Can't shrink capacity below current capacity unless shrink "
                                    "flag explicitly specified", libvirt.VIR_ERR_INVALID_ARG)
        root.find('capacity').text = str(capacity)
        self.xml = _text(root)

    def wipePattern(self, algorithm, flags=0):
        self.conn.record('wipePattern', self.name(), algorithm, flags)
        self.conn.maybe_fail('wipePattern', self.name())

    def upload(self, stream, offset, length, flags=0):
        self.conn.record('upload', self.name(), offset, length, flags)
        self.conn.maybe_fail('upload', self.name())
        stream.vol = self

    def download(self, stream, offset, length, flags=0):
        self.conn.record('download', self.name(), offset, length, flags)
        stream.vol = self


class FakePool:
    """virStoragePool over its (inactive) definition; ``volumes`` by name.  ``hidden`` volumes show up
    only after a refresh (files made in the pool's directory outside libvirt)."""

    def __init__(self, conn, xml, active=False, persistent=True, autostart=False, volumes=(), uuid=None):
        self.conn = conn
        root = _root(xml)
        if uuid is not None or root.find('uuid') is None:  # libvirt gives every pool a uuid
            if root.find('uuid') is None:
                etree.SubElement(root, 'uuid')
            root.find('uuid').text = uuid or str(uuidlib.uuid4())
            xml = _text(root)
        self.xml = xml
        self.active = active
        self.persistent = persistent
        self.auto = autostart
        self.volumes = {}
        self.hidden = {}
        for name in volumes:
            self.add(volume_xml(name, GIB, path='%s/%s' % (self.target_path(), name)))

    def _root(self):
        return _root(self.xml)

    def name(self):
        return self._root().findtext('name')

    def target_path(self):
        return self._root().findtext('target/path')

    def add(self, xml, hidden=False):
        """A volume that exists in the pool (``hidden``: on disk, known to libvirt after a refresh)."""
        vol = FakeVol(self, xml)
        (self.hidden if hidden else self.volumes)[vol.name()] = vol
        return vol

    def _check_active(self, method):
        if not self.active:
            raise libvirt_error("Requested operation is not valid: storage pool '%s' is not active" % self.name(),
                                libvirt.VIR_ERR_OPERATION_INVALID)
        self.conn.maybe_fail(method, self.name())

    # ---- reading
    def XMLDesc(self, flags=0):
        self.conn.record('pool.XMLDesc', self.name(), flags)
        return self.xml

    def isActive(self):
        return 1 if self.active else 0

    def isPersistent(self):
        return 1 if self.persistent else 0

    def autostart(self):
        return 1 if self.auto else 0

    def info(self):
        if not self.active:
            return [libvirt.VIR_STORAGE_POOL_INACTIVE, 0, 0, 0]
        root = self._root()
        return [libvirt.VIR_STORAGE_POOL_RUNNING] + [int(root.findtext(field) or 0)
                                                     for field in ('capacity', 'allocation', 'available')]

    def UUIDString(self):
        return self._root().findtext('uuid')

    def listVolumes(self):
        self.conn.record('listVolumes', self.name())
        self._check_active('listVolumes')
        return list(self.volumes)

    def listAllVolumes(self, flags=0):
        self.conn.record('listAllVolumes', self.name())
        self._check_active('listAllVolumes')
        return list(self.volumes.values())

    def numOfVolumes(self):
        self._check_active('numOfVolumes')
        return len(self.volumes)

    def storageVolLookupByName(self, name):
        if name not in self.volumes:
            raise libvirt_error('Storage volume not found: no storage vol with matching name \'%s\'' % name,
                                libvirt.VIR_ERR_NO_STORAGE_VOL)
        return self.volumes[name]

    # ---- changing the pool
    def create(self, flags=0):
        self.conn.record('create', self.name(), flags)
        self.conn.maybe_fail('create', self.name())
        if self.active:
            raise libvirt_error("Requested operation is not valid: storage pool '%s' is already active" % self.name(),
                                libvirt.VIR_ERR_OPERATION_INVALID)
        self.active = True

    def destroy(self):
        self.conn.record('destroy', self.name())
        self.conn.maybe_fail('destroy', self.name())
        self._check_active('destroy')
        self.active = False
        if not self.persistent:
            del self.conn.pools[self.name()]

    def build(self, flags=0):
        self.conn.record('build', self.name(), flags)
        self.conn.maybe_fail('build', self.name())

    def delete(self, flags=0):
        self.conn.record('delete', self.name(), flags)
        self.conn.maybe_fail('delete', self.name())
        if self.active:
            raise libvirt_error("Requested operation is not valid: storage pool '%s' is still active" % self.name(),
                                libvirt.VIR_ERR_OPERATION_INVALID)

    def undefine(self):
        self.conn.record('undefine', self.name())
        self.conn.maybe_fail('undefine', self.name())
        if self.active:
            raise libvirt_error("Requested operation is not valid: storage pool '%s' is still active" % self.name(),
                                libvirt.VIR_ERR_OPERATION_INVALID)
        del self.conn.pools[self.name()]

    def setAutostart(self, value):
        self.conn.record('setAutostart', self.name(), value)
        self.conn.maybe_fail('setAutostart', self.name())
        if not self.persistent:
            raise libvirt_error('internal error: pool has no config file', libvirt.VIR_ERR_INTERNAL_ERROR)
        self.auto = bool(value)

    def refresh(self, flags=0):
        self.conn.record('refresh', self.name(), flags)
        self._check_active('refresh')
        self.volumes.update(self.hidden)
        self.hidden = {}

    # ---- volumes
    def _store(self, xml):
        """What libvirt keeps of a new volume: the given XML with key and target path filled in, and
        capacity and allocation in bytes (allocation: as given, else 0, a sparse file)."""
        root = _root(xml)
        name = root.findtext('name')
        if root.get('type') is None:
            root.set('type', _VOLUME_TYPE.get(self._root().get('type'), 'file'))
        for field in ('capacity', 'allocation'):
            element = root.find(field)
            if element is None:
                element = etree.SubElement(root, field)
                element.text = '0'
            element.text = str(int(element.text.strip()) * _UNITS[element.get('unit', 'bytes')])
            element.set('unit', 'bytes')
        path = '%s/%s' % (self.target_path(), name)
        target = root.find('target')
        if target is None:
            target = etree.SubElement(root, 'target')
        if target.find('path') is None:
            etree.SubElement(target, 'path').text = path
        if root.find('key') is None:
            etree.SubElement(root, 'key').text = path
        return self.add(_text(root))

    def createXML(self, xml, flags=0):
        name = _root(xml).findtext('name')
        self.conn.record('createXML', name, xml, flags)
        left = self.conn.leave_on_fail.get(name)
        try:
            self.conn.maybe_fail('createXML', name)
        except libvirt.libvirtError:
            if left is not None:
                self.add(left)
            raise
        self._check_active('createXML')
        if name in self.volumes:
            raise libvirt_error("storage volume name '%s' already in use." % name, libvirt.VIR_ERR_STORAGE_VOL_EXIST)
        return self._store(xml)

    def createXMLFrom(self, xml, source, flags=0):
        name = _root(xml).findtext('name')
        self.conn.record('createXMLFrom', name, source.name(), flags)
        self.conn.maybe_fail('createXMLFrom', name)
        self._check_active('createXMLFrom')
        if name in self.volumes:
            raise libvirt_error("storage volume name '%s' already in use." % name, libvirt.VIR_ERR_STORAGE_VOL_EXIST)
        made = self._store(xml)
        made.content = self.conn.clone_content(getattr(source, 'content', b''))
        return made


def _parse_secret(xml):
    root = _root(xml)
    usage = root.find('usage')
    usage_type = usage.get('type') if usage is not None else None
    usage_id = usage.findtext(USAGE_ELEMENT[usage_type]) if usage_type else None
    return root, usage_type, usage_id


class FakeSecret:
    """virSecret: its definition and ``stored``, the value (None: never set)."""

    def __init__(self, conn, uuid, xml, value=None):
        self.conn = conn
        self.uuid = uuid
        self.xml = xml
        self.stored = value

    @property
    def root(self):
        return _root(self.xml)

    @property
    def private(self):
        return self.root.get('private') == 'yes'

    def XMLDesc(self, flags=0):
        return self.xml

    def UUIDString(self):
        return self.uuid

    def usageType(self):
        usage_type = _parse_secret(self.xml)[1]
        return USAGE_NUMBER.get(usage_type, libvirt.VIR_SECRET_USAGE_TYPE_NONE)

    def usageID(self):
        return _parse_secret(self.xml)[2] or ''

    def value(self, flags=0):
        self.conn.record('value', self.uuid)
        if self.private:
            raise libvirt_error('Invalid secret: secret is private', libvirt.VIR_ERR_INVALID_SECRET)
        if self.stored is None:
            raise libvirt_error("Secret not found: secret '%s' does not have a value" % self.uuid,
                                libvirt.VIR_ERR_NO_SECRET)
        return self.stored

    def setValue(self, value, flags=0):
        self.conn.record('setValue', self.uuid)
        self.conn.maybe_fail('setValue', self.uuid)
        if not value:
            raise libvirt_error('value in virSecretSetValue must not be NULL', libvirt.VIR_ERR_INVALID_ARG)
        self.stored = value

    def undefine(self):
        self.conn.record('secret.undefine', self.uuid)
        self.conn.maybe_fail('secret.undefine', self.uuid)
        del self.conn.secrets[self.uuid]


class FakeDomain:
    def __init__(self, conn, xml, active=False):
        self.conn = conn
        self.xml = xml
        self.active = active

    def name(self):
        return _root(self.xml).findtext('name')

    def isActive(self):
        return 1 if self.active else 0

    def XMLDesc(self, flags=0):
        if self.active and not flags & libvirt.VIR_DOMAIN_XML_INACTIVE:
            root = _root(self.xml)
            root.set('id', '1')  # the live definition of a running domain carries its id
            return etree.tostring(root, encoding='unicode')
        return self.xml

    def undefine(self):
        self.conn.record('domain.undefine', self.name())
        self.conn.domains.remove(self)


class FakeConn:
    """virConnect with storage pools (``pools``, by name), secrets (``secrets``, by uuid) and
    domains (``domains``, a list)."""

    def __init__(self):
        self.pools = {}
        self.secrets = {}
        self.domains = []
        self.calls = []
        self.fail_on = {}
        self.leave_on_fail = {}  # volume name -> XML of what a failed createXML leaves behind
        #: what createXMLFrom writes into the copy, given the source's content (a bad copy when replaced)
        self.clone_content = lambda content: content
        self.caps = None  # what getStoragePoolCapabilities returns

    # ---- bookkeeping
    def record(self, method, *args):
        self.calls.append((method, args))

    def maybe_fail(self, method, name=None):
        """Raise what ``fail_on`` holds for ``(method, name)`` or for ``method``, if anything."""
        for key in ((method, name), method):
            if key not in self.fail_on:
                continue
            exc = self.fail_on[key]
            if isinstance(exc, list):  # only the first calls fail, one per exception
                if exc:
                    raise exc.pop(0)
                return
            raise exc

    def methods(self):
        return [method for method, _args in self.calls]

    def calls_of(self, method):
        return [args for name, args in self.calls if name == method]

    def mutations(self):
        """The calls that change something (a refresh too), named as in MUTATING."""
        return [MUTATING[method] for method, _args in self.calls if method in MUTATING]

    def add_pool(self, xml, **kwargs):
        pool = FakePool(self, xml, **kwargs)
        self.pools[pool.name()] = pool
        return pool

    def add_secret(self, usage=None, usage_id=None, value=None, private=False, ephemeral=False,
                   description=None, uuid=None):
        uuid = uuid or str(uuidlib.uuid4())
        self.secrets[uuid] = FakeSecret(self, uuid, secret_xml(usage, usage_id, private, ephemeral, description, uuid),
                                        value)
        return self.secrets[uuid]

    def add_domain(self, name, *disk_sources, **kwargs):
        """A defined domain whose disks have the given <source> attributes (dicts); ``xml=`` gives
        the whole definition instead, ``active=True`` makes it running."""
        xml = kwargs.get('xml') or domain_xml(name, *disk_sources)
        domain = FakeDomain(self, xml, active=kwargs.get('active', False))
        self.domains.append(domain)
        return domain

    # ---- pools and volumes
    def storagePoolLookupByName(self, name):
        self.record('storagePoolLookupByName', name)
        self.maybe_fail('storagePoolLookupByName', name)
        if name not in self.pools:
            raise libvirt_error("Storage pool not found: no storage pool with matching name '%s'" % name,
                                libvirt.VIR_ERR_NO_STORAGE_POOL)
        return self.pools[name]

    def storagePoolDefineXML(self, xml, flags=0):
        self.record('storagePoolDefineXML', xml, flags)
        self.maybe_fail('define')
        root = _root(xml)
        name = root.findtext('name')
        existing = self.pools.get(name)
        if existing is not None and root.findtext('uuid') != existing.UUIDString():
            # a definition without <uuid> gets a new one, so it is refused as well
            raise libvirt_error("operation failed: pool '%s' already exists with uuid %s" % (name, existing.UUIDString()),
                                libvirt.VIR_ERR_OPERATION_FAILED)
        # libvirt fills in the uuid, the three sizes and <source>; a document that has them is kept as given
        added = False
        if root.find('uuid') is None:
            etree.SubElement(root, 'uuid').text = str(uuidlib.uuid4())
            added = True
        for field in ('capacity', 'allocation', 'available', 'source'):
            if root.find(field) is None:
                element = etree.SubElement(root, field)
                if field != 'source':
                    element.set('unit', 'bytes')
                    element.text = '0'
                added = True
        if added:
            order = ['name', 'uuid', 'capacity', 'allocation', 'available', 'source', 'target']
            root[:] = sorted(root, key=lambda el: order.index(el.tag) if el.tag in order else len(order))
            xml = _text(root)
        if existing is not None:
            existing.xml = xml
            existing.persistent = True
            return existing
        return self.add_pool(xml)

    def listAllStoragePools(self, flags=0):
        self.record('listAllStoragePools', flags)
        active_only = flags & libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE
        return [pool for pool in self.pools.values() if pool.active or not active_only]

    def listStoragePools(self):
        return [name for name, pool in self.pools.items() if pool.active]

    def listDefinedStoragePools(self):
        return [name for name, pool in self.pools.items() if not pool.active]

    def storageVolLookupByPath(self, path):
        self.record('storageVolLookupByPath', path)
        for pool in self.pools.values():
            for vol in pool.volumes.values():
                if vol.path() == path:
                    return vol
        raise libvirt_error("Storage volume not found: no storage vol with matching path '%s'" % path,
                            libvirt.VIR_ERR_NO_STORAGE_VOL)

    def getStoragePoolCapabilities(self, flags=0):
        self.record('getStoragePoolCapabilities', flags)
        self.maybe_fail('getStoragePoolCapabilities')
        return self.caps

    def newStream(self, flags=0):
        self.record('newStream', flags)
        return FakeStream(self)

    # ---- domains
    def listAllDomains(self, flags=0):
        self.record('listAllDomains', flags)
        return list(self.domains)

    def defineXML(self, xml):
        self.record('defineXML', xml)
        domain = FakeDomain(self, xml)
        self.domains = [other for other in self.domains if other.name() != domain.name()] + [domain]
        return domain

    # ---- secrets
    def secretLookupByUUIDString(self, uuid):
        self.record('secretLookupByUUIDString', uuid)
        self.maybe_fail('secretLookupByUUIDString', uuid)
        if uuid not in self.secrets:
            raise libvirt_error("Secret not found: no secret with matching uuid '%s'" % uuid, libvirt.VIR_ERR_NO_SECRET)
        return self.secrets[uuid]

    def secretLookupByUsage(self, usage_type, usage_id):
        self.record('secretLookupByUsage', usage_type, usage_id)
        for secret in self.secrets.values():
            if secret.usageType() == usage_type and secret.usageID() == usage_id:
                return secret
        raise libvirt_error("Secret not found: no secret with matching usage '%s'" % usage_id, libvirt.VIR_ERR_NO_SECRET)

    def listAllSecrets(self, flags=0):
        self.record('listAllSecrets', flags)
        return list(self.secrets.values())

    def secretDefineXML(self, xml, flags=0):
        self.record('secretDefineXML', xml)
        self.maybe_fail('secretDefineXML')
        root, usage_type, usage_id = _parse_secret(xml)
        uuid = root.findtext('uuid') or str(uuidlib.uuid4())
        for other in self.secrets.values():
            if other.uuid != uuid and usage_type and other.usageType() == USAGE_NUMBER[usage_type] \
                    and other.usageID() == usage_id:
                raise libvirt_error('internal error: a secret with UUID %s already defined for use with %s'
                                    % (other.uuid, usage_id), libvirt.VIR_ERR_INTERNAL_ERROR)
        existing = self.secrets.get(uuid)
        if existing is not None:
            _old_root, old_type, old_id = _parse_secret(existing.xml)
            if (old_type, old_id) != (usage_type, usage_id):
                raise libvirt_error('internal error: a secret with UUID %s is already defined for use with %s'
                                    % (uuid, old_id), libvirt.VIR_ERR_INTERNAL_ERROR)
            if existing.private and root.get('private') != 'yes':
                raise libvirt_error('internal error: cannot change private flag on existing secret',
                                    libvirt.VIR_ERR_INTERNAL_ERROR)
        if root.find('uuid') is None:
            etree.SubElement(root, 'uuid').text = uuid
        for attr in ('ephemeral', 'private'):
            root.set(attr, root.get(attr) or 'no')
        text = _text(root)
        if existing is not None:
            existing.xml = text
            return existing
        self.secrets[uuid] = FakeSecret(self, uuid, text)
        return self.secrets[uuid]


# The names of the three fake modules this one replaces (fakes.py, volume_fakes.py, secret_fakes.py):
# FakeConn, FakePool and FakeVol stand for their connections, pools and volumes.
FakeVolConn = FakeSecretConn = FakeConn
FakeVolPool = FakePool
