"""storage_pool against the real libvirtd: dir pools."""

import os
import stat

import pytest

from helpers import four_calls, pool_defined, run_module, virsh

pytestmark = pytest.mark.libvirt


@pytest.fixture
def dir_pool(tmp_path):
    name = 'it-dir-%d' % os.getpid()
    yield name, str(tmp_path / 'images')
    virsh('pool-destroy', name, check=False)
    virsh('pool-undefine', name, check=False)


@pytest.mark.pool_type('dir')
def test_dir_lifecycle(dir_pool):
    name, target = dir_pool
    args = {'name': name, 'type': 'dir', 'target': target, 'target_mode': '0711', 'autostart': True}

    first_check, applied, second_check, second = four_calls('storage_pool', args)
    assert first_check['changed'] is True
    assert first_check['actions'] == ['define', 'build', 'start', 'autostart']
    assert first_check['pool']['state'] == 'absent'
    assert '<path>%s</path>' % target in first_check['diff']['after']
    assert applied['changed'] is True
    assert applied['actions'] == first_check['actions'], 'check mode must predict the real run'
    assert applied['pool']['state'] == 'active'
    assert applied['pool']['autostart'] is True
    assert applied['pool']['capacity'] > 0
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o711
    for result in (second_check, second):
        assert result['changed'] is False, result
        assert result['actions'] == []

    # refresh: an operation, not a change; it finds a file put there behind libvirt's back
    with open(os.path.join(target, 'outside.img'), 'w') as handle:
        handle.write('x')
    refreshed = run_module('storage_pool', dict(args, refresh=True))
    assert refreshed['changed'] is False and refreshed['actions'] == ['refresh']
    assert 'outside.img' in virsh('vol-list', name)
    os.remove(os.path.join(target, 'outside.img'))
    run_module('storage_pool', dict(args, refresh=True))

    # a changed option is detected, shown in --diff, and applied
    change = dict(args, target_mode='0750')
    planned = run_module('storage_pool', change, check=True, diff=True)
    assert planned['changed'] is True
    assert '<mode>0711</mode>' in planned['diff']['before']
    assert '<mode>0750</mode>' in planned['diff']['after']
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o711, 'check mode changed the directory'
    done = run_module('storage_pool', change, diff=True)
    assert done['actions'] == planned['actions']
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o750
    assert '<mode>0750</mode>' in virsh('pool-dumpxml', '--inactive', name)
    assert run_module('storage_pool', change)['changed'] is False

    # an option left out is left as it is: this only stops the pool
    stopped = run_module('storage_pool', {'name': name, 'state': 'inactive'}, diff=True)
    assert stopped['actions'] == ['stop']
    assert stopped['pool']['state'] == 'inactive'
    assert '<mode>0750</mode>' in virsh('pool-dumpxml', '--inactive', name)
    assert run_module('storage_pool', {'name': name, 'state': 'inactive'})['changed'] is False

    # absent: undefined, data untouched
    with open(os.path.join(target, 'keep.img'), 'w') as handle:
        handle.write('data')
    planned = run_module('storage_pool', {'name': name, 'state': 'absent'}, check=True)
    assert planned['actions'] == ['undefine']
    assert pool_defined(name)
    removed = run_module('storage_pool', {'name': name, 'state': 'absent'})
    assert removed['actions'] == ['undefine']
    assert not pool_defined(name)
    assert os.path.exists(os.path.join(target, 'keep.img'))
    assert run_module('storage_pool', {'name': name, 'state': 'absent'})['changed'] is False


@pytest.mark.pool_type('dir')
def test_dir_deleted_refuses_volumes_then_deletes(dir_pool):
    name, target = dir_pool
    run_module('storage_pool', {'name': name, 'type': 'dir', 'target': target})
    virsh('vol-create-as', name, 'disk1.img', '1M')
    refused = run_module('storage_pool', {'name': name, 'state': 'deleted'})
    assert refused['failed'] is True
    assert 'disk1.img' in refused['msg'] and 'force' in refused['msg']
    assert pool_defined(name) and os.path.exists(os.path.join(target, 'disk1.img'))

    planned = run_module('storage_pool', {'name': name, 'state': 'deleted', 'force': True}, check=True)
    assert planned['actions'] == ['refresh', 'delete_volume:disk1.img', 'stop', 'delete', 'undefine']
    assert os.path.exists(os.path.join(target, 'disk1.img'))
    deleted = run_module('storage_pool', {'name': name, 'state': 'deleted', 'force': True})
    assert deleted['actions'] == planned['actions']
    assert not os.path.exists(target)
    assert not pool_defined(name)
    assert run_module('storage_pool', {'name': name, 'state': 'deleted'})['changed'] is False


def test_dir_on_change_modes(dir_pool):
    name, target = dir_pool
    run_module('storage_pool', {'name': name, 'type': 'dir', 'target': target})
    moved = target + '-moved'
    refused = run_module('storage_pool', {'name': name, 'target': moved, 'on_change': 'fail'})
    assert refused['failed'] is True
    assert 'target/path' in refused['msg']
    assert '<path>%s</path>' % target in virsh('pool-dumpxml', '--inactive', name)

    only = run_module('storage_pool', {'name': name, 'target': moved, 'on_change': 'redefine_only'})
    assert only['actions'] == ['redefine']
    assert any('restarted' in warning for warning in only.get('warnings', [])), only
    assert '<path>%s</path>' % moved in virsh('pool-dumpxml', '--inactive', name)
    # the running pool still uses the previous target until it restarts
    assert '<path>%s</path>' % target in virsh('pool-dumpxml', name)


def test_raw_xml_is_idempotent(dir_pool):
    name, target = dir_pool
    xml = '<pool type="dir"><name>%s</name><target><path>%s</path></target></pool>' % (name, target)
    first = run_module('storage_pool', {'name': name, 'xml': xml, 'state': 'present'})
    assert first['actions'] == ['define']
    assert run_module('storage_pool', {'name': name, 'xml': xml, 'state': 'present'})['changed'] is False
    started = run_module('storage_pool', {'name': name, 'xml': xml})
    assert started['actions'] == ['build', 'start']
    assert run_module('storage_pool', {'name': name, 'xml': xml})['changed'] is False
