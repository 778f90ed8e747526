"""The fake libvirt (fake_libvirt.py) against libvirt itself: the same scenarios on each backend.

Backends:
- ``fake``: fake_libvirt.FakeConn;
- ``test``: libvirt's in-process test driver (``test:///default``), which needs no daemon;
- ``system``: the libvirtd of this host (``qemu:///system``), for what the test driver does not
  implement or does differently from libvirtd: secrets, ``XMLDesc(VIR_STORAGE_XML_INACTIVE)``,
  ``undefine`` of a running pool, volume resize, the error code of a volume that exists already.
  It is skipped when libvirtd cannot be reached (a unit run on a machine without it).

Objects are named ``ts-contract-<pid>-*`` and removed after each test; on ``system`` the pool's directory
is under the test's tmp_path.
"""

import os

import libvirt
import pytest
from lxml import etree

from fake_libvirt import FakeConn, domain_xml

PREFIX = 'ts-contract-%d-' % os.getpid()  # unique on the shared libvirtd
POOL = PREFIX + 'pool'
MIB = 1024 * 1024
ALL = ('fake', 'test', 'system')
LIKE_LIBVIRTD = ('fake', 'system')  # scenarios where the test driver is not libvirtd


def _quiet(_ctx, _err):
    """libvirt prints every error on stderr unless a handler is set."""


libvirt.registerErrorHandler(_quiet, None)


class Backend:
    def __init__(self, kind, conn, base):
        self.kind = kind
        self.conn = conn
        self.base = base  # a directory for pool targets
        # the test driver refuses VIR_STORAGE_XML_INACTIVE ("unsupported flags")
        self.inactive = 0 if kind == 'test' else libvirt.VIR_STORAGE_XML_INACTIVE

    def pool_xml(self, name=POOL, mode='0755'):
        return ("<pool type='dir'><name>%s</name><target><path>%s</path>"
                "<permissions><mode>%s</mode></permissions></target></pool>" % (name, self.target(name), mode))

    def target(self, name=POOL):
        return os.path.join(self.base, name)

    def define_pool(self, name=POOL, start=False):
        if self.kind == 'system':
            os.makedirs(self.target(name), exist_ok=True)
        pool = self.conn.storagePoolDefineXML(self.pool_xml(name), 0)
        if start:
            pool.create(0)
        return pool

    def cleanup(self):
        for pool in self.conn.listAllStoragePools(0):
            if not pool.name().startswith(PREFIX):
                continue
            if pool.isActive():
                for vol in pool.listAllVolumes(0):
                    vol.delete(0)
                pool.destroy()
            try:
                pool.undefine()
            except libvirt.libvirtError:  # transient: gone with destroy
                pass
        if self.kind != 'test':
            for secret in self.conn.listAllSecrets(0):
                if secret.usageID().startswith(PREFIX):
                    secret.undefine()
        if self.kind != 'system':
            for domain in self.conn.listAllDomains(0):
                if domain.name().startswith(PREFIX):
                    domain.undefine()


def _open(kind):
    if kind == 'fake':
        return FakeConn()
    uri = 'test:///default' if kind == 'test' else 'qemu:///system'
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as exc:
        pytest.skip('%s cannot be reached: %s' % (uri, exc))
    return None


@pytest.fixture
def backend(request, tmp_path):
    kind = request.param
    tmp_path.chmod(0o755)
    found = Backend(kind, _open(kind), str(tmp_path))
    found.cleanup()
    yield found
    found.cleanup()
    if kind != 'fake':
        found.conn.close()


def code_of(call, *args):
    """The libvirt error code ``call(*args)`` raises."""
    with pytest.raises(libvirt.libvirtError) as info:
        call(*args)
    return info.value.get_error_code()


def shape(xml, skip=('uuid',)):
    """Element paths with their attribute names and texts (without the ``skip`` elements' texts and
    without sizes, which differ between the backends); whitespace-only text is left out."""
    root = etree.fromstring(xml.encode())
    found = []
    for element in root.iter():
        path = root.getroottree().getpath(element)
        text = (element.text or '').strip()
        if element.tag in skip or element.tag in ('capacity', 'allocation', 'available'):
            text = '*' if text else ''
        found.append((path, tuple(sorted(element.attrib.items())), text))
    return found


def both(*kinds):
    return pytest.mark.parametrize('backend', kinds, indirect=True)


# ---- pools -----------------------------------------------------------------------------------------------

@both(*ALL)
def test_pool_define_lookup_start_stop_autostart_undefine(backend):
    conn = backend.conn
    assert code_of(conn.storagePoolLookupByName, POOL) == libvirt.VIR_ERR_NO_STORAGE_POOL
    backend.define_pool()
    pool = conn.storagePoolLookupByName(POOL)
    assert pool.name() == POOL
    assert (pool.isActive(), pool.isPersistent(), pool.autostart()) == (0, 1, 0)
    assert pool.info()[0] == libvirt.VIR_STORAGE_POOL_INACTIVE
    assert code_of(pool.listAllVolumes, 0) == libvirt.VIR_ERR_OPERATION_INVALID
    assert code_of(pool.refresh, 0) == libvirt.VIR_ERR_OPERATION_INVALID
    assert code_of(pool.destroy) == libvirt.VIR_ERR_OPERATION_INVALID
    pool.setAutostart(1)
    assert pool.autostart() == 1
    pool.create(0)
    assert pool.isActive() == 1 and pool.info()[0] == libvirt.VIR_STORAGE_POOL_RUNNING
    assert code_of(pool.create, 0) == libvirt.VIR_ERR_OPERATION_INVALID
    assert pool.listAllVolumes(0) == [] and pool.listVolumes() == []
    pool.refresh(0)
    pool.destroy()
    assert pool.isActive() == 0
    pool.setAutostart(0)
    pool.undefine()
    assert code_of(conn.storagePoolLookupByName, POOL) == libvirt.VIR_ERR_NO_STORAGE_POOL


@both(*LIKE_LIBVIRTD)
def test_running_pool_cannot_be_undefined_or_deleted(backend):
    pool = backend.define_pool(start=True)
    assert code_of(pool.undefine) == libvirt.VIR_ERR_OPERATION_INVALID
    assert code_of(pool.delete, 0) == libvirt.VIR_ERR_OPERATION_INVALID
    assert (pool.isActive(), pool.isPersistent()) == (1, 1)


@both(*ALL)
def test_redefining_a_pool_needs_its_uuid(backend):
    first = backend.define_pool()
    uuid = first.UUIDString()
    assert code_of(backend.conn.storagePoolDefineXML, backend.pool_xml(mode='0711'), 0) == \
        libvirt.VIR_ERR_OPERATION_FAILED, 'without <uuid> the definition gets a new one, which is refused'
    other = backend.pool_xml(mode='0711').replace('</name>', '</name><uuid>0a0b0c0d-1111-2222-3333-444455556666</uuid>')
    assert code_of(backend.conn.storagePoolDefineXML, other, 0) == libvirt.VIR_ERR_OPERATION_FAILED
    again = backend.conn.storagePoolDefineXML(backend.pool_xml(mode='0711').replace(
        '</name>', '</name><uuid>%s</uuid>' % uuid), 0)
    assert again.UUIDString() == uuid
    root = etree.fromstring(again.XMLDesc(backend.inactive).encode())
    assert root.findtext('uuid') == uuid and root.findtext('target/permissions/mode') == '0711'


@both(*ALL)
def test_dir_pool_inactive_xml_shape(backend):
    pool = backend.define_pool()
    xml = pool.XMLDesc(backend.inactive)
    assert shape(xml) == [
        ('/pool', (('type', 'dir'),), ''),
        ('/pool/name', (), POOL),
        ('/pool/uuid', (), '*'),
        ('/pool/capacity', (('unit', 'bytes'),), '*'),
        ('/pool/allocation', (('unit', 'bytes'),), '*'),
        ('/pool/available', (('unit', 'bytes'),), '*'),
        ('/pool/source', (), ''),
        ('/pool/target', (), ''),
        ('/pool/target/path', (), backend.target()),
        ('/pool/target/permissions', (), ''),
        ('/pool/target/permissions/mode', (), '0755'),
    ]
    assert etree.fromstring(xml.encode()).findtext('uuid') == pool.UUIDString()


# ---- volumes ------------------------------------------------------------------------------------------------

VOLUME = PREFIX + 'vol.raw'
VOLUME_XML = ("<volume><name>%s</name><capacity unit='MiB'>1</capacity><allocation>0</allocation>"
              "<target><format type='raw'/></target></volume>" % VOLUME)


@both(*ALL)
def test_volume_create_lookup_info_xml_delete(backend):
    conn = backend.conn
    pool = backend.define_pool(start=True)
    assert code_of(pool.storageVolLookupByName, VOLUME) == libvirt.VIR_ERR_NO_STORAGE_VOL
    vol = pool.createXML(VOLUME_XML, 0)
    path = os.path.join(backend.target(), VOLUME)
    assert vol.name() == VOLUME and vol.path() == path and vol.key() == path
    assert pool.storageVolLookupByName(VOLUME).path() == path
    assert conn.storageVolLookupByPath(path).name() == VOLUME
    assert [v.name() for v in pool.listAllVolumes(0)] == [VOLUME] and pool.listVolumes() == [VOLUME]
    assert vol.info()[:2] == [libvirt.VIR_STORAGE_VOL_FILE, MIB]
    root = etree.fromstring(vol.XMLDesc(0).encode())
    assert root.tag == 'volume' and root.get('type') == 'file'
    assert (root.findtext('name'), root.findtext('key'), root.findtext('target/path')) == (VOLUME, path, path)
    assert root.find('capacity').get('unit') == 'bytes' and int(root.findtext('capacity')) == MIB
    assert root.find('allocation').get('unit') == 'bytes'
    assert root.find('target/format').get('type') == 'raw'
    vol.delete(0)
    assert code_of(pool.storageVolLookupByName, VOLUME) == libvirt.VIR_ERR_NO_STORAGE_VOL
    assert code_of(conn.storageVolLookupByPath, path) == libvirt.VIR_ERR_NO_STORAGE_VOL
    assert pool.listAllVolumes(0) == []


@both(*LIKE_LIBVIRTD)
def test_volume_that_exists_already_and_resize(backend):
    pool = backend.define_pool(start=True)
    vol = pool.createXML(VOLUME_XML, 0)
    assert code_of(pool.createXML, VOLUME_XML, 0) == libvirt.VIR_ERR_STORAGE_VOL_EXIST
    vol.resize(2 * MIB, 0)
    assert vol.info()[1] == 2 * MIB
    assert int(etree.fromstring(vol.XMLDesc(0).encode()).findtext('capacity')) == 2 * MIB
    assert code_of(vol.resize, MIB, 0) == libvirt.VIR_ERR_INVALID_ARG, 'shrinking needs the flag'
    vol.resize(MIB, libvirt.VIR_STORAGE_VOL_RESIZE_SHRINK)
    assert vol.info()[1] == MIB


@both(*ALL)
def test_volumes_of_an_inactive_pool(backend):
    pool = backend.define_pool()
    assert code_of(pool.listAllVolumes, 0) == libvirt.VIR_ERR_OPERATION_INVALID
    assert code_of(pool.createXML, VOLUME_XML, 0) == libvirt.VIR_ERR_OPERATION_INVALID


# ---- secrets (the test driver has no secret driver) ---------------------------------------------------------

CEPH_USAGE = PREFIX + 'client secret'
CEPH_SECRET = "<secret ephemeral='no' private='%s'>%s<usage type='ceph'><name>%s</name></usage></secret>"


@both(*LIKE_LIBVIRTD)
def test_secret_define_lookup_and_private_value(backend):
    conn = backend.conn
    ceph = libvirt.VIR_SECRET_USAGE_TYPE_CEPH
    assert code_of(conn.secretLookupByUsage, ceph, CEPH_USAGE) == libvirt.VIR_ERR_NO_SECRET
    secret = conn.secretDefineXML(CEPH_SECRET % ('yes', '', CEPH_USAGE), 0)
    uuid = secret.UUIDString()
    assert (secret.usageType(), secret.usageID()) == (ceph, CEPH_USAGE)
    assert conn.secretLookupByUsage(ceph, CEPH_USAGE).UUIDString() == uuid
    assert conn.secretLookupByUUIDString(uuid).usageID() == CEPH_USAGE
    root = etree.fromstring(secret.XMLDesc(0).encode())
    assert (root.get('ephemeral'), root.get('private'), root.findtext('uuid')) == ('no', 'yes', uuid)
    assert root.find('usage').get('type') == 'ceph' and root.findtext('usage/name') == CEPH_USAGE
    assert code_of(secret.value, 0) == libvirt.VIR_ERR_INVALID_SECRET, 'private, no value yet'
    secret.setValue(b'key', 0)
    assert code_of(secret.value, 0) == libvirt.VIR_ERR_INVALID_SECRET, 'private: never readable'
    assert code_of(secret.setValue, b'', 0) == libvirt.VIR_ERR_INVALID_ARG
    # private cannot become public; the usage is the secret's own; one secret per usage
    uuid_el = '<uuid>%s</uuid>' % uuid
    assert code_of(conn.secretDefineXML, CEPH_SECRET % ('no', uuid_el, CEPH_USAGE), 0) == libvirt.VIR_ERR_INTERNAL_ERROR
    assert code_of(conn.secretDefineXML, CEPH_SECRET % ('yes', uuid_el, PREFIX + 'other'), 0) == \
        libvirt.VIR_ERR_INTERNAL_ERROR
    assert code_of(conn.secretDefineXML, CEPH_SECRET % ('no', '', CEPH_USAGE), 0) == libvirt.VIR_ERR_INTERNAL_ERROR
    assert conn.secretDefineXML(CEPH_SECRET % ('yes', uuid_el, CEPH_USAGE), 0).UUIDString() == uuid
    secret.undefine()
    assert code_of(conn.secretLookupByUUIDString, uuid) == libvirt.VIR_ERR_NO_SECRET
    assert code_of(conn.secretLookupByUsage, ceph, CEPH_USAGE) == libvirt.VIR_ERR_NO_SECRET


@both(*LIKE_LIBVIRTD)
def test_public_secret_value(backend):
    target = PREFIX + 'iqn.2026-12.io.kvmops:t'
    secret = backend.conn.secretDefineXML("<secret ephemeral='no' private='no'><usage type='iscsi'>"
                                          "<target>%s</target></usage></secret>" % target, 0)
    assert secret.usageType() == libvirt.VIR_SECRET_USAGE_TYPE_ISCSI and secret.usageID() == target
    assert code_of(secret.value, 0) == libvirt.VIR_ERR_NO_SECRET, 'no value yet'
    secret.setValue(b'pw', 0)
    assert secret.value(0) == b'pw'
    assert [s.UUIDString() for s in backend.conn.listAllSecrets(0) if s.usageID() == target] == [secret.UUIDString()]


@both(*LIKE_LIBVIRTD)
def test_no_such_secret_by_uuid(backend):
    assert code_of(backend.conn.secretLookupByUUIDString, '0a0b0c0d-1111-2222-3333-444455556666') == \
        libvirt.VIR_ERR_NO_SECRET


# ---- errors ---------------------------------------------------------------------------------------------------

@both(*ALL)
def test_error_codes_of_missing_pool_and_volume(backend):
    assert code_of(backend.conn.storagePoolLookupByName, PREFIX + 'nope') == libvirt.VIR_ERR_NO_STORAGE_POOL
    pool = backend.define_pool(start=True)
    assert code_of(pool.storageVolLookupByName, 'nope') == libvirt.VIR_ERR_NO_STORAGE_VOL
    assert code_of(backend.conn.storageVolLookupByPath, backend.target() + '/nope') == libvirt.VIR_ERR_NO_STORAGE_VOL


@both(*LIKE_LIBVIRTD)
def test_error_domains(backend):
    """The domain of the error (libvirtd: storage, secret), for code that reports it."""
    with pytest.raises(libvirt.libvirtError) as info:
        backend.conn.storagePoolLookupByName(PREFIX + 'nope')
    assert info.value.get_error_domain() == libvirt.VIR_FROM_STORAGE
    with pytest.raises(libvirt.libvirtError) as info:
        backend.conn.secretLookupByUUIDString('0a0b0c0d-1111-2222-3333-444455556666')
    assert info.value.get_error_domain() == libvirt.VIR_FROM_SECRET


# ---- domains (defining one on libvirtd takes a minute: test driver and fake only) -----------------------------

@both('fake', 'test')
def test_list_all_domains_and_their_disks(backend):
    name = PREFIX + 'dom'
    disk = os.path.join(backend.base, 'disk.img')
    xml = domain_xml(name, {'file': disk})
    root = etree.fromstring(xml.encode())
    root.set('type', 'test')
    etree.SubElement(root, 'memory').text = '65536'
    etree.SubElement(etree.SubElement(root, 'os'), 'type').text = 'hvm'
    before = set(domain.name() for domain in backend.conn.listAllDomains(0))
    backend.conn.defineXML(etree.tostring(root, encoding='unicode'))
    domains = dict((domain.name(), domain) for domain in backend.conn.listAllDomains(0))
    assert set(domains) - before == {name}
    assert domains[name].isActive() == 0
    listed = etree.fromstring(domains[name].XMLDesc(0).encode())
    assert [(d.get('device'), d.find('source').get('file'), d.find('target').get('dev'))
            for d in listed.findall('devices/disk')] == [('disk', disk, 'vda')]
