"""Volume input: the same checks for a single volume and for each item of ``volumes``, made before
libvirt is touched; names, sizes, sources smaller than the capacity, paths compared normalized."""

import pytest

from fake_libvirt import MIB, FakeConn, dir_pool_xml, logical_pool_xml, volume_params, volume_xml
from ansible_collections.kvmops.storage.plugins.module_utils import volume as volmod
from ansible_collections.kvmops.storage.plugins.module_utils.backends import logical
from ansible_collections.kvmops.storage.plugins.module_utils.backends.logical import extent_bound
from ansible_collections.kvmops.storage.plugins.module_utils.errors import RefusedError, ValidationError
from ansible_collections.kvmops.storage.plugins.module_utils.volume import (
    EXCLUSIVE_OPTIONS,
    TYPED_VOLUME_OPTIONS,
    VolumeManager,
    validate_item,
)

POOL = 'images'
DIR = '/var/lib/libvirt/images'

# one value per option that is valid alone
VALUES = {
    'xml': '<volume><name>v</name><capacity>1048576</capacity></volume>',
    'capacity': '1G', 'allocation': 0, 'preallocation': 'full', 'format': 'qcow2',
    'backing_store': {'path': DIR + '/base.qcow2', 'format': None},
    'clone_from': {'name': 'golden', 'pool': None},
    'content': {'src': '/srv/images/x.img', 'checksum': None},
    'mode': '0600', 'owner': 0, 'group': 0,
    'encryption': {'format': None, 'secret_uuid': None, 'secret_usage': 'luks-key'},
}


class NoConn:
    """A connection the tested code must not use: every attribute access fails the test."""

    def __getattr__(self, name):
        raise AssertionError('libvirt was used before the input was checked: %s' % name)


def manager(**given):
    given.setdefault('pool', POOL)
    return VolumeManager(NoConn(), volume_params(**given), False)


def test_the_table_covers_xml_with_every_typed_option():
    pairs = set((first, second) for first, second, _why in EXCLUSIVE_OPTIONS)
    assert set(('xml', option) for option in TYPED_VOLUME_OPTIONS) <= pairs
    assert {('allocation', 'preallocation'), ('clone_from', 'content'), ('clone_from', 'backing_store'),
            ('content', 'backing_store')} <= pairs
    assert volmod.MUTUALLY_EXCLUSIVE == [['name', 'volumes']]


@pytest.mark.parametrize('first, second, why', EXCLUSIVE_OPTIONS)
def test_single_volume_conflicts_are_refused(first, second, why):
    with pytest.raises(ValidationError) as info:
        manager(name='v', **{first: VALUES[first], second: VALUES[second]})
    assert info.value.option == first
    assert info.value.msg == '%s and %s cannot be given together: %s' % (first, second, why)


@pytest.mark.parametrize('first, second, why', EXCLUSIVE_OPTIONS)
def test_bulk_item_conflicts_are_refused_like_a_single_volume(first, second, why):
    items = [{'name': 'a', 'capacity': '1G'}, {'name': 'v', first: VALUES[first], second: VALUES[second]}]
    with pytest.raises(ValidationError) as info:
        manager(volumes=items)
    assert info.value.option == 'volumes[1].%s' % first
    assert info.value.msg == 'volumes[1].%s and volumes[1].%s cannot be given together: %s' % (first, second, why)


def test_bulk_top_level_conflicts_are_refused():
    with pytest.raises(ValidationError) as info:
        manager(allocation=0, preallocation='falloc', volumes=[{'name': 'a', 'capacity': '1G'}])
    assert info.value.msg.startswith('allocation and preallocation cannot be given together: ')


def test_bulk_top_level_xml_is_refused():
    with pytest.raises(ValidationError) as info:
        manager(xml=VALUES['xml'], volumes=[{'name': 'v'}])
    assert info.value.option == 'xml'
    assert info.value.msg == ("xml describes one volume (its <name> is the volume's); with volumes, give xml in "
                              "the items it describes")


@pytest.mark.parametrize('default, item_option', [
    ('format', 'xml'), ('capacity', 'xml'), ('allocation', 'preallocation'), ('preallocation', 'allocation'),
    ('content', 'clone_from'), ('clone_from', 'content'), ('backing_store', 'clone_from'),
    ('backing_store', 'content'), ('content', 'backing_store'),
])
def test_an_item_option_overrides_a_task_default_it_excludes(default, item_option):
    """A default the item's own option excludes is not inherited: not a conflict."""
    values = validate_item({'name': 'v', item_option: VALUES[item_option]},
                           {default: VALUES[default], 'state': 'present'}, 'volumes[0]')
    assert default not in values
    assert values[item_option] == VALUES[item_option] and values['state'] == 'present'


def test_an_item_keeps_the_defaults_it_does_not_exclude():
    values = validate_item({'name': 'v', 'preallocation': 'full'},
                           {'format': 'qcow2', 'capacity': '2G', 'allocation': 0, 'state': 'present'}, 'volumes[0]')
    assert values == {'name': 'v', 'preallocation': 'full', 'format': 'qcow2', 'capacity': '2G',
                      'state': 'present'}


def test_bulk_item_with_xml_and_a_top_level_format_plans():
    conn = FakeConn()
    conn.add_pool(dir_pool_xml(name=POOL, path=DIR), active=True)
    mgr = VolumeManager(conn, volume_params(pool=POOL, format='qcow2', capacity='1M', volumes=[
        {'name': 'v', 'xml': VALUES['xml']}, {'name': 'w'}]), False)
    plan = mgr.plan(mgr.read())
    assert plan.actions == ['refresh', 'create:v', 'create:w']  # remote: a refresh shows files made outside libvirt
    formats = dict((r.name, r.format) for r in mgr.requests)
    # v keeps what its document says (libvirt's parser writes raw for a file volume), not the task's qcow2
    assert formats == {'v': 'raw', 'w': 'qcow2'}


def test_single_wipe_without_absent():
    with pytest.raises(ValidationError) as info:
        manager(name='v', wipe='zero')
    assert (info.value.option, info.value.msg) == ('wipe', 'wipe runs before a volume is deleted: it needs state=absent')


def test_bulk_item_wipe_without_absent_is_refused():
    with pytest.raises(ValidationError) as info:
        manager(volumes=[{'name': 'a', 'state': 'absent', 'wipe': 'zero'}, {'name': 'b', 'wipe': 'zero'}])
    assert info.value.option == 'volumes[1].wipe'
    assert info.value.msg == 'volumes[1].wipe runs before a volume is deleted: it needs state=absent'


def test_bulk_item_wipe_with_a_top_level_absent_passes():
    items = manager(state='absent', volumes=[{'name': 'a', 'wipe': 'zero'}]).items
    assert [(prefix, values['name'], values['state'], values['wipe']) for prefix, values in items] == [
        ('volumes[0]', 'a', 'absent', 'zero')], 'the item takes the task\'s state with its own wipe'


def test_bulk_top_level_wipe_needs_an_item_to_delete():
    with pytest.raises(ValidationError) as info:
        manager(wipe='zero', volumes=[{'name': 'a', 'capacity': '1G'}, {'name': 'b', 'capacity': '1G'}])
    assert info.value.option == 'wipe'
    assert info.value.msg == ('wipe runs before a volume is deleted: it needs state=absent (on the task or on the '
                              'items to delete)')
    # one item deleted: the wipe is its default
    manager(wipe='zero', volumes=[{'name': 'a', 'capacity': '1G'}, {'name': 'b', 'state': 'absent'}])


@pytest.mark.parametrize('given, option', [
    (dict(name='v', capacity=1.5), 'capacity'),
    (dict(volumes=[{'name': 'v', 'capacity': '1.5'}]), 'volumes[0].capacity'),
    (dict(capacity='1.5', volumes=[{'name': 'v'}]), 'volumes[0].capacity'),
])
def test_unitless_fraction_is_refused_naming_the_option(given, option):
    conn = FakeConn()
    pool = conn.add_pool(dir_pool_xml(name=POOL, path=DIR), active=True)
    mgr = VolumeManager(conn, volume_params(pool=POOL, **given), False)
    with pytest.raises(ValidationError) as info:
        mgr.plan(mgr.read())
    assert info.value.option == option
    assert info.value.msg.startswith("%s: 1.5 has no unit" % option) or info.value.msg.startswith(
        "%s: '1.5' has no unit" % option)
    assert 'e.g. 1.5G' in info.value.msg
    assert conn.mutations() == [] and pool.volumes == {}


@pytest.mark.parametrize('name', ['.', '..', 'a\x00b', 'a\nb'])
def test_bad_volume_names_are_refused_for_items_too(name):
    conn = FakeConn()
    conn.add_pool(dir_pool_xml(name=POOL, path=DIR), active=True)
    mgr = VolumeManager(conn, volume_params(pool=POOL, capacity='1M', volumes=[{'name': 'ok'}, {'name': name}]), False)
    with pytest.raises(ValidationError) as info:
        mgr.read()
    assert info.value.option == 'volumes[1].name'
    assert conn.mutations() == []


def test_a_pool_name_with_a_nul_is_refused_before_libvirt():
    with pytest.raises(ValidationError) as info:
        manager(pool='a\x00b', name='v', capacity='1M')
    assert info.value.option == 'pool'
    assert info.value.msg == ("pool 'a\\x00b' is not valid: it contains the control character '\\x00'; a name is "
                              "printable text")


# ---- volumes made from a source: refused on the first run when the second would see a shrink ------

@pytest.fixture
def conn():
    return FakeConn()


@pytest.fixture
def pool(conn):
    return conn.add_pool(dir_pool_xml(name=POOL, path=DIR), active=True)


def plan_for(conn, is_local=False, **given):
    given.setdefault('pool', POOL)
    mgr = VolumeManager(conn, volume_params(**given), is_local)
    return mgr.plan(mgr.read())


def test_clone_below_the_source_size_is_refused(conn, pool):
    pool.add(volume_xml('base', 20 * MIB))
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='c', capacity='10M', clone_from={'name': 'base', 'pool': None})
    assert info.value.option == 'capacity'
    assert info.value.msg == ('capacity 10 MiB (10485760 bytes) is less than the 20 MiB of clone_from images/base '
                              '(20971520 bytes): a clone is at least as large as its source, so the volume would be '
                              'larger than the task says; leave capacity out or give at least 20971520 bytes. '
                              'Nothing was changed')
    assert [m for m in conn.mutations() if m != 'refresh'] == []  # the read of a real run refreshes


@pytest.mark.parametrize('capacity, actions', [('20M', ['refresh', 'clone']), ('30M', ['refresh', 'clone', 'resize']),
                                               (20 * MIB - 100, ['refresh', 'clone'])])
def test_clone_at_or_above_the_source_size_or_within_rounding_plans(conn, pool, capacity, actions):
    # qcow2 rounds to 512 bytes: a capacity 100 bytes below the source is the source's size on the next run
    pool.add(volume_xml('base', 20 * MIB, fmt='qcow2'))
    assert plan_for(conn, name='c', capacity=capacity, clone_from={'name': 'base', 'pool': None}).actions == actions


def test_clone_into_a_bulk_item_names_the_item(conn, pool):
    pool.add(volume_xml('base', 20 * MIB))
    with pytest.raises(ValidationError) as info:
        plan_for(conn, capacity='1M', volumes=[{'name': 'a'}, {'name': 'c', 'clone_from': {'name': 'base'}}])
    assert info.value.option == 'volumes[1].capacity'
    assert info.value.msg.startswith('volumes[1].capacity 1 MiB (1048576 bytes) is less than the 20 MiB of ')


def test_upload_to_a_block_pool_below_the_file_size_is_refused(conn, tmp_path):
    conn.add_pool(logical_pool_xml('vg0'), active=True)
    src = tmp_path / 'disk.raw'
    src.write_bytes(b'x' * (10 * MIB))
    with pytest.raises(ValidationError) as info:
        plan_for(conn, pool='vg0', name='lv', capacity='1M', content={'src': str(src), 'checksum': None})
    assert info.value.option == 'capacity'
    assert info.value.msg == ('capacity 1 MiB (1048576 bytes) is less than the 10 MiB of content.src %s (10485760 '
                              'bytes): the file is written whole, so the volume would be larger than the task says; '
                              'leave capacity out or give at least 10485760 bytes. Nothing was changed' % src)
    # within the 4 MiB extents the volume is rounded to anyway: planned, at the file's size
    plan = plan_for(conn, pool='vg0', name='lv', capacity='7M', content={'src': str(src), 'checksum': None})
    assert plan.actions == ['refresh', 'create', 'upload']
    assert [m for m in conn.mutations() if m != 'refresh'] == []  # the read of a real run refreshes


def test_backing_store_path_is_normalized_and_compared_normalized(conn, pool):
    pool.add(volume_xml('base.qcow2', 8 * MIB, fmt='qcow2'))
    mgr = VolumeManager(conn, volume_params(pool=POOL, name='top', backing_store={
        'path': '//var/lib//libvirt/./images/base.qcow2/', 'format': None}), False)
    assert mgr.plan(mgr.read()).actions == ['refresh', 'create']
    assert mgr.requests[0].backing_store == {'path': DIR + '/base.qcow2', 'format': 'qcow2'}
    # an overlay whose live backing store is spelled with // still matches a clean path, and the other way round
    pool.add(volume_xml('top', 8 * MIB, fmt='qcow2', backing=DIR + '//base.qcow2'))
    for spelled in (DIR + '/base.qcow2', '/' + DIR + '/./base.qcow2'):
        assert plan_for(conn, name='top', backing_store={'path': spelled, 'format': None}).actions == []


def test_clean_path():
    clean = volmod._clean_path  # pylint: disable=protected-access
    assert clean('//var//lib/./x/') == '/var/lib/x'
    assert clean('///a/b/../c') == '/a/c'
    assert clean('/a') == '/a'


def test_content_src_is_not_read_for_a_volume_that_exists(conn, pool, tmp_path):
    pool.add(volume_xml('up.raw', MIB))
    gone = str(tmp_path / 'gone.raw')
    assert plan_for(conn, name='up.raw', content={'src': gone, 'checksum': None}).actions == []
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='new.raw', content={'src': gone, 'checksum': None})
    assert info.value.msg == 'content.src %r: no such file on the host running the module' % gone


# ---- LVM extents -----------------------------------------------------------------------------------

def test_extent_bound():
    assert extent_bound([str(1020 * MIB), str(508 * MIB)]) == 4 * MIB
    assert extent_bound([32 * 31 * MIB, 32 * 7 * MIB, 64 * MIB]) == 32 * MIB
    assert extent_bound([None, '', 'x', 0]) is None
    assert extent_bound([12 * MIB]) == 4 * MIB


def _lvm_with_sizes(conn, capacity, available, extent_mib=None):
    xml = logical_pool_xml('vg0').replace('</pool>', "<capacity unit='bytes'>%d</capacity><available unit='bytes'>"
                                          "%d</available></pool>" % (capacity, available))
    return conn.add_pool(xml, active=True)


@pytest.mark.parametrize('is_local', [False, True])
def test_logical_volume_on_32m_extents_is_no_shrink(conn, monkeypatch, is_local):
    """A VG of 31 extents of 32 MiB, 7 free; the LV of 40 MiB asked for is two extents."""
    lvm = _lvm_with_sizes(conn, 31 * 32 * MIB, 7 * 32 * MIB)
    lvm.add(volume_xml('lv', 64 * MIB, fmt=None, path='/dev/vg0/lv', vol_type='block'))
    probes = []

    def fake_probe(argv):
        probes.append(argv)
        return (0, '  %d\n' % (32 * MIB)) if argv[0] == 'vgs' else (None, '')
    monkeypatch.setattr(logical, 'run_probe', fake_probe)
    assert plan_for(conn, is_local, pool='vg0', name='lv', capacity='40M').actions == []
    assert probes == ([['vgs', '--noheadings', '--units', 'b', '--nosuffix', '-o', 'vg_extent_size', 'vg0']]
                      if is_local else [])
    # a whole extent less is a shrink still
    with pytest.raises(RefusedError):
        plan_for(conn, is_local, pool='vg0', name='lv', capacity='32M')


def test_logical_extent_read_from_the_host_wins_over_the_bound(conn, monkeypatch):
    # the sizes alone allow 64 MiB extents; vgs says 4 MiB: 40 MiB asked of a 64 MiB LV is a shrink
    lvm = _lvm_with_sizes(conn, 64 * 15 * MIB, 64 * 3 * MIB)
    lvm.add(volume_xml('lv', 64 * MIB, fmt=None, path='/dev/vg0/lv', vol_type='block'))
    monkeypatch.setattr(logical, 'run_probe', lambda argv: (0, str(4 * MIB)))
    with pytest.raises(RefusedError):
        plan_for(conn, True, pool='vg0', name='lv', capacity='40M')
    assert plan_for(conn, False, pool='vg0', name='lv', capacity='40M').actions == []


def test_logical_without_vgs_bounds_the_extent_by_what_libvirt_reports(conn, monkeypatch):
    lvm = conn.add_pool(logical_pool_xml('vg0'), active=True)
    lvm.add(volume_xml('lv', 64 * MIB, fmt=None, path='/dev/vg0/lv', vol_type='block'))
    monkeypatch.setattr(logical, 'run_probe', lambda argv: (None, ''))
    # no VG sizes in this definition: the volume's own size bounds the extent (64 MiB); with nothing at all, 4 MiB
    assert plan_for(conn, True, pool='vg0', name='lv', capacity='40M').actions == []
    backend = logical.LogicalBackend({'name': 'vg0'})
    assert backend.host_granularity(volmod.xmlu.parse(logical_pool_xml('vg0')), True) == 4 * MIB


def test_backing_store_path_of_an_xml_volume_is_compared_normalized(conn, pool):
    pool.add(volume_xml('top', 8 * MIB, fmt='qcow2', backing=DIR + '/base.qcow2'))
    xml = ("<volume><name>top</name><capacity>%d</capacity><target><format type='qcow2'/></target>"
           "<backingStore><path>/%s//./base.qcow2</path></backingStore></volume>" % (8 * MIB, DIR))
    assert plan_for(conn, name='top', xml=xml).actions == []
