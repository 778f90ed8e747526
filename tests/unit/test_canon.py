"""canon.py: the forms libvirt stores values and documents in (libvirt's in-process test:///default driver)."""

import libvirt
import pytest

from fake_libvirt import FakeConn, pool_params
from ansible_collections.kvmops.storage.plugins.module_utils import canon, engine
from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError
from ansible_collections.kvmops.storage.plugins.module_utils.pool import PoolManager

libvirt.registerErrorHandler(lambda *args: None, None)


@pytest.fixture(scope='module')
def test_conn():
    return libvirt.open('test:///default')


# ---- paths -----------------------------------------------------------------------------
@pytest.mark.parametrize('given, stored', [
    ('/export/vms/', '/export/vms'),
    ('///var/////lib/libvirt/images//', '/var/lib/libvirt/images'),
    ('/export/./vms', '/export/./vms'),          # libvirt keeps "." and ".."
    ('/a/../b//', '/a/../b'),
    ('//host/share', '//host/share'),            # POSIX: a leading // has a meaning of its own
    ('///host', '/host'),
    ('/', '/'),
    ('//', '//'),
    ('samba_share/', 'samba_share'),
])
def test_sanitize_path(given, stored):
    assert canon.sanitize_path(given) == stored


@pytest.mark.parametrize('given', ['/export/vms/', '///var/////lib//x//', '/export/./vms/', '//host//share/',
                                   '/a/../b//', 'relative//dir/'])
def test_sanitize_path_matches_libvirt(test_conn, given):
    """What libvirt's parser stores for a netfs <dir path> is what sanitize_path writes."""
    doc = ("<pool type='netfs'><name>cn-unit-path</name><source><host name='h'/><dir path='%s'/></source>"
           "<target><path>/cn-unit-path</path></target></pool>" % given)
    pool = test_conn.storagePoolDefineXML(doc, 0)
    try:
        stored = xmlu.parse(pool.XMLDesc(0))
    finally:
        pool.undefine()
    assert xmlu.find_path(stored, 'source/dir')[0].get('path') == canon.sanitize_path(given)


# ---- uuids -------------------------------------------------------------------------------
@pytest.mark.parametrize('given', ['0D4F7C2A-8A1E-4C55-9D2B-5F3E1A7B9C01', '0d4f7c2a8a1e4c559d2b5f3e1a7b9c01',
                                   ' 0D4F7C2A8A1E4C559D2B5F3E1A7B9C01 ', '0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01'])
def test_uuid_text(given):
    assert canon.uuid_text(given, 'secret_uuid') == '0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01'


@pytest.mark.parametrize('given', ['not-a-uuid', '0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c0', '{0d4f7c2a-8a1e-4c55-9d2b-'
                                   '5f3e1a7b9c01}', 'urn:uuid:0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01', ''])
def test_uuid_text_refuses(given):
    with pytest.raises(ValidationError) as err:
        canon.uuid_text(given, 'secret_uuid')
    assert err.value.option == 'secret_uuid'
    assert err.value.msg == ('secret_uuid %r is not a UUID: accepted are 32 hex digits, with or without dashes, e.g. '
                             '0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01' % given)


# ---- modes -------------------------------------------------------------------------------
@pytest.mark.parametrize('given, printed', [('0070', '070'), ('070', '070'), ('0700', '0700'), ('0', '00'),
                                            ('0000', '00'), ('7', '07'), ('777', '0777'), ('00644', '0644')])
def test_mode_as_libvirt_prints_it(given, printed):
    assert canon.format_mode(canon.parse_mode(given, 'mode')) == printed


@pytest.mark.parametrize('given', ['0070', '0', '0777', '0644'])
def test_mode_matches_libvirt(test_conn, given):
    doc = ("<pool type='dir'><name>cn-unit-mode</name><target><path>/cn-unit-mode</path><permissions>"
           "<mode>%s</mode></permissions></target></pool>" % given)
    pool = test_conn.storagePoolDefineXML(doc, 0)
    try:
        stored = xmlu.parse(pool.XMLDesc(0))
    finally:
        pool.undefine()
    assert xmlu.find_path(stored, 'target/permissions/mode')[0].text == canon.format_mode(canon.parse_mode(given, 'm'))


@pytest.mark.parametrize('given', ['2775', '1777', '4755', '01000', '8', '0o755', 'rwx', '', '-1', '07555'])
def test_mode_refused(test_conn, given):
    with pytest.raises(ValidationError) as err:
        canon.parse_mode(given, 'volumes[0].mode', '0600')
    assert err.value.option == 'volumes[0].mode'
    assert err.value.msg == ('volumes[0].mode %r is not accepted: give an octal mode from "0000" to "0777" (permission '
                             'bits only: libvirt refuses setuid, setgid and sticky bits), e.g. "0600"' % given)


def test_mode_refused_is_what_libvirt_refuses(test_conn):
    doc = ("<pool type='dir'><name>cn-unit-mode</name><target><path>/cn-unit-mode</path><permissions>"
           "<mode>2775</mode></permissions></target></pool>")
    with pytest.raises(libvirt.libvirtError) as err:
        test_conn.storagePoolDefineXML(doc, 0)
    assert 'malformed octal mode' in str(err.value)


def test_mode_yaml_integer_refused():
    with pytest.raises(ValidationError) as err:
        canon.parse_mode(0o711, 'target_mode', '0711')
    assert err.value.msg == ('target_mode 457 is a number; quote the mode in YAML, e.g. "0711" (unquoted, YAML reads '
                             '0711 as 457)')


def test_same_volume_format():
    assert canon.same_volume_format('iso', 'raw')
    assert canon.same_volume_format('iso', 'iso')
    assert canon.same_volume_format(None, 'qcow2')
    assert not canon.same_volume_format('qcow2', 'raw')
    assert not canon.same_volume_format('raw', 'iso')


# ---- documents -------------------------------------------------------------------------------
def test_xml_document_root_and_name():
    with pytest.raises(ValidationError) as err:
        canon.xml_document('<volume><name>a</name></volume>', 'xml', 'pool', 'a')
    assert err.value.msg == 'xml: the root element must be <pool>, not <volume>'
    with pytest.raises(ValidationError) as err:
        canon.xml_document('<pool type="dir"><name>b</name></pool>', 'volumes[1].xml', 'pool', 'a')
    assert err.value.option == 'volumes[1].xml'
    assert err.value.msg == "volumes[1].xml: its <name> is 'b' but the task says name='a'; they must match"
    with pytest.raises(ValidationError) as err:
        canon.xml_document('<pool type="dir"></pool>', 'xml', 'pool', 'a')
    assert err.value.msg == "xml: its <name> is None but the task says name='a'; they must match"
    assert canon.xml_document('<secret/>', 'xml', 'secret', None).tag == 'secret'


def canonical_pool(doc, strict=False):
    return canon.pool_document(xmlu.parse(doc), 'xml', strict)


def test_pool_document_rewrites_as_libvirt_does():
    got = canonical_pool("""<pool type='dir'><name>cn-unit-dir</name><uuid>70A7EB15-6C34-EE9C-BF57-69E8E5FF3FB2</uuid>
        <capacity>5</capacity><target><path>///var/////lib/libvirt/images//</path><permissions><mode>0700</mode>
        <owner>-1</owner><group>-1</group><label>some_label_t</label></permissions></target></pool>""")
    assert xmlu.to_string(got) == (
        '<pool type="dir">\n'
        '  <name>cn-unit-dir</name>\n'
        '  <uuid>70a7eb15-6c34-ee9c-bf57-69e8e5ff3fb2</uuid>\n'
        '  <source/>\n'
        '  <target>\n'
        '    <path>/var/lib/libvirt/images</path>\n'
        '    <permissions>\n'
        '      <mode>0700</mode>\n'
        '      <label>some_label_t</label>\n'
        '    </permissions>\n'
        '  </target>\n'
        '</pool>\n')


def test_pool_document_legacy_adapter_and_derived_defaults():
    got = canonical_pool("<pool type='scsi'><name>cn-unit-scsi</name><source><adapter name='host0'/></source>"
                         "<target><path>/dev/disk/by-path</path></target></pool>")
    assert dict(xmlu.find_path(got, 'source/adapter')[0].attrib) == {'type': 'scsi_host', 'name': 'host0'}
    # a logical pool without a volume group name takes the pool's name, and /dev/NAME
    got = canonical_pool("<pool type='logical'><name>cn-unit-vg</name><source><device path='/dev/sdb1'/></source>"
                         "</pool>")
    assert xmlu.find_path(got, 'source/name')[0].text == 'cn-unit-vg'
    assert xmlu.find_path(got, 'target/path')[0].text == '/dev/cn-unit-vg'
    assert xmlu.find_path(got, 'uuid') == []  # none given: libvirt's own uuid is not taken over


def test_pool_document_keeps_namespaced_extensions():
    got = canonical_pool("""<pool type='rbd' xmlns:rbd='http://libvirt.org/schemas/storagepool/source/rbd/1.0'>
        <name>cn-unit-rbd</name><source><name>rbd</name><host name='localhost' port='6789'/></source>
        <rbd:config_opts><rbd:option name='client_mount_timeout' value='45'/></rbd:config_opts></pool>""")
    ext = [el for el in got if xmlu.local_name(el) == 'rbd:config_opts']
    assert len(ext) == 1 and ext[0][0].get('value') == '45'
    assert got.nsmap == {'rbd': 'http://libvirt.org/schemas/storagepool/source/rbd/1.0'}


def test_pool_document_leaves_what_the_test_driver_refuses():
    doc = "<pool type='iscsi'><name>x</name><source><host name='a'/><device path='b'/><auth type='chap'/></source></pool>"
    root = xmlu.parse(doc)
    assert canon.pool_document(root) is root
    with pytest.raises(ValidationError) as err:
        canon.pool_document(root, 'xml', strict=True)
    assert err.value.msg == 'xml: libvirt refuses this document: XML error: missing username for auth'


def test_pool_document_leaves_nothing_in_the_test_driver(test_conn):
    before = sorted(p.name() for p in test_conn.listAllStoragePools(0))
    canonical_pool("<pool type='dir'><name>cn-unit-left</name><target><path>/cn-unit-left</path></target></pool>")
    assert 'cn-unit-left' not in [p.name() for p in test_conn.listAllStoragePools(0)]
    assert 'cn-unit-left' not in before


def test_volume_document():
    got = canon.volume_document(xmlu.parse("<volume><name>cn-v</name><capacity unit='G'>5</capacity>"
                                           "<target><format type='qcow2'/></target></volume>"), 'dir')
    assert xmlu.find_path(got, 'capacity')[0].text == str(5 * 1024 ** 3)
    assert xmlu.find_path(got, 'target/format')[0].get('type') == 'qcow2'
    got = canon.volume_document(xmlu.parse("<volume><name>cn-v</name><capacity>0</capacity>"
                                           "<target><format type='qcow2'/></target></volume>"), 'dir')
    assert xmlu.find_path(got, 'capacity')[0].text == '0'
    # the formats of a disk pool are partition types
    got = canon.volume_document(xmlu.parse("<volume><name>p1</name><capacity>1048576</capacity>"
                                           "<target><format type='linux'/></target></volume>"), 'disk')
    assert got is not None and xmlu.find_path(got, 'target/format')[0].get('type') == 'linux'


def test_volume_document_refused_and_fallback():
    luks = xmlu.parse("<volume><name>v</name><capacity>1</capacity><target><format type='luks'/></target></volume>")
    assert canon.volume_document(luks, 'dir') is None
    with pytest.raises(ValidationError) as err:
        canon.volume_document(luks, 'dir', 'volumes[0].xml', strict=True)
    assert err.value.option == 'volumes[0].xml'
    assert err.value.msg == ('volumes[0].xml: libvirt refuses this document: unsupported configuration: unknown volume '
                             'format type luks')
    # no capacity: left to the caller (the daemon takes a backing store's)
    assert canon.volume_document(xmlu.parse('<volume><name>v</name></volume>'), 'dir', strict=True) is None


def test_extension_problems_and_comparable():
    desired = xmlu.parse("""<pool type='rbd' xmlns:rbd='http://libvirt.org/schemas/storagepool/source/rbd/1.0'>
        <name>p</name><rbd:config_opts><rbd:option name='a' value='1'/></rbd:config_opts></pool>""")
    stored = xmlu.parse("<pool type='rbd'><name>p</name></pool>")
    assert canon.extension_problems(desired, stored) == [
        'xml: libvirt did not store <rbd:config_opts> (its storage backend does not take it here); the definition '
        'holds everything else']
    assert canon.extension_problems(desired, desired) == []
    # not compared when the live pool lacks the namespace and the type is not known to keep it
    assert xmlu.equal(canon.comparable_extensions(desired, stored, ()), stored)
    # compared when the type keeps that namespace, or the live pool holds it
    assert not xmlu.equal(canon.comparable_extensions(desired, stored,
                                                      ('http://libvirt.org/schemas/storagepool/source/rbd/1.0',)),
                          stored)
    assert canon.comparable_extensions(desired, desired, ()) is desired


# ---- the pool manager with canonical documents (fake daemon) -------------------------------------------
def pool_plan(conn, **given):
    # not local: the directories of these definitions are not on this machine, and no probe is wanted here
    manager = PoolManager(conn, pool_params(**given), False)
    return manager.plan(manager.read())


STORED_DIR = """<pool type='dir'><name>images</name><uuid>70a7eb15-6c34-ee9c-bf57-69e8e5ff3fb2</uuid>
  <capacity unit='bytes'>0</capacity><allocation unit='bytes'>0</allocation><available unit='bytes'>0</available>
  <source>
  </source>
  <target><path>/var/lib/libvirt/images</path><permissions><mode>0700</mode><label>some_label_t</label>
  </permissions></target></pool>"""
GIVEN_DIR = """<pool type='dir'><name>images</name><source></source><target>
  <path>///var/////lib/libvirt/images//</path><permissions><mode>0700</mode><owner>-1</owner><group>-1</group>
  <label>some_label_t</label></permissions></target></pool>"""
RBD_NS = 'http://libvirt.org/schemas/storagepool/source/rbd/1.0'
STORED_RBD = """<pool type='rbd'><name>ceph</name><source><host name='localhost' port='6789'/><name>rbd</name></source>
  </pool>"""
GIVEN_RBD = """<pool type='rbd' xmlns:rbd='%s'><name>ceph</name><source><name>rbd</name>
  <host name='localhost' port='6789'/></source><rbd:config_opts><rbd:option name='a' value='1'/></rbd:config_opts>
  </pool>""" % RBD_NS


def test_xml_rewritten_by_libvirt_is_no_change():
    conn = FakeConn()
    conn.add_pool(STORED_DIR, active=True)
    plan = pool_plan(conn, name='images', xml=GIVEN_DIR)
    assert plan.actions == []


def test_xml_rewritten_by_libvirt_was_a_change_without_the_canonicalizer(monkeypatch):
    """The guard: without libvirt's parser the same document redefines and restarts the pool."""
    monkeypatch.setattr(canon, 'pool_document', lambda root, option='xml', strict=False: root)
    conn = FakeConn()
    conn.add_pool(STORED_DIR, active=True)
    assert pool_plan(conn, name='images', xml=GIVEN_DIR).actions == ['redefine', 'restart']


def test_xml_pool_without_type():
    with pytest.raises(ValidationError) as err:
        pool_plan(FakeConn(), name='images', xml='<pool><name>images</name></pool>')
    assert err.value.option == 'xml'
    assert err.value.msg == ('xml: <pool> needs a type attribute; accepted: dir, fs, netfs, logical, disk, iscsi, '
                             'iscsi-direct, scsi, mpath, rbd, gluster, zfs, vstorage')


def test_xml_extension_the_daemon_drops_is_not_compared():
    conn = FakeConn()
    conn.add_pool(STORED_RBD, active=True)
    assert pool_plan(conn, name='ceph', xml=GIVEN_RBD).actions == []


def test_xml_extension_the_type_keeps_is_compared():
    conn = FakeConn()
    conn.add_pool("<pool type='netfs'><name>nfs</name><source><host name='h'/><dir path='/e'/><format type='nfs'/>"
                  "</source><target><path>/mnt/nfs</path></target></pool>", active=False)
    given = ("<pool type='netfs' xmlns:fs='http://libvirt.org/schemas/storagepool/fs/1.0'><name>nfs</name><source>"
             "<host name='h'/><dir path='/e/'/><format type='nfs'/></source><target><path>/mnt/nfs</path></target>"
             "<fs:mount_opts><fs:option name='nfsvers=4.2'/></fs:mount_opts></pool>")
    plan = pool_plan(conn, name='nfs', xml=given, state='present')
    assert plan.actions == ['redefine']
    assert 'fs:mount_opts' in plan.diff['after'] and "path=\"/e\"" in plan.diff['after']


def test_define_warns_once_when_the_daemon_drops_an_extension():
    conn = FakeConn()
    plan = pool_plan(conn, name='ceph', xml=GIVEN_RBD, state='present')
    assert plan.actions == ['define'] and plan.warnings == []
    stored = []
    real_define = conn.storagePoolDefineXML

    def dropping_define(text, flags):
        root = xmlu.parse(text)
        for el in [el for el in root if xmlu.local_name(el) == 'rbd:config_opts']:
            root.remove(el)
        stored.append(text)
        return real_define(xmlu.to_string(root, pretty=False), flags)
    conn.storagePoolDefineXML = dropping_define
    engine.apply(plan, False)
    assert plan.warnings == ['xml: libvirt did not store <rbd:config_opts> (its storage backend does not take it '
                             'here); the definition holds everything else']
    assert 'config_opts' in stored[0]
    assert pool_plan(conn, name='ceph', xml=GIVEN_RBD, state='present').actions == []
