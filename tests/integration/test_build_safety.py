"""storage_pool against the real libvirtd: builds never run blind, and a running pool whose
directory went away is repaired, not reported ok."""

import os
import shutil
import subprocess
import sys

import pytest

from helpers import pool_defined, run_module, virsh

pytestmark = pytest.mark.libvirt


def blkid(device, field):
    proc = subprocess.run(['blkid', '-p', '-o', 'value', '-s', field, device],
                          stdout=subprocess.PIPE, universal_newlines=True, check=False)
    return proc.stdout.strip()


@pytest.fixture
def bd_pool(request):
    made = []

    def name(suffix):
        made.append('bd-%s-%d' % (suffix, os.getpid()))
        return made[-1]

    yield name
    for pool in made:
        virsh('pool-destroy', pool, check=False)
        virsh('pool-undefine', pool, check=False)


def path_without(*tools):
    """A PATH holding the virtualenv's commands (ansible) and /usr/bin (what Ansible's shell needs),
    but none of ``tools`` (which live in /usr/sbin)."""
    dirs = [os.path.dirname(sys.executable), '/usr/bin']
    for tool in tools:
        assert not any(os.path.exists(os.path.join(d, tool)) for d in dirs), tool
    return os.pathsep.join(dirs)


def test_overwrite_refused_where_blkid_is_missing(loopdev, tmp_path, bd_pool):
    """Without blkid the module cannot see that the device holds a file system: build=overwrite
    (mkfs) is refused, with the reason and what to do instead; the file system stays."""
    name = bd_pool('blind')
    device = loopdev(64)
    subprocess.run(['mkfs.ext4', '-q', '-F', device], check=True)
    uuid = blkid(device, 'UUID')
    assert uuid
    args = {'name': name, 'type': 'fs', 'source_dev': [device], 'source_format': 'ext4',
            'target': str(tmp_path / 'mnt'), 'build': 'overwrite'}
    env = {'PATH': path_without('blkid')}
    for check in (True, False):
        refused = run_module('storage_pool', args, check=check, env=env)
        assert refused['failed'] is True
        assert refused['msg'] == (
            'pool %s: build=overwrite refused: what %s holds cannot be read (blkid is not found on the host running '
            'the module), and with overwrite libvirt runs mkfs on the device: the file system on it and every file '
            'in it are lost. Nothing was changed. To go on, install blkid, or use build=if_missing or '
            'build=no_overwrite, with which libvirt itself refuses storage that is already built' % (name, device))
    assert not pool_defined(name)
    assert blkid(device, 'UUID') == uuid, 'the file system was made again'

    # without overwrite libvirt's own check keeps the file system: defined and started on it
    kept = dict(args, build='if_missing')
    done = run_module('storage_pool', kept, env=env)
    assert done['failed'] is False, done.get('msg')
    assert done['actions'] == ['define', 'build', 'start']
    assert blkid(device, 'UUID') == uuid


def test_running_dir_pool_whose_directory_was_removed(tmp_path, bd_pool):
    name = bd_pool('gone')
    target = str(tmp_path / 'images')
    args = {'name': name, 'type': 'dir', 'target': target, 'target_mode': '0711'}
    assert run_module('storage_pool', args)['actions'] == ['define', 'build', 'start']
    shutil.rmtree(target)

    planned = run_module('storage_pool', args, check=True)
    assert (planned['changed'], planned['actions']) == (True, ['stop', 'build', 'start'])
    assert not os.path.exists(target), 'check mode made the directory'
    assert planned['pool']['state'] == 'active'
    assert 'running' in virsh('pool-info', name)

    present = run_module('storage_pool', dict(args, state='present'))
    assert (present['changed'], present['actions']) == (False, [])
    assert any('does not exist' in w for w in present.get('warnings', [])), present.get('warnings')

    never = run_module('storage_pool', dict(args, build='never'))
    assert never['failed'] is True
    assert never['msg'] == ('pool %s is running but directory %s does not exist, and build=never leaves it so; '
                            'set build=if_missing to let the module stop the pool, build it and start it again'
                            % (name, target))

    done = run_module('storage_pool', args)
    assert done['actions'] == planned['actions']
    assert done['pool']['state'] == 'active'
    assert os.stat(target).st_mode & 0o777 == 0o711
    virsh('vol-create-as', name, 'bd-after.raw', '1M', '--format', 'raw')
    assert os.path.exists(os.path.join(target, 'bd-after.raw'))
    for result in (run_module('storage_pool', args, check=True), run_module('storage_pool', args)):
        assert (result['changed'], result['actions']) == (False, [])
    virsh('vol-delete', 'bd-after.raw', '--pool', name)
