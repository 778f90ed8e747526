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


@pytest.mark.pool_type('fs')
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


@pytest.mark.pool_type('disk')
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


def mode_of(path):
    return '%04o' % (os.stat(path).st_mode & 0o777)


@pytest.fixture
def bd_pool(request):
    """Names of pools this test makes (bd-...), removed at the end."""
    made = []

    def name(suffix):
        made.append('bd-%s-%s-%d' % (request.node.name.split('[')[0][5:25], suffix, os.getpid()))
        return made[-1]

    yield name
    for pool in made:
        virsh('pool-destroy', pool, check=False)
        virsh('pool-undefine', pool, check=False)


@pytest.mark.pool_type('fs')
def test_fs_target_mode_applied_to_the_mount_and_stable(loopdev, tmp_path, bd_pool):
    """libvirt reads <target><permissions> of a running fs pool back from the mounted file system's
    root at every refresh (mkfs made it 0755) and never applies them: the module sets them on the
    mounted directory, without a restart, and the second run is a no-op."""
    name = bd_pool('fs')
    device = loopdev(96)
    target = str(tmp_path / 'mnt')
    args = {'name': name, 'type': 'fs', 'source_dev': [device], 'source_format': 'ext4', 'target': target}
    assert run_module('storage_pool', args)['actions'] == ['define', 'build', 'start']
    assert mode_of(target) == '0755'
    mounted_at = mount_options(target)

    change = dict(args, target_mode='0711')
    planned = run_module('storage_pool', change, check=True, diff=True)
    assert planned['actions'] == ['redefine', 'set_permissions']
    assert mode_of(target) == '0755', 'check mode changed the directory'
    done = run_module('storage_pool', change)
    assert done['actions'] == planned['actions']
    assert mode_of(target) == '0711'
    assert mount_options(target) == mounted_at
    assert '<mode>0711</mode>' in virsh('pool-dumpxml', '--inactive', name)
    for result in (run_module('storage_pool', change, check=True), run_module('storage_pool', change)):
        assert (result['changed'], result['actions']) == (False, [])

    # stopped and started again (libvirt re-reads the mounted root): still no change
    virsh('pool-destroy', name)
    assert run_module('storage_pool', change)['actions'] == ['start', 'set_permissions']
    assert mode_of(target) == '0711'
    assert run_module('storage_pool', change)['actions'] == []

    # a new pool with target_mode gets it on the mounted directory in the same run
    other = bd_pool('fs2')
    target2 = str(tmp_path / 'mnt2')
    args2 = {'name': other, 'type': 'fs', 'source_dev': [loopdev(96)], 'source_format': 'ext4', 'target': target2,
             'target_mode': '0750'}
    planned = run_module('storage_pool', args2, check=True)
    assert planned['actions'] == ['define', 'build', 'start', 'set_permissions']
    assert run_module('storage_pool', args2)['actions'] == planned['actions']
    assert mode_of(target2) == '0750'
    for result in (run_module('storage_pool', args2, check=True), run_module('storage_pool', args2)):
        assert (result['changed'], result['actions']) == (False, [])


def test_disk_pool_without_format_restarts_on_its_label(loopdev, bd_pool):
    """A disk pool defined without a format (libvirt writes <format type='unknown'/> and builds and
    starts it as dos) is started again on its dos label, not refused as foreign."""
    name = bd_pool('dos')
    device = loopdev(64)
    args = {'name': name, 'type': 'disk', 'source_dev': [device]}
    assert run_module('storage_pool', args)['actions'] == ['define', 'build', 'start']
    assert blkid(device, 'PTTYPE') == 'dos'
    # the definition as libvirtd reads it from its configuration after a restart
    virsh('pool-destroy', name)
    virsh('pool-undefine', name)
    virsh('pool-define-as', name, 'disk', '--source-dev', device, '--target', '/dev')
    assert "<format type='unknown'/>" in virsh('pool-dumpxml', '--inactive', name)
    for check in (True, False):
        result = run_module('storage_pool', dict(args, build='overwrite'), check=check)
        assert result['failed'] is False, result.get('msg')
        assert result['actions'] == ['start']
    assert blkid(device, 'PTTYPE') == 'dos'
    assert run_module('storage_pool', args)['actions'] == []


def test_gpt_disk_pool_without_format_is_told_to_say_gpt(loopdev, bd_pool):
    """libvirt will not start a gpt disk as format 'unknown': refused naming source_format=gpt, not overwrite;
    declared with source_format=gpt it is redefined and started, the label kept."""
    name = bd_pool('gpt')
    device = loopdev(64)
    subprocess.run(['parted', '-s', device, 'mklabel', 'gpt', 'mkpart', 'p1', '1MiB', '9MiB'], check=True)
    virsh('pool-define-as', name, 'disk', '--source-dev', device, '--target', '/dev')
    args = {'name': name, 'type': 'disk', 'source_dev': [device]}
    refused = run_module('storage_pool', args)
    assert refused['failed'] is True
    assert refused['msg'] == (
        'pool %s was not built: %s has a gpt partition table, and the definition names no format, which libvirt '
        'takes as dos (set source_format=gpt to use the disk as it is). Nothing was changed; correct the definition; '
        'only if that data may go, set build=overwrite, with which libvirt writes a new partition table on the disk: '
        'every partition on it and their data are lost' % (name, device))
    declared = dict(args, source_format='gpt')
    assert run_module('storage_pool', declared, check=True)['actions'] == ['redefine', 'start']
    assert run_module('storage_pool', declared)['actions'] == ['redefine', 'start']
    assert blkid(device, 'PTTYPE') == 'gpt'
    assert os.path.basename(device) + 'p1' in virsh('vol-list', name)
    assert run_module('storage_pool', declared)['actions'] == []


def test_disk_pool_refusal_says_what_overwrite_destroys(loopdev, bd_pool):
    name = bd_pool('dos')
    device = loopdev(64)
    subprocess.run(['parted', '-s', device, 'mklabel', 'gpt', 'mkpart', 'p1', '1MiB', '9MiB'], check=True)
    refused = run_module('storage_pool', {'name': name, 'type': 'disk', 'source_dev': [device], 'source_format': 'dos'})
    assert refused['failed'] is True
    assert refused['msg'] == (
        'pool %s was not built: %s has a gpt partition table, not dos. Nothing was changed; correct the definition; '
        'only if that data may go, set build=overwrite, with which libvirt writes a new partition table on the disk: '
        'every partition on it and their data are lost' % (name, device))
    assert not pool_defined(name)
