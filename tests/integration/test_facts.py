"""storage_facts against the real libvirtd: a dir pool with a backing chain and a volume a defined
domain uses, an inactive pool, secrets, capabilities, the pools filter, query, bad input, check mode,
and a pool whose directory vanished."""

import base64
import os
import re
import shutil

import pytest

from helpers import define_domain, run_module, virsh, virsh_sizes

pytestmark = pytest.mark.libvirt

MIB = 1024 * 1024
SECRET_VALUE = b'it-fct secret value that must never show'

SECRET_XML = """<secret ephemeral='no' private='yes'>
  <description>it-fct test secret</description>
  <usage type='ceph'><name>%s</name></usage>
</secret>
"""


def drop_pool(name):
    virsh('pool-destroy', name, check=False)
    virsh('pool-undefine', name, check=False)


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    """A started dir pool with base.qcow2, overlay.qcow2 (backed by base), disk.raw (a disk of a
    defined, never started domain) and spare.raw (fully allocated), plus a defined inactive pool."""
    tag = os.getpid()
    base_dir = tmp_path_factory.mktemp('it-fct')
    name, off = 'it-fct-%d' % tag, 'it-fct-off-%d' % tag
    path, off_path = str(base_dir / 'pool'), str(base_dir / 'off')
    domain = 'it-fct-dom-%d' % tag
    secret_usage = 'it-fct-%d secret' % tag
    made = {'pools': [], 'domain': None, 'secret': None}
    try:
        virsh('pool-define-as', name, 'dir', '--target', path)
        made['pools'].append(name)
        virsh('pool-build', name)
        virsh('pool-start', name)
        virsh('pool-define-as', off, 'dir', '--target', off_path)
        made['pools'].append(off)
        virsh('vol-create-as', name, 'base.qcow2', '16M', '--format', 'qcow2')
        virsh('vol-create-as', name, 'overlay.qcow2', '16M', '--format', 'qcow2',
              '--backing-vol', os.path.join(path, 'base.qcow2'), '--backing-vol-format', 'qcow2')
        virsh('vol-create-as', name, 'disk.raw', '8M', '--format', 'raw')
        virsh('vol-create-as', name, 'spare.raw', '4M', '--allocation', '4M', '--format', 'raw')
        define_domain(domain, os.path.join(path, 'disk.raw'), 'raw', base_dir)
        made['domain'] = domain
        secret_xml = base_dir / 'secret.xml'
        secret_xml.write_text(SECRET_XML % secret_usage)
        uuid = virsh('secret-define', str(secret_xml)).split()[1]
        made['secret'] = uuid
        virsh('secret-set-value', uuid, '--base64', base64.b64encode(SECRET_VALUE).decode())
        yield {'pool': name, 'path': path, 'off': off, 'off_path': off_path, 'domain': domain,
               'secret_uuid': uuid, 'secret_usage': secret_usage,
               'uuid': virsh('pool-uuid', name).strip()}
    finally:
        if made['domain']:
            virsh('undefine', made['domain'], check=False)
        if made['secret']:
            virsh('secret-undefine', made['secret'], check=False)
        for pool in made['pools']:
            drop_pool(pool)


def facts_of(result):
    assert result['failed'] is False, result.get('msg')
    assert result['changed'] is False
    return result['ansible_facts']['libvirt_storage']


def test_default_gathers_pools_without_volumes(lab):
    facts = facts_of(run_module('storage_facts', {'uri': 'qemu:///system'}))
    assert set(facts) == {'pools'}
    pool = facts['pools'][lab['pool']]
    assert pool['name'] == lab['pool'] and pool['uuid'] == lab['uuid']
    assert pool['type'] == 'dir' and pool['state'] == 'active'
    assert pool['persistent'] is True and pool['autostart'] is False
    for key in ('capacity', 'allocation', 'available'):
        assert isinstance(pool[key], int) and pool[key] > 0, key
    assert pool['usage_percent'] == round(100.0 * pool['allocation'] / pool['capacity'], 1)
    assert pool['target']['path'] == lab['path']
    assert set(pool['target']['permissions']) >= {'mode', 'owner', 'group'}
    assert pool['volumes'] == {}, 'volumes are gathered only when asked for'
    off = facts['pools'][lab['off']]
    assert off['state'] == 'inactive' and off['volumes'] == {}
    assert off['capacity'] == 0 and off['usage_percent'] is None


def test_volumes_backing_store_and_used_by(lab):
    result = run_module('storage_facts', {'gather': ['volumes'], 'pools': [lab['pool'], lab['off']]})
    facts = facts_of(result)
    assert set(facts['pools']) == {lab['pool'], lab['off']}, 'the pools filter keeps only the named pools'
    assert not result.get('warnings'), 'an inactive pool is no error'
    volumes = facts['pools'][lab['pool']]['volumes']
    assert list(volumes) == ['base.qcow2', 'disk.raw', 'overlay.qcow2', 'spare.raw']
    path = lab['path']
    for name, vol in volumes.items():
        assert vol['name'] == name and vol['path'] == os.path.join(path, name) and vol['key'] == vol['path']
        assert vol['type'] == 'file'
    assert volumes['base.qcow2']['format'] == 'qcow2' and volumes['base.qcow2']['capacity'] == 16 * MIB
    assert volumes['base.qcow2']['backing_store'] is None
    assert volumes['overlay.qcow2']['backing_store'] == {'path': os.path.join(path, 'base.qcow2'), 'format': 'qcow2'}
    assert volumes['disk.raw']['format'] == 'raw' and volumes['disk.raw']['capacity'] == 8 * MIB
    assert volumes['disk.raw']['used_by'] == [lab['domain']]
    assert volumes['spare.raw']['allocation'] >= 4 * MIB
    for name in ('base.qcow2', 'overlay.qcow2', 'spare.raw'):
        assert volumes[name]['used_by'] == [], name
    assert facts['pools'][lab['off']]['volumes'] == {}


def test_gather_all_four_kinds(lab):
    result = run_module('storage_facts', {'gather': ['pools', 'volumes', 'secrets', 'capabilities'],
                                          'pools': [lab['pool']]}, verbosity=3)
    facts = facts_of(result)
    assert set(facts) == {'pools', 'secrets', 'capabilities'}
    assert len(facts['pools'][lab['pool']]['volumes']) == 4
    mine = [s for s in facts['secrets'] if s['uuid'] == lab['secret_uuid']]
    assert mine == [{'state': 'present', 'uuid': lab['secret_uuid'], 'usage': 'ceph', 'usage_id': lab['secret_usage'],
                     'description': 'it-fct test secret', 'private': True, 'ephemeral': False}]
    encoded = base64.b64encode(SECRET_VALUE).decode()
    assert SECRET_VALUE.decode() not in result.output and encoded not in result.output
    caps = facts['capabilities']
    assert caps['dir']['supported'] is True
    assert caps['dir']['volume']['default_format'] == 'raw' and 'qcow2' in caps['dir']['volume']['formats']
    assert caps['dir']['operations']['volume_resize'] is True and caps['dir']['operations']['build'] is True
    assert 'ext4' in caps['fs']['pool']['formats']
    assert caps['iscsi']['operations']['volume_create'] is False
    assert caps['logical']['operations']['volume_resize'] is False


def test_physical_provisioned_and_overcommit_match_libvirt(lab):
    """physical as virsh vol-info --physical and vol-dumpxml say, provisioned as the sum of vol-info's
    capacities, overcommit_ratio against pool-info's capacity; a sparse raw volume and qcow2 images,
    whose physical size is neither their allocation nor their capacity."""
    pool_name = lab['pool']
    virsh('vol-create-as', pool_name, 'sparse.raw', '8M', '--allocation', '0', '--format', 'raw')
    try:
        pool = facts_of(run_module('storage_facts', {'gather': ['volumes'], 'pools': [pool_name]}))['pools'][pool_name]
        capacities = 0
        for name, vol in pool['volumes'].items():
            info = virsh_sizes('vol-info', '--bytes', '--pool', pool_name, name)
            physical = virsh_sizes('vol-info', '--bytes', '--physical', '--pool', pool_name, name)['physical']
            dumped = re.search(r"<physical unit='bytes'>(\d+)</physical>",
                               virsh('vol-dumpxml', '--pool', pool_name, name))
            assert dumped and int(dumped.group(1)) == physical, name
            assert (vol['capacity'], vol['physical']) == (info['capacity'], physical), name
            assert vol['physical'] == os.path.getsize(vol['path']), 'a file volume\'s physical size is its file size'
            capacities += info['capacity']
        sparse, base = pool['volumes']['sparse.raw'], pool['volumes']['base.qcow2']
        # a sparse raw file: its size is the capacity, (almost) no blocks are allocated
        assert sparse['physical'] == sparse['capacity'] == 8 * MIB and sparse['allocation'] < MIB
        # a qcow2 image: its file is the header and metadata, far from the 16 MiB the guest sees
        assert 0 < base['physical'] < MIB and base['capacity'] == 16 * MIB
        pool_info = virsh_sizes('pool-info', '--bytes', pool_name)
        assert pool['capacity'] == pool_info['capacity']
        assert pool['provisioned'] == capacities == (16 + 16 + 8 + 4 + 8) * MIB
        assert pool['overcommit_ratio'] == round(float(capacities) / pool_info['capacity'], 3)
        assert pool['thin_provisioned'] is True
    finally:
        virsh('vol-delete', '--pool', pool_name, 'sparse.raw', check=False)
    # without the volumes the pool's provisioned figure is not known
    alone = facts_of(run_module('storage_facts', {'pools': [pool_name]}))['pools'][pool_name]
    assert alone['provisioned'] is None and alone['overcommit_ratio'] is None


def test_autostart_pool_not_running_is_flagged(lab, tmp_path):
    name = 'it-fct-auto-%d' % os.getpid()
    virsh('pool-define-as', name, 'dir', '--target', str(tmp_path / 'auto'))
    try:
        virsh('pool-autostart', name)
        result = run_module('storage_facts', {'pools': [name, lab['pool']]})
        pools = facts_of(result)['pools']
        assert pools[name]['state'] == 'inactive' and pools[name]['autostart'] is True
        assert pools[name]['autostart_not_running'] is True
        assert pools[lab['pool']]['autostart_not_running'] is False
        warnings = [w for w in result.get('warnings', []) if 'autostart' in w]
        assert len(warnings) == 1 and name in warnings[0], result.get('warnings')
        described = run_module('storage_pool', {'name': name, 'state': 'present'})
        assert described['changed'] is False and described['pool']['autostart_not_running'] is True
    finally:
        drop_pool(name)


def test_modules_return_the_records_of_the_facts(lab):
    """storage_pool, storage_volume and storage_secret describe an object as storage_facts does."""
    pool_name = lab['pool']
    pool = run_module('storage_pool', {'name': pool_name, 'state': 'present'})
    volume = run_module('storage_volume', {'pool': pool_name, 'name': 'overlay.qcow2'})
    secret = run_module('storage_secret', {'uuid': lab['secret_uuid'], 'usage': 'ceph',
                                           'usage_id': lab['secret_usage'], 'description': 'it-fct test secret',
                                           'private': True})
    for result in (pool, volume, secret):
        assert result['failed'] is False and result['changed'] is False, result.get('msg')
    facts = facts_of(run_module('storage_facts', {'gather': ['pools', 'secrets'], 'pools': [pool_name]}))
    with_volumes = facts_of(run_module('storage_facts', {'gather': ['volumes'], 'pools': [pool_name]}))
    pool_record = dict(facts['pools'][pool_name])
    assert set(pool['pool']) - set(pool_record) == {'xml'} and set(pool_record) - set(pool['pool']) == {'volumes'}
    # the filesystem under the pool may change between the two reads: its free space is not compared
    moving = ('allocation', 'available', 'usage_percent', 'xml', 'volumes')
    assert dict((k, v) for k, v in pool['pool'].items() if k not in moving) == dict(
        (k, v) for k, v in pool_record.items() if k not in moving)
    assert pool['pool']['target'] == {'path': lab['path'], 'permissions': pool_record['target']['permissions']}
    vol_record = dict(with_volumes['pools'][pool_name]['volumes']['overlay.qcow2'])
    assert vol_record.pop('used_by') == []
    assert volume['volume'] == vol_record
    secret_record = [s for s in facts['secrets'] if s['uuid'] == lab['secret_uuid']][0]
    assert dict((k, v) for k, v in secret['secret'].items() if k not in ('value_set', 'xml')) == secret_record


def test_unknown_pool_name_is_a_warning(lab):
    missing = 'it-fct-no-such-pool'
    result = run_module('storage_facts', {'pools': [lab['pool'], missing]})
    facts = facts_of(result)
    assert list(facts['pools']) == [lab['pool']]
    assert any(missing in warning for warning in result.get('warnings', [])), result.get('warnings')


def test_query(lab):
    pool = lab['pool']
    result = run_module('storage_facts', {
        'gather': ['volumes'], 'pools': [pool],
        'query': 'pools."%s".volumes.* | [?length(used_by) > `0`].name' % pool})
    facts_of(result)
    assert result['query_result'] == ['disk.raw']
    backed = run_module('storage_facts', {'gather': ['volumes'], 'pools': [pool],
                                          'query': 'values(pools)[].values(volumes)[] | [?backing_store].name'})
    assert backed['query_result'] == ['overlay.qcow2']
    names = run_module('storage_facts', {'pools': [pool, lab['off']],
                                         'query': 'pools.* | [?usage_percent == null].name'})
    assert names['query_result'] == [lab['off']]


@pytest.mark.parametrize('args,option,words', [
    ({'gather': ['pools', 'disks']}, 'gather', ['disks', 'pools', 'volumes', 'secrets', 'capabilities']),
    ({'query': 'pools.*.[name'}, 'query', ['JMESPath']),
    ({'query': 'abs(pools)'}, 'query', ['failed']),
], ids=['bad gather', 'bad query syntax', 'query type error'])
def test_bad_input_fails_clearly(lab, args, option, words):
    for check in (False, True):
        result = run_module('storage_facts', args, check=check)
        assert result['failed'] is True, result
        assert option in result['msg'], result['msg']
        for word in words:
            assert word in result['msg'], result['msg']


def test_check_mode_gathers_the_same(lab):
    args = {'gather': ['volumes', 'secrets'], 'pools': [lab['pool'], lab['off']], 'query': 'pools.*.name'}
    real = run_module('storage_facts', args)
    checked = run_module('storage_facts', args, check=True)
    assert checked['changed'] is False and checked['failed'] is False
    assert checked['query_result'] == real['query_result'] == sorted([lab['pool'], lab['off']])
    real_pools = facts_of(real)['pools']
    checked_pools = facts_of(checked)['pools']
    assert list(checked_pools[lab['pool']]['volumes']) == list(real_pools[lab['pool']]['volumes'])
    for vol in ('base.qcow2', 'overlay.qcow2', 'disk.raw', 'spare.raw'):
        assert checked_pools[lab['pool']]['volumes'][vol] == real_pools[lab['pool']]['volumes'][vol]


def test_unreadable_pool_is_a_warning(lab, tmp_path):
    name = 'it-fct-gone-%d' % os.getpid()
    path = str(tmp_path / 'gone')
    virsh('pool-define-as', name, 'dir', '--target', path)
    try:
        virsh('pool-build', name)
        virsh('pool-start', name)
        virsh('vol-create-as', name, 'x.raw', '1M')
        shutil.rmtree(path)  # the storage goes away under a running pool
        # without refresh the volume whose file is gone is left out, and nothing fails
        facts = facts_of(run_module('storage_facts', {'gather': ['volumes'], 'pools': [name]}))
        assert facts['pools'][name]['state'] == 'active' and facts['pools'][name]['volumes'] == {}
        result = run_module('storage_facts', {'gather': ['volumes'], 'pools': [name, lab['pool']], 'refresh': True})
        facts = facts_of(result)
        warnings = [w for w in result.get('warnings', []) if name in w]
        assert warnings, result.get('warnings')
        assert path in warnings[0], 'the warning names the directory: %s' % warnings[0]
        assert 'not refreshed' in warnings[0], warnings[0]
        assert facts['pools'][name]['volumes'] == {}
        assert len(facts['pools'][lab['pool']]['volumes']) == 4, 'the other pools are still reported'
        # libvirt stops a pool whose refresh fails: the facts did not refresh it, so it still runs
        assert facts['pools'][name]['state'] == 'active'
        assert 'running' in virsh('pool-info', name)
    finally:
        drop_pool(name)


def test_refresh_finds_files_added_outside_libvirt(lab):
    """A file copied into the pool directory is listed only with refresh; a file grown outside
    libvirt shows its new size either way (libvirt reads a volume again for its XML)."""
    added = os.path.join(lab['path'], 'added-outside.raw')
    spare = os.path.join(lab['path'], 'spare.raw')
    with open(added, 'wb') as handle:
        handle.truncate(2 * 1024 * 1024)
    size = os.path.getsize(spare)
    try:
        os.truncate(spare, size + 1024 * 1024)
        volumes = facts_of(run_module('storage_facts', {'gather': ['volumes'], 'pools': [lab['pool']]}))[
            'pools'][lab['pool']]['volumes']
        assert 'added-outside.raw' not in volumes
        assert volumes['spare.raw']['capacity'] == size + 1024 * 1024
        volumes = facts_of(run_module('storage_facts', {'gather': ['volumes'], 'pools': [lab['pool']],
                                                        'refresh': True}))['pools'][lab['pool']]['volumes']
        assert volumes['added-outside.raw']['capacity'] == 2 * 1024 * 1024
    finally:
        os.truncate(spare, size)
        os.unlink(added)
        virsh('pool-refresh', lab['pool'])
