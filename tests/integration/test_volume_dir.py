"""storage_volume against the real libvirtd: dir pools, domains that use volumes, bulk tasks."""

import hashlib
import os
import stat
import subprocess

import pytest

from helpers import (
    define_domain,
    four_calls,
    image_info,
    run_module,
    virsh,
    volumes_of,
)

pytestmark = pytest.mark.libvirt
# the pool fixture of conftest.py names its pool after this
POOL_PREFIX = 'it-vol'

MIB = 1024 * 1024


def assert_no_change(*results):
    for result in results:
        assert result['failed'] is False, result.get('msg')
        assert result['changed'] is False, result
        assert result['actions'] == []


def test_raw_and_qcow2_lifecycle(pool):
    name, path = pool

    first_check, applied, second_check, second = four_calls(
        'storage_volume', {'pool': name, 'name': 'a.raw', 'capacity': '10M'})
    assert first_check['changed'] is True and first_check['actions'] == ['create']
    assert first_check['volume']['state'] == 'absent'
    assert 'capacity: 10485760' in first_check['diff']['after']
    assert applied['actions'] == first_check['actions'], 'check mode must predict the real run'
    assert applied['volume']['capacity'] == 10 * MIB and applied['volume']['format'] == 'raw'
    assert applied['volume']['path'] == os.path.join(path, 'a.raw')
    assert os.path.getsize(os.path.join(path, 'a.raw')) == 10 * MIB
    assert_no_change(second_check, second)
    assert volumes_of(name) == ['a.raw']

    qcow = {'pool': name, 'name': 'b.qcow2', 'capacity': '20MiB', 'format': 'qcow2', 'mode': '0600'}
    first_check, applied, second_check, second = four_calls('storage_volume', qcow)
    assert first_check['actions'] == ['create'] and applied['actions'] == ['create']
    file_path = os.path.join(path, 'b.qcow2')
    info = image_info(file_path)
    assert info['format'] == 'qcow2' and info['virtual-size'] == 20 * MIB
    assert stat.S_IMODE(os.stat(file_path).st_mode) == 0o600
    assert applied['volume']['mode'] == '0600'
    assert_no_change(second_check, second)

    # grow in place: shown in --diff, predicted by check mode
    grow = dict(qcow, capacity='30M')
    planned = run_module('storage_volume', grow, check=True, diff=True)
    assert planned['actions'] == ['resize']
    assert 'capacity: 20971520' in planned['diff']['before'] and 'capacity: 31457280' in planned['diff']['after']
    assert image_info(file_path)['virtual-size'] == 20 * MIB, 'check mode resized the volume'
    done = run_module('storage_volume', grow)
    assert done['actions'] == ['resize'] and done['volume']['capacity'] == 30 * MIB
    assert image_info(file_path)['virtual-size'] == 30 * MIB
    assert_no_change(run_module('storage_volume', grow))

    # shrinking is refused unless allowed
    shrink = dict(qcow, capacity='10M')
    refused = run_module('storage_volume', shrink)
    assert refused['failed'] is True
    assert 'allow_shrink' in refused['msg'] and 'b.qcow2' in refused['msg']
    assert image_info(file_path)['virtual-size'] == 30 * MIB
    shrink['allow_shrink'] = True
    assert run_module('storage_volume', shrink, check=True)['actions'] == ['shrink']
    shrunk = run_module('storage_volume', shrink)
    assert shrunk['actions'] == ['shrink'] and shrunk['volume']['capacity'] == 10 * MIB
    assert image_info(file_path)['virtual-size'] == 10 * MIB
    assert_no_change(run_module('storage_volume', shrink))

    # permissions of a volume that exists
    chmod = dict(shrink, mode='0640')
    assert run_module('storage_volume', chmod, check=True)['actions'] == ['chmod']
    assert stat.S_IMODE(os.stat(file_path).st_mode) == 0o600
    assert run_module('storage_volume', chmod)['actions'] == ['chmod']
    assert stat.S_IMODE(os.stat(file_path).st_mode) == 0o640
    assert_no_change(run_module('storage_volume', chmod))

    # a format that differs is refused: images are not converted
    converted = run_module('storage_volume', {'pool': name, 'name': 'a.raw', 'format': 'qcow2'})
    assert converted['failed'] is True and 'not converted' in converted['msg']

    # wipe, then delete
    with open(os.path.join(path, 'a.raw'), 'r+b') as handle:
        handle.write(b'secret data' * 100)
    gone = {'pool': name, 'name': 'a.raw', 'state': 'absent', 'wipe': 'zero'}
    first_check, applied, second_check, second = four_calls('storage_volume', gone)
    assert first_check['actions'] == ['wipe', 'delete'] and applied['actions'] == ['wipe', 'delete']
    assert applied['volume']['state'] == 'absent'
    assert_no_change(second_check, second)
    assert volumes_of(name) == ['b.qcow2']


def test_backing_store_and_clones(pool, pool2):
    name, path = pool
    other, other_path = pool2
    base = run_module('storage_volume', {'pool': name, 'name': 'base.qcow2', 'capacity': '16M', 'format': 'qcow2'})
    assert base['changed'] is True
    base_path = base['volume']['path']

    overlay = {'pool': name, 'name': 'overlay.qcow2', 'backing_store': {'path': base_path}}
    first_check, applied, second_check, second = four_calls('storage_volume', overlay)
    assert first_check['actions'] == ['create'] and applied['actions'] == ['create']
    info = image_info(os.path.join(path, 'overlay.qcow2'))
    assert info['format'] == 'qcow2' and info['backing-filename'] == base_path
    assert info['virtual-size'] == 16 * MIB, 'an overlay without capacity takes the base image size'
    assert applied['volume']['backing_store']['path'] == base_path
    assert_no_change(second_check, second)

    # the base of an overlay is not deleted unless forced
    refused = run_module('storage_volume', {'pool': name, 'name': 'base.qcow2', 'state': 'absent'})
    assert refused['failed'] is True and 'overlay.qcow2' in refused['msg'] and 'force' in refused['msg']
    assert 'base.qcow2' in volumes_of(name)

    # clone in the same pool, then into another pool
    clone = {'pool': name, 'name': 'copy.qcow2', 'clone_from': {'name': 'base.qcow2'}}
    first_check, applied, second_check, second = four_calls('storage_volume', clone)
    assert first_check['actions'] == ['clone'] and applied['actions'] == ['clone']
    assert applied['volume']['format'] == 'qcow2' and applied['volume']['capacity'] == 16 * MIB
    assert_no_change(second_check, second)
    across = {'pool': other, 'name': 'far.qcow2', 'clone_from': {'pool': name, 'name': 'base.qcow2'},
              'capacity': '24M'}
    done = run_module('storage_volume', across)
    assert done['actions'] == ['clone', 'resize', 'verify'], done.get('msg')
    assert image_info(os.path.join(other_path, 'far.qcow2'))['virtual-size'] == 24 * MIB
    assert_no_change(run_module('storage_volume', across))

    # a backing store that does not exist: named, and nothing made
    missing = run_module('storage_volume', {'pool': name, 'name': 'orphan.qcow2',
                                            'backing_store': {'path': os.path.join(path, 'nope.qcow2')}})
    assert missing['failed'] is True and 'backing_store.path' in missing['msg']
    assert 'orphan.qcow2' not in volumes_of(name)


def test_upload_with_checksum(pool, tmp_path):
    name, path = pool
    src = tmp_path / 'disk.raw'
    data = os.urandom(3 * MIB + 4096)
    src.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    upload = {'pool': name, 'name': 'up.raw', 'content': {'src': str(src), 'checksum': 'sha256:' + digest}}
    first_check, applied, second_check, second = four_calls('storage_volume', upload)
    assert first_check['actions'] == ['create', 'upload']
    assert applied['actions'] == ['create', 'upload'], applied.get('msg')
    assert applied['volume']['capacity'] == len(data)
    with open(os.path.join(path, 'up.raw'), 'rb') as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == digest
    assert_no_change(second_check, second)

    # a qcow2 image goes in as it is; a larger capacity grows it after the upload
    image = tmp_path / 'cloud.qcow2'
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', str(image), '64M'], check=True)
    qcow = {'pool': name, 'name': 'cloud.qcow2', 'content': {'src': str(image)}, 'capacity': '96M'}
    planned = run_module('storage_volume', qcow, check=True)
    assert planned['actions'] == ['create', 'upload', 'resize'], planned.get('msg')
    done = run_module('storage_volume', qcow)
    assert done['actions'] == planned['actions'], done.get('msg')
    assert done['volume']['format'] == 'qcow2' and done['volume']['capacity'] == 96 * MIB
    assert image_info(os.path.join(path, 'cloud.qcow2'))['virtual-size'] == 96 * MIB
    assert_no_change(run_module('storage_volume', qcow))

    # a checksum that does not match: nothing is made
    wrong = dict(upload, name='bad.raw', content={'src': str(src), 'checksum': 'sha256:' + '0' * 64})
    for check in (True, False):
        result = run_module('storage_volume', wrong, check=check)
        assert result['failed'] is True and 'content.checksum' in result['msg']
    assert 'bad.raw' not in volumes_of(name)


def test_bulk_four_calls(pool):
    name, path = pool
    bulk = {'pool': name, 'format': 'qcow2', 'volumes': [
        {'name': 'v%d.qcow2' % i, 'capacity': '%dM' % (4 + i)} for i in range(5)
    ] + [{'name': 'r.raw', 'capacity': '1M', 'format': 'raw'}]}
    first_check, applied, second_check, second = four_calls('storage_volume', bulk)
    assert first_check['changed'] is True
    assert first_check['actions'] == ['create:v%d.qcow2' % i for i in range(5)] + ['create:r.raw']
    assert applied['actions'] == first_check['actions'], applied.get('msg')
    assert [v['actions'] for v in applied['volumes']] == [['create']] * 6
    assert all(v['changed'] for v in applied['volumes'])
    assert [v['format'] for v in applied['volumes']] == ['qcow2'] * 5 + ['raw']
    assert image_info(os.path.join(path, 'v3.qcow2'))['virtual-size'] == 7 * MIB
    assert len(first_check['diff']) == 6
    assert_no_change(second_check, second)
    assert [v['changed'] for v in second['volumes']] == [False] * 6

    # an item can use a volume made earlier in the same task as its backing store
    layered = {'pool': name, 'volumes': [{'name': 'base2.qcow2', 'capacity': '6M', 'format': 'qcow2'},
                                         {'name': 'top2.qcow2',
                                          'backing_store': {'path': os.path.join(path, 'base2.qcow2')}}]}
    planned = run_module('storage_volume', layered, check=True)
    assert planned['actions'] == ['create:base2.qcow2', 'create:top2.qcow2'], planned.get('msg')
    made = run_module('storage_volume', layered)
    assert made['actions'] == planned['actions'], made.get('msg')
    assert image_info(os.path.join(path, 'top2.qcow2'))['virtual-size'] == 6 * MIB
    assert_no_change(run_module('storage_volume', layered))
    run_module('storage_volume', {'pool': name, 'state': 'absent', 'force': True,
                                  'volumes': [{'name': 'top2.qcow2'}, {'name': 'base2.qcow2'}]})

    # one item changes: only that one reports it
    bulk['volumes'][2]['capacity'] = '32M'
    bulk['volumes'].append({'name': 'v0.qcow2', 'state': 'absent'})
    twice = run_module('storage_volume', bulk)
    assert twice['failed'] is True and "'v0.qcow2' is named twice" in twice['msg']
    bulk['volumes'][-1]['name'] = 'r.raw'
    del bulk['volumes'][5]
    changed = run_module('storage_volume', bulk)
    assert changed['actions'] == ['resize:v2.qcow2', 'delete:r.raw'], changed.get('msg')
    assert [v['changed'] for v in changed['volumes']] == [False, False, True, False, False, True]
    assert changed['volumes'][5]['state'] == 'absent'
    assert_no_change(run_module('storage_volume', bulk))

    # an item without a name: the whole task fails before anything is made
    missing = run_module('storage_volume', {'pool': name, 'volumes': [{'name': 'x.raw', 'capacity': '1M'},
                                                                      {'capacity': '1M'}]})
    assert missing['failed'] is True
    assert missing['msg'] == 'missing required arguments: name found in volumes', missing['msg']
    assert 'x.raw' not in volumes_of(name)


@pytest.fixture
def domain(tmp_path):
    name = 'it-dom-%d' % os.getpid()

    def define(disk_path):
        return define_domain(name, disk_path, 'qcow2', tmp_path)

    yield define
    virsh('undefine', name, check=False)


def test_volume_used_by_a_domain(pool, domain):
    name, _path = pool
    made = run_module('storage_volume', {'pool': name, 'name': 'vm.qcow2', 'capacity': '8M', 'format': 'qcow2'})
    dom = domain(made['volume']['path'])
    gone = {'pool': name, 'name': 'vm.qcow2', 'state': 'absent'}
    for check in (True, False):
        refused = run_module('storage_volume', gone, check=check)
        assert refused['failed'] is True
        assert dom in refused['msg'] and 'force' in refused['msg']
    shrink = run_module('storage_volume', {'pool': name, 'name': 'vm.qcow2', 'capacity': '4M', 'allow_shrink': True})
    assert shrink['failed'] is True and dom in shrink['msg']
    assert volumes_of(name) == ['vm.qcow2']
    gone['force'] = True
    assert run_module('storage_volume', gone, check=True)['actions'] == ['delete']
    forced = run_module('storage_volume', gone)
    assert forced['actions'] == ['delete'] and volumes_of(name) == []


SIZE_UNITS = ('b, bytes, K/KiB, M/MiB, G/GiB, T/TiB, P/PiB, E/EiB (powers of 1024), '
              'KB, MB, GB, TB, PB, EB (powers of 1000)')
NO_POOL = 'ts-no-such-pool-%d' % os.getpid()
# label, args, option, the message
BAD_INPUT = [
    ('zero capacity', {'name': 'z.raw', 'capacity': 0}, 'capacity', 'capacity 0: a volume needs a size above 0'),
    ('negative capacity', {'name': 'n.raw', 'capacity': '-5G'}, 'capacity',
     "capacity: cannot read '-5G' as a size; write a number with an optional unit: " + SIZE_UNITS),
    ('unknown format', {'name': 'f.img', 'capacity': '1M', 'format': 'qcow9'}, 'format',
     "format 'qcow9' is not a volume format of dir pools; accepted: raw, qcow2, qed, vmdk, vpc, vdi"),
    ('name with slash', {'name': 'a/b.raw', 'capacity': '1M'}, 'name',
     "name 'a/b.raw' is not valid: it must be non-empty, must not start with a blank and must not contain \"/\""),
    ('content src missing', {'name': 'c.raw', 'content': {'src': '/nonexistent/file.img'}}, 'content.src',
     "content.src '/nonexistent/file.img': no such file on the host running the module"),
    ('no capacity', {'name': 'nc.raw'}, 'capacity',
     'volume nc.raw does not exist, so capacity is needed to create it (or clone_from, content or backing_store)'),
    ('bad checksum form', {'name': 'cs.raw', 'capacity': '1M', 'content': {'src': '/etc/hostname', 'checksum': 'abc'}},
     'content.checksum', "content.checksum 'abc': write it as ALGORITHM:HEXDIGEST, e.g. sha256:9f86d08...; "
                         "algorithms: blake2b, blake2s, md5, sha1, sha224, sha256, sha384, sha3_224, sha3_256, sha3_384, sha3_512, sha512"),
    ('bulk item bad size', {'volumes': [{'name': 'ok.raw', 'capacity': '1M'}, {'name': 'bad.raw', 'capacity': '2 parsecs'}]},
     'volumes[1].capacity', "volumes[1].capacity: unknown unit 'parsecs' in '2 parsecs'; accepted units: " + SIZE_UNITS),
]


@pytest.mark.parametrize('args,option,message', [case[1:] for case in BAD_INPUT], ids=[case[0] for case in BAD_INPUT])
def test_bad_input_fails_clearly(pool, args, option, message):
    name, path = pool
    args = dict({'pool': name}, **args)
    # check mode assumes a missing pool (an earlier task would define it): only the real run fails on it
    for check in ((False,) if option == 'pool' else (True, False)):
        result = run_module('storage_volume', args, check=check)
        assert result['failed'] is True, result
        assert result['msg'] == message
        assert (result['error'], result['option']) == ('ValidationError', option)
    assert volumes_of(name) == [] and os.listdir(path) == []


def test_volume_in_a_pool_that_does_not_exist_fails_the_real_run():
    """(check mode is another matter: an earlier task of the play may define the pool)"""
    result = run_module('storage_volume', {'pool': NO_POOL, 'name': 'x.raw', 'capacity': '1M'})
    assert result['failed'] is True
    assert result['msg'] == "pool '%s': no such storage pool; define it first (kvmops.storage.storage_pool)" % NO_POOL
    assert (result['error'], result['option']) == ('ValidationError', 'pool')
    assert NO_POOL not in virsh('pool-list', '--all', '--name').split()
