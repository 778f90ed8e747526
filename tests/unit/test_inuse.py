"""inuse.InUse: how domains, overlays and pools are matched to a volume or a secret (fake libvirt, real files)."""

import os
import stat

import pytest

from fake_libvirt import GIB, FakeConn, FakeDomain, dir_pool_xml, pool_params, volume_xml
from ansible_collections.kvmops.storage.plugins.module_utils import inuse
from ansible_collections.kvmops.storage.plugins.module_utils.errors import RefusedError
from ansible_collections.kvmops.storage.plugins.module_utils.pool import PoolManager
from ansible_collections.kvmops.storage.plugins.module_utils.inuse import DomainUse, InUse, path_keys

DOMAIN = "<domain type='qemu'><name>%s</name><devices>%s</devices></domain>"


def disk(source, kind='file', inner=''):
    return "<disk type='%s' device='disk'><source %s>%s</source>%s</disk>" % (
        kind, ' '.join("%s='%s'" % item for item in sorted(source.items())), '', inner)


def domain(conn, name, *devices, running=False):
    conn.domains.append(FakeDomain(conn, DOMAIN % (name, ''.join(devices)), active=running))


def pool_xml(name, path):
    return ("<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>" % (name, path))


@pytest.fixture
def conn():
    return FakeConn()


def vol(name, path, vol_type='file'):
    return {'name': name, 'path': path, 'type': vol_type}


# ---- paths ------------------------------------------------------------------------------------

def test_a_path_through_a_symlinked_directory_is_the_same_file(conn, tmp_path):
    real = tmp_path / 'images'
    real.mkdir()
    (real / 'a.raw').write_bytes(b'')
    (tmp_path / 'link').symlink_to(real)
    domain(conn, 'web', disk({'file': str(tmp_path / 'link' / 'a.raw')}))
    domain(conn, 'other', disk({'file': str(real / 'b.raw')}))
    assert InUse(conn).domains_of('p', vol('a.raw', str(real / 'a.raw'))) == [DomainUse('web', False)]


def test_paths_are_compared_as_text_only_when_remote(conn, tmp_path):
    real = tmp_path / 'images'
    real.mkdir()
    (real / 'a.raw').write_bytes(b'')
    (tmp_path / 'link').symlink_to(real)
    domain(conn, 'web', disk({'file': str(tmp_path / 'link' / 'a.raw')}))
    domain(conn, 'plain', disk({'file': str(real) + '//./a.raw'}))
    assert InUse(conn, is_local=False).domains_of('p', vol('a.raw', str(real / 'a.raw'))) == [DomainUse('plain', False)]


def test_a_hard_link_is_the_same_file(conn, tmp_path):
    (tmp_path / 'a.raw').write_bytes(b'')
    os.link(str(tmp_path / 'a.raw'), str(tmp_path / 'b.raw'))
    domain(conn, 'web', disk({'file': str(tmp_path / 'b.raw')}))
    assert [u.name for u in InUse(conn).domains_of('p', vol('a.raw', str(tmp_path / 'a.raw')))] == ['web']


def test_a_block_device_is_matched_by_its_device_number(conn, monkeypatch):
    """/dev/disk/by-id/..., /dev/mapper/... or a node made with mknod: another name of the same device."""
    real_stat = os.stat
    devices = {'/dev/sdb1': os.makedev(8, 17), '/dev/disk/by-id/wwn-0x5000-part1': os.makedev(8, 17),
               '/dev/sdb2': os.makedev(8, 18)}

    def fake_stat(path, *args, **kwargs):
        if path in devices:
            return _blk(devices[path])
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(inuse.os, 'stat', fake_stat)
    domain(conn, 'db', disk({'dev': '/dev/disk/by-id/wwn-0x5000-part1'}, kind='block'))
    domain(conn, 'other', disk({'dev': '/dev/sdb2'}, kind='block'))
    assert InUse(conn).domains_of('sdb', vol('sdb1', '/dev/sdb1', 'block')) == [DomainUse('db', False)]


class _blk:
    """An os.stat result of a block device."""

    def __init__(self, rdev):
        self.st_mode = stat.S_IFBLK | 0o660
        self.st_rdev = rdev
        self.st_dev = 5
        self.st_ino = rdev


def test_path_keys():
    assert path_keys('/no/such//dir/./x.raw', False) == frozenset([('path', '/no/such/dir/x.raw')])
    assert ('path', '/no/such/dir/x.raw') in path_keys('/no/such//dir/./x.raw', True)
    assert path_keys(None, True) == frozenset()


# ---- pool/volume, network names, running state ---------------------------------------------------------

def test_pool_volume_source_and_running_state(conn):
    domain(conn, 'web', disk({'pool': 'images', 'volume': 'a.raw'}, kind='volume'), running=True)
    domain(conn, 'wrong-pool', disk({'pool': 'other', 'volume': 'a.raw'}, kind='volume'))
    assert InUse(conn).domains_of('images', vol('a.raw', '/x/a.raw')) == [DomainUse('web', True)]


def test_rbd_image_by_name_and_by_snapshot(conn):
    domain(conn, 'a', disk({'protocol': 'rbd', 'name': 'vms/img'}, kind='network'))
    domain(conn, 'b', disk({'protocol': 'rbd', 'name': 'vms/img@backup'}, kind='network'))
    domain(conn, 'c', disk({'protocol': 'rbd', 'name': 'vms/img2'}, kind='network'))
    found = InUse(conn).domains_of('ceph', vol('img', 'vms/img', 'network'))
    assert [u.name for u in found] == ['a', 'b']


def test_backing_chain_of_a_running_domain_and_its_next_boot_definition(conn):
    live = DOMAIN % ('vm', "<disk type='file'><source file='/p/top.qcow2'/><backingStore type='file'>"
                           "<source file='/p/base.qcow2'/></backingStore></disk>")
    dom = FakeDomain(conn, live, active=True)
    inactive = DOMAIN % ('vm', disk({'file': '/q/next.raw'}))
    dom.XMLDesc = lambda flags=0: inactive if flags & 2 else live
    conn.domains.append(dom)
    users = InUse(conn, is_local=False)
    assert users.domains_of('p', vol('base.qcow2', '/p/base.qcow2')) == [DomainUse('vm', True)]
    assert users.domains_of('q', vol('next.raw', '/q/next.raw')) == [DomainUse('vm', True)]


def test_domains_are_read_once(conn):
    domain(conn, 'web', disk({'file': '/p/a.raw'}))
    users = InUse(conn, is_local=False)
    for name in ('a.raw', 'b.raw', 'c.raw'):
        users.domains_of('p', vol(name, '/p/' + name))
    assert conn.methods().count('listAllDomains') == 1


def test_no_volume_path_is_resolved_while_no_domain_names_storage(conn, monkeypatch):
    resolved = []
    monkeypatch.setattr(inuse, 'path_keys', lambda path, is_local: resolved.append(path) or frozenset())
    users = InUse(conn)
    assert users.domains_of('p', vol('a.raw', '/p/a.raw')) == []
    assert resolved == []
    domain(conn, 'web', "<disk type='network' device='disk'><source protocol='rbd' name='vms/img'/></disk>")
    users = InUse(conn)
    assert users.domains_of('p', vol('a.raw', '/p/a.raw')) == []
    assert resolved == ['/p/a.raw']


# ---- backing chains across pools -----------------------------------------------------------------------

def test_overlays_in_other_pools_and_chains_of_chains(conn):
    a = conn.add_pool(pool_xml('a', '/a'), active=True)
    b = conn.add_pool(pool_xml('b', '/b'), active=True)
    c = conn.add_pool(pool_xml('c', '/c'), active=False)
    a.add(volume_xml('base', GIB, 'qcow2', path='/a/base'))
    b.add(volume_xml('mid', GIB, 'qcow2', path='/b/mid', backing='/a/base'))
    a.add(volume_xml('top', GIB, 'qcow2', path='/a/top', backing='/b/mid'))
    b.add(volume_xml('elsewhere', GIB, 'qcow2', path='/b/elsewhere', backing='/a/other'))
    c.add(volume_xml('hidden', GIB, 'qcow2', path='/c/hidden', backing='/a/base'))
    domain(conn, 'vm', disk({'file': '/a/top'}))
    found = InUse(conn, is_local=False).overlays_of(vol('base', '/a/base'))
    assert [(o.pool, o.name, o.domains) for o in found] == [('b', 'mid', []), ('a', 'top', [DomainUse('vm', False)])]
    assert InUse(conn, is_local=False).overlays_of(vol('base', '/a/base'), skip={('b', 'mid')}) == []


# ---- pools ------------------------------------------------------------------------------------------

def test_pool_users_by_volume_pool_name_and_directory(conn):
    domain(conn, 'a', disk({'file': '/images/one.raw'}), running=True)
    domain(conn, 'b', disk({'pool': 'images', 'volume': 'two.raw'}, kind='volume'))
    domain(conn, 'c', disk({'file': '/images/unlisted.raw'}))
    domain(conn, 'd', disk({'file': '/elsewhere/one.raw'}))
    volumes = [vol('one.raw', '/images/one.raw'), vol('two.raw', '/images/two.raw')]
    users = InUse(conn, is_local=False)
    assert users.pool_users('images', volumes, ['/images']) == [
        (DomainUse('a', True), ['one.raw']), (DomainUse('b', False), ['two.raw']),
        (DomainUse('c', False), ['/images/unlisted.raw'])]
    assert [use.name for use, _what in users.pool_users('images', volumes)] == ['a', 'b']


# ---- secrets ----------------------------------------------------------------------------------------

UUID = '0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01'


def secret_conn():
    conn = FakeConn()
    conn.add_pool(pool_xml('plain', '/p'))
    conn.add_pool("<pool type='rbd'><name>by-uuid</name><source><name>vms</name><auth type='ceph' username='u'>"
                  "<secret uuid='%s'/></auth></source></pool>" % UUID.upper())
    conn.add_pool("<pool type='rbd'><name>by-usage</name><source><name>vms</name><auth type='ceph' username='u'>"
                  "<secret usage='client.u secret'/></auth></source></pool>", active=False)
    conn.add_pool("<pool type='iscsi'><name>chap</name><source><auth type='chap' username='u'>"
                  "<secret usage='client.u secret'/></auth></source></pool>")
    return conn


def test_pools_naming_a_secret_by_uuid_or_by_usage_of_its_type():
    conn = secret_conn()
    assert InUse(conn).secret_users(UUID, 'none', None) == (['by-uuid'], [])
    assert InUse(conn).secret_users('11111111-2222-3333-4444-555555555555', 'ceph', 'client.u secret') == (
        ['by-usage'], [])
    assert InUse(conn).secret_users('11111111-2222-3333-4444-555555555555', 'iscsi', 'client.u secret') == (
        ['chap'], [])


def test_domains_naming_a_secret():
    conn = secret_conn()
    conn.domains.append(FakeDomain(conn, DOMAIN % ('rbd-auth', disk(
        {'protocol': 'rbd', 'name': 'vms/x'}, 'network',
        "<auth username='u'><secret type='ceph' usage='client.u secret'/></auth>"))))
    conn.domains.append(FakeDomain(conn, DOMAIN % ('luks', disk(
        {'file': '/p/x'}, 'file', "<encryption format='luks'><secret type='passphrase' uuid='%s'/></encryption>"
        % UUID)), active=True))
    conn.domains.append(FakeDomain(conn, DOMAIN % ('tpm', "<tpm model='tpm-crb'><backend type='emulator'>"
                                                          "<encryption secret='%s'/></backend></tpm>" % UUID)))
    conn.domains.append(FakeDomain(conn, DOMAIN % ('iscsi-usage', disk(
        {'protocol': 'iscsi', 'name': 'iqn/1'}, 'network',
        "<auth username='u'><secret type='iscsi' usage='client.u secret'/></auth>"))))
    assert InUse(conn).secret_users(UUID, 'volume', '/p/x')[1] == [DomainUse('luks', True), DomainUse('tpm', False)]
    assert InUse(conn).secret_users('11111111-2222-3333-4444-555555555555', 'ceph', 'client.u secret')[1] == [
        DomainUse('rbd-auth', False)]


# ---- the pool manager asks it -------------------------------------------------------------------------

def pool_plan(conn, **given):
    manager = PoolManager(conn, pool_params(**given), False)
    return manager.plan(manager.read())


@pytest.fixture
def pool_conn():
    conn = FakeConn()
    conn.add_pool(dir_pool_xml(mode='0755'), active=True, volumes=['a.qcow2', 'b.qcow2'])
    domain(conn, 'web', disk({'file': '/var/lib/libvirt/images/a.qcow2'}), running=True)
    domain(conn, 'old', disk({'pool': 'images', 'volume': 'b.qcow2'}, kind='volume'))
    return conn


def test_restart_refused_while_a_running_domain_uses_the_pool(pool_conn):
    args = dict(name='images', type='dir', target='/var/lib/libvirt/images', target_mode='0711')
    with pytest.raises(RefusedError) as info:
        pool_plan(pool_conn, **args)
    assert 'running domain(s) use its storage: web (running): a.qcow2. Nothing was changed' in info.value.msg
    assert 'on_change=redefine_only' in info.value.msg and info.value.details['domains'] == ['web']
    assert pool_conn.mutations() == []
    assert pool_plan(pool_conn, force_in_use=True, **args).actions == ['redefine', 'restart']
    assert pool_plan(pool_conn, on_change='redefine_only', **args).actions == ['redefine']
    pool_conn.domains[0].active = False
    assert pool_plan(pool_conn, **args).actions == ['redefine', 'restart'], 'only running domains block a restart'


def test_deleted_with_force_refuses_volumes_of_running_domains(pool_conn):
    with pytest.raises(RefusedError) as info:
        pool_plan(pool_conn, name='images', state='deleted', force=True)
    assert info.value.msg.startswith('pool images: running domain(s) use its storage: web (running): a.qcow2; '
                                     'force=true does not delete the disks of running domains.'), info.value.msg
    # (the real run's listing of the volumes for state=deleted refreshes the pool; nothing else is called)
    assert pool_conn.mutations() == ['refresh']
    plan = pool_plan(pool_conn, name='images', state='deleted', force=True, force_in_use=True)
    assert plan.actions == ['refresh', 'delete_volume:a.qcow2', 'delete_volume:b.qcow2', 'stop', 'delete', 'undefine']
    assert plan.warnings == [
        'pool images: deleting storage that running domain(s) use (force_in_use): web (running): a.qcow2',
        'pool images: deleting storage that defined domain(s) use (they are not running): old: b.qcow2']
    pool_conn.domains[0].active = False
    plan = pool_plan(pool_conn, name='images', state='deleted', force=True)
    assert plan.warnings == ['pool images: deleting storage that defined domain(s) use (they are not running): '
                             'old: b.qcow2; web: a.qcow2']
    with pytest.raises(RefusedError) as info:
        pool_plan(pool_conn, name='images', state='deleted', force_in_use=True)
    assert 'still holds 2 volume(s)' in info.value.msg, 'force_in_use alone does not delete volumes'


def test_pool_users_name_a_disk_through_a_symlink_once(conn, tmp_path):
    real = tmp_path / 'images'
    real.mkdir()
    (real / 'a.raw').write_bytes(b'')
    (tmp_path / 'link').symlink_to(real)
    domain(conn, 'web', disk({'file': str(tmp_path / 'link' / 'a.raw')}))
    users = InUse(conn).pool_users('images', [vol('a.raw', str(real / 'a.raw'))], [str(real)])
    assert users == [(DomainUse('web', False), ['a.raw'])]


def test_deleted_with_force_names_overlays_in_other_pools_and_refuses_those_of_running_domains(pool_conn):
    pool_conn.domains[0].active = False
    other = pool_conn.add_pool(pool_xml('other', '/other'), active=True)
    other.add(volume_xml('ov.qcow2', GIB, 'qcow2', path='/other/ov.qcow2', backing='/var/lib/libvirt/images/b.qcow2'))
    other.add(volume_xml('top.qcow2', GIB, 'qcow2', path='/other/top.qcow2', backing='/other/ov.qcow2'))
    other.add(volume_xml('alone.qcow2', GIB, 'qcow2', path='/other/alone.qcow2', backing='/other/base.qcow2'))
    plan = pool_plan(pool_conn, name='images', state='deleted', force=True)
    assert plan.warnings[-1] == ('pool images: deleting the backing store of volume(s) of other pools, which cannot '
                                 'be read without it: ov.qcow2 (pool other), top.qcow2 (pool other)')
    domain(pool_conn, 'vm', disk({'file': '/other/top.qcow2'}), running=True)
    with pytest.raises(RefusedError) as info:
        pool_plan(pool_conn, name='images', state='deleted', force=True)
    assert info.value.msg.startswith(
        'pool images: running domain(s) use volume(s) of other pools whose backing store is in it: top.qcow2 '
        '(pool other, used by domain(s) vm (running)); force=true does not delete the disks of running domains.'
    ), info.value.msg
    assert info.value.details['domains'] == ['vm']
    plan = pool_plan(pool_conn, name='images', state='deleted', force=True, force_in_use=True)
    assert plan.warnings[-1].endswith('ov.qcow2 (pool other), top.qcow2 (pool other, used by domain(s) vm (running))')
