"""VolumeManager.read/plan with fake libvirt pools, volumes and domains, then engine.apply on the fakes."""

import bz2
import gzip
import hashlib
import lzma
import struct

import libvirt
import pytest
from lxml import etree

from fake_libvirt import GIB, MIB, FakeConn, dir_pool_xml, libvirt_error, logical_pool_xml, volume_params, volume_xml
from ansible_collections.kvmops.storage.plugins.module_utils import engine
from ansible_collections.kvmops.storage.plugins.module_utils import volume as volmod
from ansible_collections.kvmops.storage.plugins.module_utils.errors import (
    OperationError,
    RefusedError,
    UnsupportedError,
    ValidationError,
)
from ansible_collections.kvmops.storage.plugins.module_utils.volume import (
    VolumeManager,
    item_options,
    sniff_image,
    volume_argument_spec,
)

POOL = 'images'
DIR = '/var/lib/libvirt/images'


@pytest.fixture
def conn():
    return FakeConn()


@pytest.fixture
def pool(conn):
    return conn.add_pool(dir_pool_xml(name=POOL, path=DIR), active=True)


@pytest.fixture
def lvm(conn):
    return conn.add_pool(logical_pool_xml('vg0'), active=True)


def make(conn, is_local=False, check_mode=False, **given):
    given.setdefault('pool', POOL)
    manager = VolumeManager(conn, volume_params(**given), is_local)
    manager.check_mode = check_mode  # as engine.reconcile sets it
    return manager, manager.read()


def plan_for(conn, is_local=False, check_mode=False, **given):
    manager, live = make(conn, is_local, check_mode, **given)
    return manager.plan(live)


def created_xml(conn, name):
    """The XML the manager handed to createXML for ``name``, parsed."""
    found = [args[1] for method, args in conn.calls if method == 'createXML' and args[0] == name]
    assert len(found) == 1, conn.calls
    return etree.fromstring(found[0].encode())


def qcow2_header(virtual_size):
    """The first bytes of a qcow2 v3 image: magic, version, backing offset/size, cluster bits, size."""
    return b'QFI\xfb' + struct.pack('>IQII', 3, 0, 0, 16) + struct.pack('>Q', virtual_size) + b'\0' * 72


# ---- argument spec ---------------------------------------------------------------------------------

def _defaults(options, prefix=''):
    found = []
    for key, spec in options.items():
        if 'default' in spec:
            found.append(prefix + key)
        if spec.get('options'):
            found.extend(_defaults(spec['options'], '%s%s.' % (prefix, key)))
    return found


def test_volumes_suboptions_have_no_defaults():
    items = volume_argument_spec()['volumes']['options']
    assert set(items) == set(item_options())
    assert _defaults(items) == []
    assert items['name'].get('required') is True


def test_top_level_defaults():
    spec = volume_argument_spec()
    defaults = dict((key, option['default']) for key, option in spec.items() if 'default' in option)
    assert defaults == {'state': 'present', 'allow_shrink': False, 'force': False}
    assert spec['pool'].get('required') is True
    assert spec['name'].get('required') is not True  # volumes may stand in for it


def test_libvirt_flag_values():
    for index, algorithm in enumerate(volmod.WIPE_ALGORITHMS):
        assert getattr(libvirt, 'VIR_STORAGE_VOL_WIPE_ALG_' + algorithm.upper()) == index


# ---- planning on a dir pool ------------------------------------------------------------------------

@pytest.mark.parametrize('fmt', ['raw', 'qcow2'])
def test_missing_volume_is_created(conn, pool, fmt):
    plan = plan_for(conn, name='web1', capacity='10G', format=fmt)
    # remote: whether a file of that name is in the pool's directory is known only after a refresh
    assert plan.actions == ['refresh', 'create']
    assert plan.changed
    assert conn.mutations() == ['refresh']  # made while planning: the plan needs what it finds
    engine.apply(plan, False)
    root = created_xml(conn, 'web1')
    assert root.findtext('name') == 'web1'
    assert root.find('capacity').get('unit') == 'bytes'
    assert int(root.findtext('capacity')) == 10 * GIB
    assert int(root.findtext('allocation')) == 0  # image files are sparse by default
    assert root.find('target/format').get('type') == fmt
    assert conn.calls_of('createXML')[0][2] == 0
    assert 'web1' in pool.volumes


def test_missing_volume_default_format_is_the_first_of_the_backend(conn, pool):
    plan = plan_for(conn, name='web1', capacity='1G')
    engine.apply(plan, False)
    assert created_xml(conn, 'web1').find('target/format').get('type') == 'raw'


def test_preallocation_metadata_flag_and_full_allocation(conn, pool):
    engine.apply(plan_for(conn, name='a', capacity='1G', format='qcow2', preallocation='metadata'), False)
    assert conn.calls_of('createXML')[0][2] == libvirt.VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA
    engine.apply(plan_for(conn, name='b', capacity='1G', preallocation='full'), False)
    assert int(created_xml(conn, 'b').findtext('allocation')) == GIB


def test_missing_volume_needs_capacity(conn, pool):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='web1')
    assert info.value.option == 'capacity'
    assert conn.mutations() == ['refresh']  # needed to know that web1 does not exist (remote dir pool)


def test_same_volume_no_steps(conn, pool):
    pool.add(volume_xml('web1', 10 * GIB, 'qcow2'))
    manager, live = make(conn, name='web1', capacity='10G', format='qcow2')
    plan = manager.plan(live)
    assert plan.steps == [] and plan.actions == []
    assert not plan.changed
    assert plan.diff == {'before': '', 'after': ''}
    desc = manager.describe(live, plan)
    assert desc['capacity'] == 10 * GIB and desc['format'] == 'qcow2' and desc['state'] == 'present'


def test_larger_capacity_resizes(conn, pool):
    pool.add(volume_xml('web1', 10 * GIB, 'qcow2'))
    plan = plan_for(conn, name='web1', capacity='20G')
    assert plan.actions == ['resize']
    assert '21474836480' in plan.diff['after'] and '10737418240' in plan.diff['before']
    engine.apply(plan, False)
    assert conn.calls_of('resize') == [('web1', 20 * GIB, 0)]


def test_smaller_capacity_refused(conn, pool):
    pool.add(volume_xml('web1', 10 * GIB, 'qcow2'))
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='web1', capacity='5G')
    assert 'allow_shrink' in info.value.msg
    assert info.value.details['capacity'] == 10 * GIB
    assert conn.mutations() == []


def test_smaller_capacity_with_allow_shrink(conn, pool):
    pool.add(volume_xml('web1', 10 * GIB, 'raw'))
    plan = plan_for(conn, name='web1', capacity='5G', allow_shrink=True)
    assert plan.actions == ['shrink']
    engine.apply(plan, False)
    assert conn.calls_of('resize') == [('web1', 5 * GIB, libvirt.VIR_STORAGE_VOL_RESIZE_SHRINK)]
    assert conn.calls_of('resize')[0][2] == 4


def test_absent_deletes(conn, pool):
    pool.add(volume_xml('web1', GIB))
    plan = plan_for(conn, name='web1', state='absent')
    assert plan.actions == ['delete']
    assert conn.mutations() == []
    engine.apply(plan, False)
    assert conn.mutations() == ['vol.delete']
    assert 'web1' not in pool.volumes


def test_absent_with_wipe(conn, pool):
    pool.add(volume_xml('web1', GIB))
    plan = plan_for(conn, name='web1', state='absent', wipe='dod')
    assert plan.actions == ['wipe', 'delete']
    engine.apply(plan, False)
    assert conn.mutations() == ['wipePattern', 'vol.delete']
    assert conn.calls_of('wipePattern') == [('web1', libvirt.VIR_STORAGE_VOL_WIPE_ALG_DOD, 0)]


def test_wipe_needs_state_absent(conn, pool):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='web1', capacity='1G', wipe='zero')
    assert info.value.option == 'wipe'


def test_absent_of_a_missing_volume_is_nothing(conn, pool):
    manager, live = make(conn, name='web1', state='absent')
    plan = manager.plan(live)
    assert plan.actions == ['refresh'] and not plan.changed
    assert manager.describe(live, plan) == {'name': 'web1', 'pool': POOL, 'state': 'absent'}


def test_reconcile_check_mode_changes_nothing(conn, pool):
    manager = VolumeManager(conn, volume_params(pool=POOL, name='web1', capacity='1G'), False)
    result = engine.reconcile(manager, True, True)
    assert result['changed'] is True and result['actions'] == ['refresh', 'create']
    assert result['volume']['state'] == 'absent'
    assert 'capacity: 1073741824 (1 GiB)' in result['diff']['after']
    assert conn.mutations() == [] and pool.volumes == {}


# ---- capacity tolerance ------------------------------------------------------------------------------

def test_logical_volume_rounded_up_to_extents_is_no_change(conn, lvm):
    lvm.add(volume_xml('lv1', 12 * MIB, fmt=None, path='/dev/vg0/lv1', vol_type='block'))
    plan = plan_for(conn, pool='vg0', name='lv1', capacity='10M')
    assert plan.actions == []


def test_logical_volume_cannot_grow(conn, lvm):
    lvm.add(volume_xml('lv1', 12 * MIB, fmt=None, path='/dev/vg0/lv1', vol_type='block'))
    with pytest.raises(UnsupportedError) as info:
        plan_for(conn, pool='vg0', name='lv1', capacity='13M')
    assert 'logical' in info.value.msg and 'resize' in info.value.msg
    assert conn.mutations() == []


def test_logical_volume_created_without_format(conn, lvm):
    plan = plan_for(conn, pool='vg0', name='lv1', capacity='10M')
    assert plan.actions == ['refresh', 'create']
    engine.apply(plan, False)
    root = created_xml(conn, 'lv1')
    assert root.find('target/format') is None
    assert root.find('allocation') is None  # block volumes are not made sparse by default
    assert int(root.findtext('capacity')) == 10 * MIB


def test_qcow2_rounded_up_is_no_change(conn, pool):
    asked = 10 * GIB + 100
    pool.add(volume_xml('web1', asked + 300, 'qcow2'))
    assert plan_for(conn, name='web1', capacity=asked).actions == []


def test_raw_one_byte_larger_is_a_shrink(conn, pool):
    asked = 10 * GIB
    pool.add(volume_xml('web1', asked + 1, 'raw'))
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='web1', capacity=asked)
    assert 'allow_shrink' in info.value.msg


def test_format_mismatch_refused(conn, pool):
    pool.add(volume_xml('web1', 10 * GIB, 'qcow2'))
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='web1', capacity='10G', format='raw')
    assert 'not converted' in info.value.msg
    assert 'qcow2' in info.value.msg


# ---- bulk ----------------------------------------------------------------------------------------

def test_bulk_top_level_options_are_defaults_and_item_values_win(conn, pool):
    manager, live = make(conn, capacity='1G', format='qcow2',
                         volumes=[{'name': 'a'}, {'name': 'b', 'capacity': '2G', 'format': 'raw'}])
    plan = manager.plan(live)
    assert plan.actions == ['refresh', 'create:a', 'create:b']
    engine.apply(plan, False)
    a, b = created_xml(conn, 'a'), created_xml(conn, 'b')
    assert int(a.findtext('capacity')) == GIB and a.find('target/format').get('type') == 'qcow2'
    assert int(b.findtext('capacity')) == 2 * GIB and b.find('target/format').get('type') == 'raw'


def test_bulk_item_state_wins_over_top_level(conn, pool):
    pool.add(volume_xml('a', GIB))
    pool.add(volume_xml('b', GIB))
    plan = plan_for(conn, state='absent', volumes=[{'name': 'a'}, {'name': 'b', 'state': 'present'}])
    assert plan.actions == ['delete:a']


def test_bulk_item_allow_shrink_false_wins_over_top_level_true(conn, pool):
    pool.add(volume_xml('a', 2 * GIB))
    pool.add(volume_xml('b', 2 * GIB))
    with pytest.raises(RefusedError) as info:
        plan_for(conn, allow_shrink=True, capacity='1G',
                 volumes=[{'name': 'a'}, {'name': 'b', 'allow_shrink': False}])
    assert 'volume b' in info.value.msg


def test_bulk_duplicate_names(conn, pool):
    with pytest.raises(ValidationError) as info:
        VolumeManager(conn, volume_params(pool=POOL, capacity='1G', volumes=[{'name': 'a'}, {'name': 'a'}]))
    assert info.value.option == 'volumes'
    assert "'a'" in info.value.msg and '0' in info.value.msg and '1' in info.value.msg
    assert conn.calls == []


def test_bulk_empty_list(conn, pool):
    with pytest.raises(ValidationError) as info:
        VolumeManager(conn, volume_params(pool=POOL, volumes=[]))
    assert info.value.option == 'volumes'


def test_bulk_describe_per_item(conn, pool):
    pool.add(volume_xml('a', GIB))
    pool.add(volume_xml('b', GIB))
    manager, live = make(conn, capacity='1G',
                         volumes=[{'name': 'a'}, {'name': 'b', 'capacity': '2G'}, {'name': 'c'}])
    plan = manager.plan(live)
    assert plan.actions == ['refresh', 'resize:b', 'create:c']
    described = manager.describe(live, plan)
    assert [(d['name'], d['changed'], d['actions']) for d in described] == [
        ('a', False, []), ('b', True, ['resize']), ('c', True, ['create'])]
    assert described[2]['state'] == 'absent'
    assert [diff['after_header'] for diff in plan.diff] == ['volume images/b (desired)', 'volume images/c (desired)']


def test_bulk_reconcile_result(conn, pool):
    manager = VolumeManager(conn, volume_params(pool=POOL, capacity='1G', volumes=[{'name': 'a'}, {'name': 'b'}]),
                            False)
    result = engine.reconcile(manager, False, False)
    assert result['changed'] and result['actions'] == ['refresh', 'create:a', 'create:b']
    assert [(v['name'], v['state'], v['capacity']) for v in result['volumes']] == [
        ('a', 'present', GIB), ('b', 'present', GIB)]


def test_bulk_second_create_fails_first_volume_stays(conn, pool):
    conn.fail_on[('createXML', 'b')] = libvirt_error('no space left on device', libvirt.VIR_ERR_INTERNAL_ERROR)
    plan = plan_for(conn, capacity='1G', volumes=[{'name': 'a'}, {'name': 'b'}, {'name': 'c'}])
    assert plan.per_subject
    with pytest.raises(OperationError) as info:
        engine.apply(plan, False)
    exc = info.value
    assert set(pool.volumes) == {'a'}  # a is whole and stays; c was never tried
    assert 'vol.delete' not in conn.mutations()
    assert exc.details['failed_action'] == 'create:b'
    assert exc.details['actions_done'] == ['refresh', 'create:a']
    assert exc.details['rolled_back'] == []
    assert 'creating volume b failed' in exc.msg and 'no space left on device' in exc.msg
    assert 'steps done before it: refresh, create:a' in exc.msg
    assert 'rolled back' not in exc.msg


def test_bulk_failing_item_undoes_its_own_steps_only(conn, pool):
    pool.add(volume_xml('base', GIB, 'qcow2'))
    conn.fail_on[('resize', 'b')] = libvirt_error('resize failed', libvirt.VIR_ERR_INTERNAL_ERROR)
    plan = plan_for(conn, volumes=[{'name': 'a', 'capacity': '1G'},
                                   {'name': 'b', 'clone_from': {'name': 'base'}, 'capacity': '2G'}])
    assert plan.actions == ['refresh', 'create:a', 'clone:b', 'resize:b']
    with pytest.raises(OperationError) as info:
        engine.apply(plan, False)
    assert set(pool.volumes) == {'base', 'a'}
    assert conn.calls_of('vol.delete') == [('b', 0)]
    assert info.value.details['rolled_back'] == ['clone:b']
    assert 'steps done before it: refresh, create:a, clone:b' in info.value.msg
    assert 'rolled back: clone:b' in info.value.msg


def test_bulk_failed_upload_undoes_the_create(conn, pool, tmp_path):
    src = tmp_path / 'disk.img'
    src.write_bytes(b'x' * 4096)
    conn.fail_on[('upload', 'b')] = libvirt_error('stream broke', libvirt.VIR_ERR_INTERNAL_ERROR)
    plan = plan_for(conn, is_local=True, volumes=[{'name': 'a', 'capacity': '1G'},
                                                  {'name': 'b', 'content': {'src': str(src)}}])
    assert plan.actions == ['create:a', 'create:b', 'upload:b']
    with pytest.raises(OperationError) as info:
        engine.apply(plan, False)
    assert set(pool.volumes) == {'a'}
    assert info.value.details['rolled_back'] == ['create:b']
    assert ('stream.abort', ()) in conn.calls


def test_single_volume_failure_reports_plain_actions(conn, pool):
    pool.add(volume_xml('base', GIB, 'qcow2'))
    conn.fail_on[('resize', 'b')] = libvirt_error('resize failed', libvirt.VIR_ERR_INTERNAL_ERROR)
    plan = plan_for(conn, name='b', clone_from={'name': 'base', 'pool': None}, capacity='2G')
    assert plan.actions == ['refresh', 'clone', 'resize']
    with pytest.raises(OperationError) as info:
        engine.apply(plan, False)
    assert info.value.details['rolled_back'] == ['clone']
    assert 'b' not in pool.volumes


# ---- validation errors name the option ------------------------------------------------------------

@pytest.mark.parametrize('given, option, words', [
    (dict(name='v', capacity=0), 'capacity', ['above 0']),
    (dict(name='v', capacity='0G'), 'capacity', ['above 0']),
    (dict(name='v', capacity='-1G'), 'capacity', ['-1G']),
    (dict(name='v', capacity=-1), 'capacity', ['negative']),
    (dict(name='v', capacity='lots'), 'capacity', ['lots']),
    (dict(name='v', capacity='1G', format='qcow3'), 'format', ['qcow3', 'raw', 'qcow2', 'vmdk', 'vdi']),
    (dict(name='a/b', capacity='1G'), 'name', ['/']),
    (dict(name='v', capacity='1G', mode=600), 'mode', ['quote']),
    (dict(name='v', capacity='1G', mode='0999'), 'mode', ['octal']),
    (dict(name='v', capacity='1G', allocation='x'), 'allocation', ['x']),
    (dict(name='v', clone_from={'name': 'a/b', 'pool': None}), 'clone_from.name', ['/']),
    (dict(name='v', xml='<pool/>'), 'xml', ['<volume>']),
    (dict(name='v', xml='<volume><name>w</name><capacity>1</capacity></volume>'), 'xml', ["'w'"]),
    (dict(name='v', xml='<volume><name>v</name></volume>'), 'xml', ['<capacity>']),
])
def test_validation_names_the_option(conn, pool, given, option, words):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, **given)
    assert info.value.option == option
    assert info.value.msg.startswith(option), info.value.msg
    for word in words:
        assert word in info.value.msg
    assert conn.mutations() == []


QCOW_ENCRYPTED = ("<volume><name>v</name><capacity>1</capacity><target><format type='qcow2'/>"
                  "<encryption format='qcow'/></target></volume>")


@pytest.mark.parametrize('check_mode', [True, False], ids=['check', 'real'])
def test_a_new_qcow_encrypted_volume_is_refused_in_check_mode_too(conn, pool, check_mode):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, check_mode=check_mode, name='v', xml=QCOW_ENCRYPTED)
    assert info.value.option == 'xml'
    assert info.value.msg == ("xml <encryption format='qcow'>: libvirt does not create qcow-encrypted images (creation "
                              "of qcow2 encrypted image is not supported); use <encryption format='luks'>. Nothing "
                              "was changed")
    # the real run may refresh the pool before it looks for the volume; check mode touches nothing
    if check_mode:
        assert conn.mutations() == []
    assert set(conn.mutations()) <= {'refresh'} and not conn.calls_of('createXML')


def test_bulk_item_errors_are_prefixed(conn, pool):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, volumes=[{'name': 'a', 'capacity': '1G'}, {'name': 'b', 'capacity': '0'}])
    assert info.value.option == 'volumes[1].capacity'
    assert info.value.msg.startswith('volumes[1].capacity')


def test_bulk_item_bad_name_is_prefixed(conn, pool):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, capacity='1G', volumes=[{'name': 'a'}, {'name': 'b/c'}])
    assert info.value.option == 'volumes[1].name'


def test_content_src_missing(conn, pool, tmp_path):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='v', content={'src': str(tmp_path / 'nope.img'), 'checksum': None})
    assert info.value.option == 'content.src'
    assert 'nope.img' in info.value.msg


def test_content_src_empty(conn, pool, tmp_path):
    src = tmp_path / 'empty.img'
    src.write_bytes(b'')
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='v', content={'src': str(src), 'checksum': None})
    assert info.value.option == 'content.src' and 'empty' in info.value.msg


@pytest.mark.parametrize('checksum, words', [
    ('9f86d081884c7d65', ['ALGORITHM:HEXDIGEST']),
    ('crc32:abcd', ['unknown algorithm', 'sha256']),
    ('sha256:xyz', ['sha256 hex digest']),
    ('sha256:abcd', ['sha256 hex digest']),
])
def test_content_checksum_format(conn, pool, tmp_path, checksum, words):
    src = tmp_path / 'disk.img'
    src.write_bytes(b'data')
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='v', content={'src': str(src), 'checksum': checksum})
    assert info.value.option == 'content.checksum'
    for word in words:
        assert word in info.value.msg


def test_xml_with_unreadable_capacity_names_xml(conn, pool):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, volumes=[{'name': 'v', 'xml': '<volume><name>v</name><capacity>lots</capacity></volume>'}])
    assert info.value.option == 'volumes[0].xml'
    assert '<capacity>' in info.value.msg and 'lots' in info.value.msg


# ---- content -------------------------------------------------------------------------------------

def test_sniff_qcow2(tmp_path):
    path = tmp_path / 'disk.qcow2'
    path.write_bytes(qcow2_header(20 * GIB) + b'\0' * 4096)
    assert sniff_image(str(path)) == ('qcow2', 20 * GIB)


def test_sniff_raw(tmp_path):
    path = tmp_path / 'disk.img'
    path.write_bytes(b'\x55' * 12345)
    assert sniff_image(str(path)) == ('raw', 12345)


def test_sniff_short_file_is_raw(tmp_path):
    path = tmp_path / 'short'
    path.write_bytes(b'QFI\xfb')  # a magic without a header
    assert sniff_image(str(path)) == ('raw', 4)


def test_checksum_mismatch_plans_nothing(conn, pool, tmp_path):
    src = tmp_path / 'disk.img'
    src.write_bytes(b'the real content')
    wrong = 'sha256:' + hashlib.sha256(b'something else').hexdigest()
    manager, live = make(conn, is_local=True, name='v', content={'src': str(src), 'checksum': wrong})
    with pytest.raises(ValidationError) as info:
        manager.plan(live)
    assert info.value.option == 'content.checksum'
    assert hashlib.sha256(b'the real content').hexdigest() in info.value.msg
    assert 'nothing was changed' in info.value.msg
    assert conn.mutations() == [] and 'newStream' not in conn.methods()  # no file v in the directory: no refresh


def test_upload_raw_with_checksum(conn, pool, tmp_path):
    data = b'\x01\x02' * 3000
    src = tmp_path / 'disk.img'
    src.write_bytes(data)
    checksum = 'sha256:' + hashlib.sha256(data).hexdigest()
    plan = plan_for(conn, is_local=True, name='v', content={'src': str(src), 'checksum': checksum})
    assert plan.actions == ['create', 'upload']
    engine.apply(plan, False)
    root = created_xml(conn, 'v')
    assert int(root.findtext('capacity')) == len(data)
    assert root.find('target/format').get('type') == 'raw'
    assert pool.volumes['v'].content == data
    assert conn.calls_of('upload') == [('v', 0, len(data), 1)]  # a file: a sparse stream
    assert conn.calls_of('download') == [('v', 0, len(data), 0)]  # read back and compared
    # no file v in the pool's directory, so no refresh before; a raw image needs none after the upload
    assert conn.methods().count('refresh') == 0


def test_upload_qcow2_into_dir_pool(conn, pool, tmp_path):
    image = qcow2_header(20 * GIB) + b'\0' * 1000
    src = tmp_path / 'disk.qcow2'
    src.write_bytes(image)
    manager, live = make(conn, is_local=True, name='v', capacity='30G', content={'src': str(src), 'checksum': None})
    plan = manager.plan(live)
    assert plan.actions == ['create', 'upload', 'resize']
    assert 'format: qcow2' in plan.diff['after'] and 'capacity: %d ' % (30 * GIB) in plan.diff['after']
    engine.apply(plan, False)
    root = created_xml(conn, 'v')
    # the file goes in as it is, into a raw volume of the file's size; libvirt reads the format at the refresh
    assert int(root.findtext('capacity')) == len(image)
    assert root.find('target/format').get('type') == 'raw'
    methods = conn.methods()
    assert methods.count('refresh') == 1 and methods.index('refresh') > methods.index('upload')
    assert conn.calls_of('resize') == [('v', 30 * GIB, 0)]


def test_upload_capacity_below_image_size(conn, pool, tmp_path):
    src = tmp_path / 'disk.qcow2'
    src.write_bytes(qcow2_header(20 * GIB))
    with pytest.raises(ValidationError) as info:
        plan_for(conn, is_local=True, name='v', capacity='10G', content={'src': str(src), 'checksum': None})
    assert info.value.option == 'capacity'


def test_content_format_must_match_image_without_convert(conn, pool, tmp_path):
    src = tmp_path / 'disk.qcow2'
    src.write_bytes(qcow2_header(GIB))
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='v', format='raw', content={'src': str(src), 'checksum': None, 'convert': False})
    assert info.value.option == 'format' and 'qcow2' in info.value.msg and 'content.convert is false' in info.value.msg


def test_content_of_another_format_is_converted_first(conn, pool, tmp_path):
    src = tmp_path / 'disk.qcow2'
    src.write_bytes(qcow2_header(GIB))
    plan = plan_for(conn, name='v', format='raw', content={'src': str(src), 'checksum': None})
    assert plan.actions == ['refresh', 'convert', 'create', 'upload'], 'remote: the refresh before the listing'
    assert 'converted to raw' in plan.diff['after'] and 'capacity: %d' % GIB in plan.diff['after']


@pytest.mark.skipif(not volmod.qemu_img.find(), reason='needs qemu-img')
def test_url_fetched_for_conversion_is_checked_before_the_volume_is_made(conn, pool, tmp_path, monkeypatch):
    import io
    import subprocess
    from ansible_collections.kvmops.storage.plugins.module_utils import source as sourcemod
    raw = tmp_path / 'disk.raw'
    raw.write_bytes(b'x' * MIB)
    qcow = tmp_path / 'disk.qcow2'
    subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', str(raw), str(qcow)], check=True)
    data = gzip.compress(qcow.read_bytes())

    def fake_http(url, option, algorithm=None, **_kwargs):
        return sourcemod.Source(io.BytesIO(data).read, url, length=len(data), algorithm=algorithm)
    monkeypatch.setattr(volmod.source, 'open_http', fake_http)
    staging = tmp_path / 'staging'
    staging.mkdir()
    content = {'url': 'http://127.0.0.1/disk.qcow2.gz', 'checksum': 'sha256:' + '0' * 64, 'tmpdir': str(staging)}
    plan = plan_for(conn, is_local=True, name='v', format='raw', content=content)
    assert plan.actions == ['convert', 'create', 'upload']
    with pytest.raises(OperationError) as failed:
        engine.apply(plan, False)
    assert 'content.checksum' in failed.value.msg and failed.value.details['failed_action'] == 'convert'
    assert 'v' not in pool.volumes and list(staging.iterdir()) == []
    content['checksum'] = 'sha256:' + hashlib.sha256(data).hexdigest()
    plan = plan_for(conn, is_local=True, name='v', format='raw', content=content)
    engine.apply(plan, False)
    assert pool.volumes['v'].content == raw.read_bytes() and list(staging.iterdir()) == []


def test_conversion_without_qemu_img_is_refused(conn, pool, tmp_path, monkeypatch):
    monkeypatch.setattr(volmod.qemu_img, 'find', lambda: None)
    src = tmp_path / 'disk.qcow2'
    src.write_bytes(qcow2_header(GIB))
    with pytest.raises(ValidationError) as info:
        plan_for(conn, is_local=True, name='v', format='raw', content={'src': str(src), 'checksum': None})
    assert info.value.option == 'content.convert' and 'content.convert=false' in info.value.msg
    assert conn.mutations() == []


# ---- what uses a volume ----------------------------------------------------------------------------

def test_delete_refused_when_a_domain_uses_the_file(conn, pool):
    pool.add(volume_xml('web1', GIB))
    conn.add_domain('web', {'file': '%s/web1' % DIR})
    conn.add_domain('other', {'file': '%s/else' % DIR})
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='web1', state='absent')
    assert 'web' in info.value.msg and 'other' not in info.value.msg
    assert 'force=true' in info.value.msg
    assert info.value.details['domains'] == ['web']
    assert conn.mutations() == []


def test_delete_refused_when_a_domain_uses_the_pool_volume(conn, pool):
    pool.add(volume_xml('web1', GIB))
    conn.add_domain('web', {'pool': POOL, 'volume': 'web1'})
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='web1', state='absent', wipe='zero')
    assert 'web' in info.value.msg and 'wipe and delete' in info.value.msg


def test_delete_with_force_ignores_users(conn, pool):
    pool.add(volume_xml('web1', GIB))
    conn.add_domain('web', {'file': '%s/web1' % DIR})
    assert plan_for(conn, name='web1', state='absent', force=True).actions == ['delete']
    assert 'listAllDomains' not in conn.methods()


def test_shrink_refused_when_a_domain_uses_the_volume(conn, pool):
    pool.add(volume_xml('web1', 2 * GIB))
    conn.add_domain('web', {'file': '%s/web1' % DIR})
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='web1', capacity='1G', allow_shrink=True)
    assert 'web' in info.value.msg and 'shrink' in info.value.msg


def test_delete_refused_when_another_volume_is_backed_by_it(conn, pool):
    pool.add(volume_xml('base', GIB, 'qcow2'))
    pool.add(volume_xml('overlay', GIB, 'qcow2', backing='%s/base' % DIR))
    pool.add(volume_xml('unrelated', GIB, 'qcow2', backing='%s/other' % DIR))
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='base', state='absent')
    assert 'overlay' in info.value.msg and 'unrelated' not in info.value.msg
    assert info.value.details['volumes'] == ['%s/overlay' % POOL]


def test_delete_of_an_unused_volume_looks_at_domains_and_pool(conn, pool):
    pool.add(volume_xml('web1', GIB))
    conn.add_domain('web', {'file': '%s/web2' % DIR})
    assert plan_for(conn, name='web1', state='absent').actions == ['delete']
    assert 'listAllDomains' in conn.methods()


# ---- the pool ------------------------------------------------------------------------------------

def test_pool_missing(conn):
    with pytest.raises(ValidationError) as info:
        make(conn, pool='nope', name='v', capacity='1G')
    assert info.value.option == 'pool'
    assert "'nope'" in info.value.msg


def test_pool_lookup_failure_is_an_operation_error(conn):
    def broken(name):
        raise libvirt_error('connection reset', libvirt.VIR_ERR_INTERNAL_ERROR)
    conn.storagePoolLookupByName = broken
    with pytest.raises(OperationError):
        make(conn, name='v', capacity='1G')


def test_pool_inactive(conn):
    conn.add_pool(dir_pool_xml(name=POOL, path=DIR), active=False)
    with pytest.raises(RefusedError) as info:
        make(conn, name='v', capacity='1G')
    assert 'not active' in info.value.msg
    assert 'listAllVolumes' not in conn.methods()


def test_bad_pool_name(conn):
    with pytest.raises(ValidationError) as info:
        VolumeManager(conn, volume_params(pool='a/b', name='v'))
    assert info.value.option == 'pool'
    assert conn.calls == []


def test_clone_from_missing_volume(conn, pool):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='v', clone_from={'name': 'nope', 'pool': None})
    assert info.value.option == 'clone_from.name'


def test_clone_from_missing_pool(conn, pool):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='v', clone_from={'name': 'base', 'pool': 'elsewhere'})
    assert info.value.option == 'clone_from.pool'


# ---- read() ------------------------------------------------------------------------------------

def test_read_never_refreshes(conn, pool):
    pool.add(volume_xml('outside', GIB, 'qcow2'), hidden=True)
    for check_mode in (False, True):
        conn.calls = []
        _manager, live = make(conn, check_mode=check_mode, volumes=[{'name': 'outside'}, {'name': 'v'}])
        assert conn.mutations() == []
        assert live.refresh is True and live.volumes == {}


def test_plan_refreshes_once_when_a_volume_is_not_listed(conn, pool):
    pool.add(volume_xml('a', GIB))
    pool.add(volume_xml('outside', GIB, 'qcow2'), hidden=True)  # copied into the directory by hand
    manager, live = make(conn, volumes=[{'name': 'a'}, {'name': 'outside'}])
    plan = manager.plan(live)
    listing = [m for m in conn.methods() if m in ('listAllVolumes', 'refresh')]
    assert listing == ['listAllVolumes', 'refresh', 'listAllVolumes']
    assert set(live.volumes) == {'a', 'outside'}
    assert live.volumes['outside'].format == 'qcow2'
    assert plan.actions == ['refresh'] and not plan.changed


def test_plan_refreshes_once_even_if_still_missing(conn, pool):
    manager, live = make(conn, name='v', capacity='1G')
    manager.plan(live)
    assert [m for m in conn.methods() if m in ('listAllVolumes', 'refresh')] == [
        'listAllVolumes', 'refresh', 'listAllVolumes']
    assert live.volumes == {}


@pytest.mark.parametrize('given', [
    dict(name='v', capacity='1G'),
    dict(name='v', state='absent'),
    dict(capacity='1G', volumes=[{'name': 'a'}, {'name': 'b', 'format': 'qcow2'}]),
    dict(name='b', clone_from={'name': 'base', 'pool': None}, capacity='2G'),
])
def test_check_mode_makes_no_refresh_and_predicts_the_real_actions(given):
    """Remote pool, volumes not listed: the real run refreshes; check mode lists that refresh and makes none."""
    runs = {}
    for check_mode in (True, False):
        conn = FakeConn()
        pool = conn.add_pool(dir_pool_xml(name=POOL, path=DIR), active=True)
        pool.add(volume_xml('base', GIB, 'qcow2'))
        manager = VolumeManager(conn, volume_params(pool=POOL, **given), False)
        result = engine.reconcile(manager, check_mode, False)
        runs[check_mode] = (result['changed'], result['actions'])
        if check_mode:
            assert conn.mutations() == []
        else:
            assert conn.mutations()[0] == 'refresh'
    assert runs[True] == runs[False]
    assert runs[True][1][0] == 'refresh'


def test_check_mode_on_a_pool_whose_refresh_fails(conn, pool):
    """libvirt stops a pool whose refresh fails: check mode must not try one."""
    conn.fail_on[('refresh', POOL)] = libvirt_error("cannot open directory '%s': No such file or directory" % DIR,
                                                    libvirt.VIR_ERR_SYSTEM_ERROR)
    manager = VolumeManager(conn, volume_params(pool=POOL, name='v', capacity='1G'), False)
    result = engine.reconcile(manager, True, False)
    assert result['actions'] == ['refresh', 'create'] and result['changed'] is True
    assert 'refresh' not in conn.methods()


def _local_dir_pool(conn, tmp_path):
    directory = tmp_path / 'images'
    directory.mkdir()
    return directory, conn.add_pool(dir_pool_xml(name=POOL, path=str(directory)), active=True)


def test_local_dir_pool_no_refresh_when_no_file_is_there(conn, tmp_path):
    _local_dir_pool(conn, tmp_path)
    for check_mode in (False, True):
        plan = plan_for(conn, is_local=True, check_mode=check_mode, name='v', capacity='1G')
        assert plan.actions == ['create']
    assert 'refresh' not in conn.methods()


def test_local_dir_pool_without_its_directory_is_not_refreshed(conn, tmp_path):
    directory, _pool = _local_dir_pool(conn, tmp_path)
    directory.rmdir()
    plan = plan_for(conn, is_local=True, name='v', capacity='1G')
    assert plan.actions == ['create']
    assert 'refresh' not in conn.methods()


def test_local_dir_pool_file_made_outside_libvirt(conn, tmp_path):
    directory, pool = _local_dir_pool(conn, tmp_path)
    (directory / 'outside').write_bytes(b'')
    pool.add(volume_xml('outside', GIB, path=str(directory / 'outside')), hidden=True)
    given = dict(volumes=[{'name': 'outside', 'capacity': '1G'}, {'name': 'new', 'capacity': '1G'}])
    checked = plan_for(conn, is_local=True, check_mode=True, **given)
    assert conn.mutations() == []
    assert checked.actions == ['refresh', 'create:new']
    assert len(checked.warnings) == 1 and checked.warnings[0].startswith(
        'volume outside: its file is in the directory of pool images but libvirt does not list it yet; the real run '
        'compares the volume with the task once libvirt lists it (after a refresh)')
    real = plan_for(conn, is_local=True, **given)
    assert conn.mutations() == ['refresh']
    assert real.actions == ['refresh', 'create:new'] and real.warnings == []


def test_busy_pool_refresh_is_tried_again(conn, pool, monkeypatch):
    monkeypatch.setattr(volmod, 'call_retrying', _fast_retrying)
    busy = libvirt_error("internal error: pool 'images' has asynchronous jobs running.", libvirt.VIR_ERR_INTERNAL_ERROR)
    conn.fail_on[('refresh', POOL)] = [busy, busy]
    conn.fail_on[('createXML', 'v')] = [busy]
    engine.apply(plan_for(conn, name='v', capacity='1G'), False)
    assert conn.methods().count('refresh') == 3 and conn.methods().count('createXML') == 2
    assert 'v' in pool.volumes


def _fast_retrying(action, func, *args):
    from ansible_collections.kvmops.storage.plugins.module_utils import connection
    return connection.call_retrying(action, func, *args, sleep=lambda seconds: None)


# ---- check mode: the pool an earlier task would define or start ---------------------------------------

def test_missing_pool_fails_in_the_real_run(conn):
    with pytest.raises(ValidationError) as info:
        make(conn, name='v', capacity='1G')
    assert info.value.option == 'pool'
    assert info.value.msg == ("pool 'images': no such storage pool; define it first "
                              "(kvmops.storage.storage_pool)")


def test_missing_pool_is_assumed_in_check_mode(conn, tmp_path):
    src = tmp_path / 'disk.img'
    src.write_bytes(b'x' * 4096)
    manager = VolumeManager(conn, volume_params(pool=POOL, capacity='1G', volumes=[
        {'name': 'a', 'format': 'qcow2'}, {'name': 'b', 'state': 'absent'},
        {'name': 'c', 'clone_from': {'name': 'a'}}, {'name': 'd', 'content': {'src': str(src)}}]), True)
    result = engine.reconcile(manager, True, True)
    assert result['changed'] is True
    assert result['actions'] == ['create:a', 'clone:c', 'create:d', 'upload:d']
    assert result['warnings'] == ["pool 'images': no such storage pool; define it first (kvmops.storage.storage_pool); "
                                  "check mode assumes that an earlier task of this run defines and starts it, and "
                                  "predicts every volume as new (whether the real run refreshes the pool first "
                                  "depends on its type)"]
    assert [d['after'] for d in result['diff']][0] == 'name: a\npool: images\nformat: qcow2\ncapacity: 1073741824 (1 GiB)\n'
    assert [(v['name'], v['state'], v['actions']) for v in result['volumes']] == [
        ('a', 'absent', ['create']), ('b', 'absent', []), ('c', 'absent', ['clone']), ('d', 'absent', ['create', 'upload'])]
    assert conn.mutations() == []


def test_missing_pool_in_check_mode_still_checks_the_input(conn):
    manager = VolumeManager(conn, volume_params(pool=POOL, name='v'), False)
    with pytest.raises(ValidationError) as info:
        engine.reconcile(manager, True, False)
    assert info.value.option == 'capacity'


def test_inactive_local_dir_pool_in_check_mode(conn, tmp_path):
    """Starting a dir pool lists the files of its directory: no refresh is predicted; a file already
    there is not predicted as new."""
    directory = tmp_path / 'images'
    directory.mkdir()
    (directory / 'there').write_bytes(b'')
    conn.add_pool(dir_pool_xml(name=POOL, path=str(directory)), active=False)
    plan = plan_for(conn, is_local=True, check_mode=True, capacity='1G', volumes=[{'name': 'there'}, {'name': 'new'}])
    assert plan.actions == ['create:new']
    assert len(plan.warnings) == 2 and plan.warnings[1].startswith('volume there: its file is in the directory')
    assert conn.mutations() == []


def test_inactive_pool_fails_in_the_real_run(conn):
    conn.add_pool(dir_pool_xml(name=POOL, path=DIR), active=False)
    with pytest.raises(RefusedError) as info:
        make(conn, name='v', capacity='1G')
    assert info.value.msg == ('pool images is not active, so its volumes cannot be read or changed; start it first '
                              '(kvmops.storage.storage_pool state=active)')


def test_inactive_pool_is_assumed_started_in_check_mode(conn):
    conn.add_pool(logical_pool_xml('vg0'), active=False)
    manager = VolumeManager(conn, volume_params(pool='vg0', name='lv1', capacity='10M'), False)
    result = engine.reconcile(manager, True, True)
    # a logical pool: the real run refreshes before it creates a volume libvirt does not list
    assert result['changed'] is True and result['actions'] == ['refresh', 'create']
    assert result['warnings'][0].endswith('check mode assumes that an earlier task of this run starts it, and '
                                          'predicts as new every volume it cannot see')
    assert result['diff']['after'] == 'name: lv1\npool: vg0\nformat: raw\ncapacity: 10485760 (10 MiB)\n'
    assert conn.mutations() == [] and 'listAllVolumes' not in conn.methods()


def test_read_no_refresh_when_all_listed(conn, pool):
    pool.add(volume_xml('a', GIB))
    pool.add(volume_xml('b', GIB))
    pool.add(volume_xml('c', GIB))
    _manager, live = make(conn, volumes=[{'name': 'a'}, {'name': 'b'}])
    assert 'refresh' not in conn.methods()
    assert conn.methods().count('listAllVolumes') == 1
    assert set(live.volumes) == {'a', 'b'}
    # only the named volumes are read
    assert sorted(args[0] for args in conn.calls_of('vol.XMLDesc')) == ['a', 'b']


def test_live_volume_fields(conn, pool):
    pool.add(volume_xml('web1', 5 * GIB, 'qcow2', allocation=GIB, backing='%s/base' % DIR, mode='0644',
                        owner='107', group='108', physical=GIB + 4096))
    manager, live = make(conn, name='web1')
    desc = manager.describe(live)
    assert desc == {'name': 'web1', 'pool': POOL, 'state': 'present', 'type': 'file', 'path': '%s/web1' % DIR,
                    'key': '%s/web1' % DIR, 'format': 'qcow2', 'capacity': 5 * GIB, 'allocation': GIB,
                    'physical': GIB + 4096, 'backing_store': {'path': '%s/base' % DIR, 'format': 'qcow2'},
                    'mode': '0644', 'owner': '107', 'group': '108'}


# ---- import again: content.force, content.compare --------------------------------------------------

def _existing_import(conn, pool, tmp_path, data=b'\x07' * 8192):
    src = tmp_path / 'disk.img'
    src.write_bytes(data)
    vol = pool.add(volume_xml('v', len(data)))
    vol.content = data
    return str(src), 'sha256:' + hashlib.sha256(data).hexdigest()


def test_an_imported_volume_is_left_as_it_is(conn, pool, tmp_path):
    src, checksum = _existing_import(conn, pool, tmp_path)
    assert plan_for(conn, is_local=True, name='v', content={'src': src, 'checksum': checksum}).actions == []
    assert 'download' not in conn.methods()  # nothing read without compare


def test_content_force_imports_again(conn, pool, tmp_path):
    src, checksum = _existing_import(conn, pool, tmp_path)
    plan = plan_for(conn, is_local=True, name='v', content={'src': src, 'checksum': checksum, 'force': True})
    assert plan.actions == ['delete', 'create', 'upload']
    assert 'capacity: 8192' in plan.diff['before'] and 'source: %s' % src in plan.diff['after']
    engine.apply(plan, False)
    assert pool.volumes['v'].content == b'\x07' * 8192


def test_content_force_is_refused_for_a_volume_a_domain_uses(conn, pool, tmp_path):
    src, _checksum = _existing_import(conn, pool, tmp_path)
    conn.add_domain('web', {'file': '%s/v' % DIR})
    with pytest.raises(RefusedError) as info:
        plan_for(conn, is_local=True, name='v', content={'src': src, 'force': True})
    assert 'used by domain(s) web' in info.value.msg and 're-import (content.force)' in info.value.msg


def test_content_compare_reads_the_volume(conn, pool, tmp_path):
    src, checksum = _existing_import(conn, pool, tmp_path)
    same = plan_for(conn, is_local=True, name='v', content={'src': src, 'checksum': checksum, 'compare': True})
    assert same.actions == [] and conn.calls_of('download') == [('v', 0, 8192, 0)]
    pool.volumes['v'].content = b'\x08' * 8192
    differs = plan_for(conn, is_local=True, check_mode=True, name='v',
                       content={'src': src, 'checksum': checksum, 'compare': True})
    assert differs.actions == ['delete', 'create', 'upload']
    assert conn.mutations() == []


def test_content_compare_needs_a_checksum_and_an_uncompressed_source(conn, pool, tmp_path):
    src, checksum = _existing_import(conn, pool, tmp_path)
    with pytest.raises(ValidationError) as info:
        plan_for(conn, is_local=True, name='v', content={'src': src, 'compare': True})
    assert info.value.option == 'content.compare' and 'content.checksum' in info.value.msg
    packed = tmp_path / 'disk.img.gz'
    packed.write_bytes(gzip.compress(b'\x07' * 8192))
    with pytest.raises(ValidationError) as info:
        plan_for(conn, is_local=True, name='v', content={'src': str(packed), 'checksum': checksum, 'compare': True})
    assert info.value.option == 'content.compare' and 'compressed with gzip' in info.value.msg


def test_compressed_raw_into_a_block_pool_needs_capacity(conn, lvm, tmp_path):
    packed = tmp_path / 'disk.img.xz'
    packed.write_bytes(lzma.compress(b'\x07' * 8192))
    with pytest.raises(ValidationError) as info:
        plan_for(conn, is_local=True, pool='vg0', name='lv', content={'src': str(packed)})
    assert info.value.option == 'capacity' and 'compressed image' in info.value.msg
    plan = plan_for(conn, is_local=True, pool='vg0', name='lv', capacity='4M', content={'src': str(packed)})
    assert plan.actions[-2:] == ['create', 'upload']
    engine.apply(plan, False)
    assert lvm.volumes['lv'].content == b'\x07' * 8192
    assert conn.calls_of('upload') == [('lv', 0, 4 * MIB, 0)]  # a block device: every byte written


def test_compressed_raw_into_a_dir_pool_takes_what_comes(conn, pool, tmp_path):
    data = b'\x09' * 10000
    packed = tmp_path / 'disk.img.bz2'
    packed.write_bytes(bz2.compress(data))
    checksum = 'sha512:' + hashlib.sha512(packed.read_bytes()).hexdigest()
    plan = plan_for(conn, is_local=True, name='v', content={'src': str(packed), 'checksum': checksum})
    assert plan.actions == ['create', 'upload']
    engine.apply(plan, False)
    assert int(created_xml(conn, 'v').findtext('capacity')) == 0
    assert pool.volumes['v'].content == data
    assert conn.calls_of('upload') == [('v', 0, 0, 1)]  # a file: a sparse stream
    assert conn.calls_of('download') == [('v', 0, len(data), 0)]  # read back: the bytes written
    assert conn.methods().count('refresh') == 1  # libvirt learns the size


def test_content_needs_src_or_url(conn, pool):
    for content in ({'checksum': None}, {'src': '/x', 'url': 'http://h/x'}):
        with pytest.raises(ValidationError) as info:
            plan_for(conn, name='v', content=content)
        assert info.value.option == 'content' and 'give one of src' in info.value.msg
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='v', content={'url': 'http://h/x', 'timeout': 0})
    assert info.value.option == 'content.timeout'


# ---- clone_from across pools: verify and move --------------------------------------------------------

def _two_pools(conn):
    source = conn.add_pool(dir_pool_xml(name='old', path='/srv/old', uuid='11111111-2222-3333-4444-555555555555'),
                           active=True)
    made = source.add(volume_xml('src.raw', MIB, path='/srv/old/src.raw'))
    made.content = b'\x01' * MIB
    return source


def test_move_verifies_the_copy_then_deletes_the_source(conn, pool):
    source = _two_pools(conn)
    plan = plan_for(conn, name='dst.raw', clone_from={'pool': 'old', 'name': 'src.raw', 'move': True})
    assert plan.actions == ['refresh', 'clone', 'verify', 'delete_source']
    engine.apply(plan, False)
    assert 'src.raw' not in source.volumes and pool.volumes['dst.raw'].content == b'\x01' * MIB


def test_a_copy_that_differs_is_deleted_and_the_source_kept(conn, pool):
    source = _two_pools(conn)
    conn.clone_content = lambda content: content[:-1] + b'\x02'
    plan = plan_for(conn, name='dst.raw', clone_from={'pool': 'old', 'name': 'src.raw', 'move': True})
    with pytest.raises(OperationError) as failed:
        engine.apply(plan, False)
    assert 'does not hold what src.raw holds' in failed.value.msg
    assert failed.value.details['failed_action'] == 'verify' and failed.value.details['rolled_back'] == ['clone']
    assert 'dst.raw' not in pool.volumes and 'src.raw' in source.volumes


def test_move_of_an_image_that_cannot_be_verified_remotely_is_refused(conn, pool):
    source = conn.add_pool(dir_pool_xml(name='old', path='/srv/old', uuid='11111111-2222-3333-4444-555555555555'),
                           active=True)
    source.add(volume_xml('src.qcow2', MIB, fmt='qcow2', path='/srv/old/src.qcow2'))
    with pytest.raises(ValidationError) as refused:
        plan_for(conn, check_mode=True, name='dst.qcow2', clone_from={'pool': 'old', 'name': 'src.qcow2', 'move': True})
    assert refused.value.option == 'clone_from.verify' and 'a remote uri' in refused.value.msg
    # a copy without move is made, with a warning that it is not verified
    plan = plan_for(conn, check_mode=True, name='dst.qcow2', clone_from={'pool': 'old', 'name': 'src.qcow2'})
    assert plan.actions == ['refresh', 'clone'] and 'is not verified' in plan.warnings[-1]


# ---- conversion guards ----------------------------------------------------------------------------

@pytest.fixture
def lv_pool(conn):
    return conn.add_pool(logical_pool_xml('vg0'), active=True)


def _qcow2(tmp_path, *extra):
    raw = tmp_path / 'base.raw'
    raw.write_bytes(b'\x05' * MIB)
    path = tmp_path / 'img.qcow2'
    import subprocess
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2'] + list(extra) + [str(path), '1M'], check=True)
    return path


@pytest.mark.skipif(not volmod.qemu_img.find(), reason='needs qemu-img')
@pytest.mark.parametrize('extra, words', [
    (lambda t: ['-b', str(t / 'base.raw'), '-F', 'raw'], 'a backing file'),
    (lambda t: ['-o', 'data_file=%s' % (t / 'data.raw')], 'an external data file'),
])
def test_conversion_of_an_image_that_reads_other_files_is_refused(conn, lv_pool, tmp_path, extra, words):
    src = _qcow2(tmp_path, *extra(tmp_path))
    with pytest.raises(ValidationError) as refused:
        plan_for(conn, is_local=True, check_mode=True, pool='vg0', name='lv', content={'src': str(src)})
    assert refused.value.option == 'content.src' and words in refused.value.msg
    # found by qemu-img info too, before qemu-img convert would read it
    with pytest.raises(OperationError) as refused:
        volmod.qemu_img.refuse_references(str(src), 'qcow2', 'content.src', str(src))
    assert 'it is refused' in refused.value.msg


@pytest.mark.skipif(not volmod.qemu_img.find(), reason='needs qemu-img')
def test_compare_with_conversion_is_refused(conn, lv_pool, tmp_path):
    src = _qcow2(tmp_path)
    lv_pool.add(volume_xml('lv', MIB, fmt=None, vol_type='block', path='/dev/vg0/lv'))
    with pytest.raises(ValidationError) as refused:
        plan_for(conn, is_local=True, check_mode=True, pool='vg0', name='lv',
                 content={'src': str(src), 'checksum': 'sha256:' + hashlib.sha256(src.read_bytes()).hexdigest(),
                          'compare': True})
    assert refused.value.option == 'content.compare' and 'is converted to raw' in refused.value.msg


@pytest.mark.skipif(not volmod.qemu_img.find(), reason='needs qemu-img')
def test_reimport_converts_before_it_deletes(conn, lv_pool, tmp_path):
    broken = tmp_path / 'broken.qcow2'
    broken.write_bytes(b'QFI\xfb' + struct.pack('>I', 99) + bytes(16) + struct.pack('>Q', MIB) + bytes(480))
    lv_pool.add(volume_xml('lv', MIB, fmt=None, vol_type='block', path='/dev/vg0/lv'))
    plan = plan_for(conn, is_local=True, pool='vg0', name='lv', content={'src': str(broken), 'force': True})
    assert plan.actions == ['convert', 'delete', 'create', 'upload']
    with pytest.raises(OperationError) as failed:
        engine.apply(plan, False)
    assert failed.value.details['failed_action'] == 'convert'
    assert 'lv' in lv_pool.volumes, 'the volume is kept when the conversion fails'


def test_conversion_into_a_missing_tmpdir_is_refused(conn, lv_pool, tmp_path):
    src = tmp_path / 'disk.qcow2'
    src.write_bytes(qcow2_header(MIB))
    with pytest.raises(ValidationError) as refused:
        plan_for(conn, is_local=True, check_mode=True, pool='vg0', name='lv',
                 content={'src': str(src), 'tmpdir': str(tmp_path / 'nope')})
    assert refused.value.option == 'content.tmpdir'


def test_copy_of_a_volume_a_running_domain_writes_is_not_verified_and_not_moved(conn, pool):
    _two_pools(conn)
    conn.add_domain('vm1', {'file': '/srv/old/src.raw'}, active=True)
    plan = plan_for(conn, check_mode=True, name='dst.raw', clone_from={'pool': 'old', 'name': 'src.raw'})
    assert plan.actions == ['refresh', 'clone'] and 'running domain(s) vm1 write it now' in plan.warnings[-1]
    for given in ({'move': True}, {'verify': True}):
        with pytest.raises(RefusedError) as refused:
            plan_for(conn, check_mode=True, name='dst.raw', clone_from=dict({'pool': 'old', 'name': 'src.raw'}, **given))
        assert 'is written by running domain(s) vm1 now' in refused.value.msg
        assert refused.value.details['domains'] == ['vm1']


# ---- encryption ----------------------------------------------------------------------------------

def test_encrypted_volume_is_created_with_the_secret_found_by_usage(conn, pool):
    secret = conn.add_secret('volume', DIR + '/enc.img', b'pass')
    plan = plan_for(conn, is_local=True, name='enc.img', capacity='1MiB',
                    encryption={'secret_usage': DIR + '/enc.img'})
    assert plan.actions == ['create']
    assert secret.UUIDString() in plan.diff['after']
    engine.apply(plan, False)
    encryption = created_xml(conn, 'enc.img').find('target/encryption')
    assert encryption.get('format') == 'luks'
    assert encryption.find('secret').attrib == {'type': 'passphrase', 'uuid': secret.UUIDString()}


def test_encryption_secret_missing_is_refused_and_check_mode_assumes_it(conn, pool):
    given = dict(name='enc.img', capacity='1MiB', encryption={'secret_uuid': '9d4ad5b4-0e9c-4f8b-a1c3-1a2b3c4d5e6f'})
    with pytest.raises(ValidationError) as refused:
        plan_for(conn, is_local=True, **given)
    assert refused.value.option == 'encryption.secret_uuid'
    assert 'libvirt has no secret of uuid 9d4ad5b4-0e9c-4f8b-a1c3-1a2b3c4d5e6f' in refused.value.msg
    plan = plan_for(conn, is_local=True, check_mode=True, **given)
    assert plan.actions == ['create'] and any('earlier task' in warning for warning in plan.warnings)
    assert conn.calls_of('createXML') == []


def test_encryption_secret_of_another_usage_is_refused(conn, pool):
    secret = conn.add_secret('ceph', 'client.libvirt', b'key')
    with pytest.raises(ValidationError) as refused:
        plan_for(conn, is_local=True, name='enc.img', capacity='1MiB', encryption={'secret_uuid': secret.UUIDString()})
    assert 'has usage ceph; a volume is encrypted with a secret of usage volume' in refused.value.msg


def test_existing_volume_with_another_secret_is_refused(conn, pool):
    ours = conn.add_secret('volume', DIR + '/enc.img', b'pass')
    pool.add(volume_xml('enc.img', MIB).replace(
        '</target>', "<encryption format='luks'><secret type='passphrase' uuid='1c2b3a4d-0000-4000-8000-"
                     "000000000001'/></encryption></target>"))
    with pytest.raises(RefusedError) as refused:
        plan_for(conn, is_local=True, name='enc.img', encryption={'secret_uuid': ours.UUIDString()})
    assert 'exists with luks encryption by secret 1c2b3a4d-0000-4000-8000-000000000001' in refused.value.msg


@pytest.mark.parametrize('given, option, words', [
    ({'format': 'vmdk'}, 'format', "format 'vmdk' cannot be LUKS-encrypted"),
    ({'encryption': {'secret_usage': ' '}}, 'encryption.secret_usage', 'give a non-empty value'),
])
def test_encryption_input_is_refused_before_libvirt_is_read(conn, pool, given, option, words):
    args = dict(name='enc.img', capacity='1MiB', encryption={'secret_usage': 'x'})
    args.update(given)
    with pytest.raises(ValidationError) as refused:
        plan_for(conn, is_local=True, **args)
    assert refused.value.option == option and words in refused.value.msg
    assert conn.calls_of('secretLookupByUsage') == []


def test_encryption_in_a_logical_pool_is_refused(conn, lvm):
    with pytest.raises(ValidationError) as refused:
        plan_for(conn, is_local=True, pool='vg0', name='lv', capacity='1MiB', encryption={'secret_usage': 'x'})
    assert 'image-file pools (dir, fs, netfs); logical pools are not among them' in refused.value.msg


def test_encrypted_volume_is_not_exported(conn, pool, tmp_path):
    pool.add(volume_xml('enc.img', MIB).replace(
        '</target>', "<encryption format='luks'><secret type='passphrase' uuid='1c2b3a4d-0000-4000-8000-"
                     "000000000001'/></encryption></target>"))
    with pytest.raises(RefusedError) as refused:
        plan_for(conn, is_local=True, name='enc.img', export={'dest': str(tmp_path / 'out')})
    assert 'is encrypted' in refused.value.msg and conn.calls_of('download') == []
