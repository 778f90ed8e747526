"""Volume input: the same checks for a single volume and for each item of ``volumes``, made before
libvirt is touched; names, sizes, sources smaller than the capacity, paths compared normalized."""

import pytest

from fakes import dir_pool_xml
from volume_fakes import MIB, FakeVolConn, volume_params, volume_xml
from ansible_collections.kvmops.storage.plugins.module_utils import volume as volmod
from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError
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
    conn = FakeVolConn()
    conn.add_pool(dir_pool_xml(name=POOL, path=DIR), active=True)
    mgr = VolumeManager(conn, volume_params(pool=POOL, format='qcow2', capacity='1M', volumes=[
        {'name': 'v', 'xml': VALUES['xml']}, {'name': 'w'}]), False)
    plan = mgr.plan(mgr.read())
    assert plan.actions == ['create:v', 'create:w']
    formats = dict((r.name, r.format) for r in mgr.requests)
    assert formats == {'v': None, 'w': 'qcow2'}


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
    manager(state='absent', volumes=[{'name': 'a', 'wipe': 'zero'}])


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
    conn = FakeVolConn()
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
    conn = FakeVolConn()
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


def test_volume_fakes_import():
    assert volume_xml('x', MIB)
