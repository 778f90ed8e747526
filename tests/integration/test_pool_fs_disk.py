"""storage_pool against the real libvirtd: fs (loop device + ext4) and disk (loop device + gpt) pools."""

import os
import subprocess

import pytest

from helpers import pool_defined, run_module, virsh

pytestmark = pytest.mark.libvirt


def blkid(device, field):
    proc = subprocess.run(['blkid', '-p', '-o', 'value', '-s', field, device],
                          stdout=subprocess.PIPE, universal_newlines=True, check=False)
    return proc.stdout.strip()


def mount_options(target):
    proc = subprocess.run(['findmnt', '-n', '-o', 'OPTIONS', target], stdout=subprocess.PIPE,
                          universal_newlines=True, check=False)
    return proc.stdout.strip()


@pytest.fixture
def pool_name(request):
    name = 'it-%s-%d' % (request.node.name.split('_')[1], os.getpid())
    yield name
    virsh('pool-destroy', name, check=False)
    virsh('pool-undefine', name, check=False)


def test_fs_lifecycle(loopdev, tmp_path, pool_name):
    device = loopdev(96)
    target = str(tmp_path / 'mnt')
    args = {'name': pool_name, 'type': 'fs', 'source_dev': [device], 'source_format': 'ext4', 'target': target}

    planned = run_module('storage_pool', args, check=True, diff=True)
    assert planned['actions'] == ['define', 'build', 'start']
    assert blkid(device, 'TYPE') == '', 'check mode made a file system'
    applied = run_module('storage_pool', args, diff=True)
    assert applied['actions'] == planned['actions']
    assert blkid(device, 'TYPE') == 'ext4'
    assert mount_options(target), 'libvirt did not mount the file system'
    assert applied['pool']['capacity'] > 80 * 1024 * 1024
    for result in (run_module('storage_pool', args, check=True, diff=True), run_module('storage_pool', args, diff=True)):
        assert result['changed'] is False and result['actions'] == []

    # a changed option (mount options) shows in --diff and is applied by a restart
    change = dict(args, mount_opts=['noatime'])
    planned = run_module('storage_pool', change, check=True, diff=True)
    assert planned['actions'] == ['redefine', 'restart']
    assert 'noatime' in planned['diff']['after'] and 'noatime' not in planned['diff']['before']
    assert 'noatime' not in mount_options(target)
    done = run_module('storage_pool', change)
    assert done['actions'] == planned['actions']
    assert 'noatime' in mount_options(target).split(',')
    assert run_module('storage_pool', change)['changed'] is False

    # a device holding another file system is refused unless build=overwrite
    other = loopdev(64)
    subprocess.run(['mkfs.ext2', '-q', '-F', other], check=True)
    refused = run_module('storage_pool', {'name': pool_name + '-x', 'type': 'fs', 'source_dev': [other],
                                          'source_format': 'xfs', 'target': str(tmp_path / 'x')})
    assert refused['failed'] is True and 'overwrite' in refused['msg']
    assert not pool_defined(pool_name + '-x')

    removed = run_module('storage_pool', {'name': pool_name, 'state': 'absent'})
    assert removed['actions'] == ['stop', 'undefine']
    assert not mount_options(target)
    assert blkid(device, 'TYPE') == 'ext4', 'absent must keep the data'

    # deleted: define again (the file system is found built, so no build), then delete
    again = run_module('storage_pool', args)
    assert again['actions'] == ['define', 'start']
    deleted = run_module('storage_pool', {'name': pool_name, 'state': 'deleted'})
    assert deleted['actions'] == ['refresh', 'stop', 'delete', 'undefine']
    assert not os.path.exists(target)
    assert not pool_defined(pool_name)


def test_disk_lifecycle(loopdev, tmp_path, pool_name):
    device = loopdev(64)
    args = {'name': pool_name, 'type': 'disk', 'source_dev': [device], 'source_format': 'gpt'}

    planned = run_module('storage_pool', args, check=True, diff=True)
    assert planned['actions'] == ['define', 'build', 'start']
    assert blkid(device, 'PTTYPE') == ''
    applied = run_module('storage_pool', args, diff=True)
    assert applied['actions'] == planned['actions']
    assert blkid(device, 'PTTYPE') == 'gpt'
    assert applied['pool']['state'] == 'active'
    assert '<path>/dev</path>' in virsh('pool-dumpxml', '--inactive', pool_name)
    for result in (run_module('storage_pool', args, check=True), run_module('storage_pool', args)):
        assert result['changed'] is False and result['actions'] == []

    # libvirt makes partitions as volumes (the volume module builds on this)
    virsh('vol-create-as', pool_name, os.path.basename(device) + 'p1', '8M')
    assert os.path.basename(device) + 'p1' in virsh('vol-list', pool_name)

    # a definition the pool cannot start with: the previous one is restored and started again
    broken = run_module('storage_pool', dict(args, target='/dev/kvmops-no-such-dir'))
    assert broken['failed'] is True
    assert 'previous definition was restored' in broken['msg']
    assert '<path>/dev</path>' in virsh('pool-dumpxml', '--inactive', pool_name)
    assert run_module('storage_pool', args)['pool']['state'] == 'active'

    # a changed option shows in --diff and is applied
    new_target = str(tmp_path)
    change = dict(args, autostart=True, target=new_target)
    planned = run_module('storage_pool', change, check=True, diff=True)
    assert planned['actions'] == ['redefine', 'restart', 'autostart']
    assert '<path>%s</path>' % new_target in planned['diff']['after']
    done = run_module('storage_pool', change)
    assert done['actions'] == planned['actions']
    assert '<path>%s</path>' % new_target in virsh('pool-dumpxml', '--inactive', pool_name)
    assert done['pool']['autostart'] is True
    assert run_module('storage_pool', change)['changed'] is False

    # a gpt disk asked to be dos is foreign: refused, nothing changed
    refused = run_module('storage_pool', dict(args, name=pool_name + '-dos', source_format='dos'))
    assert refused['failed'] is True and 'gpt' in refused['msg']
    assert not pool_defined(pool_name + '-dos')

    # libvirt cannot delete disk pools' storage: refused with the reason, definition kept
    refused = run_module('storage_pool', {'name': pool_name, 'state': 'deleted', 'force': True})
    assert refused['failed'] is True and 'absent' in refused['msg']
    assert pool_defined(pool_name)
    removed = run_module('storage_pool', {'name': pool_name, 'state': 'absent'})
    assert removed['actions'] == ['stop', 'undefine']
    assert blkid(device, 'PTTYPE') == 'gpt', 'absent must keep the partition table'
