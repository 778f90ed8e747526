"""The in-use guard against the real libvirtd: one defined domain whose disks name volumes in every way
libvirt lets them (a path through a symlinked directory, a symlink to a partition and another device node
of a partition, <source pool= volume=>, an RBD image by name with cephx auth), a running domain, and a
backing chain across two pools. Every refusal names what blocks it, is the same in check mode, and
changes nothing; force and force_in_use let the step through where the docs say so.

The host has no /dev/disk/by-id nor /dev/mapper (no udev, no device-mapper): the `/dev/...` aliases are
a symlink to a loop partition and a device node made with mknod, in this module's temporary directory.
"""

import json
import os
import pathlib
import shutil
import stat
import subprocess
import tempfile

import pytest

from helpers import pool_state, rbd, read_testbed, remove_pool, run_module, virsh, virsh_dir_pool, volumes_of

pytestmark = [pytest.mark.libvirt, pytest.mark.ceph]

TAG = 'iu-%d' % os.getpid()
MIB = 1024 * 1024

DOMAIN_XML = """<domain type='qemu'>
  <name>%(name)s</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>%(disks)s
  </devices>
</domain>
"""


def file_disk(dev, path):
    return ("<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
            "<target dev='%s' bus='virtio'/></disk>" % (path, dev))


def block_disk(dev, path):
    return ("<disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='%s'/>"
            "<target dev='%s' bus='virtio'/></disk>" % (path, dev))


def volume_disk(dev, pool, volume):
    return ("<disk type='volume' device='disk'><driver name='qemu' type='raw'/><source pool='%s' volume='%s'/>"
            "<target dev='%s' bus='virtio'/></disk>" % (pool, volume, dev))


def rbd_disk(dev, image, mon, username, secret_usage):
    host, port = mon.split(':')
    return ("<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
            "<auth username='%s'><secret type='ceph' usage='%s'/></auth>"
            "<source protocol='rbd' name='%s'><host name='%s' port='%s'/></source>"
            "<target dev='%s' bus='virtio'/></disk>" % (username, secret_usage, image, host, port, dev))


def rbd_images(ceph):
    return sorted(rbd(ceph, 'ls', ceph['CEPH_POOL']).split())


def rbd_snapshots(ceph, image):
    return [snap['name'] for snap in json.loads(rbd(ceph, 'snap', 'ls', '--format', 'json',
                                                    '%s/%s' % (ceph['CEPH_POOL'], image)) or '[]')]


def define(workdir, name, disks, start=False):
    path = os.path.join(str(workdir), '%s.xml' % name)
    with open(path, 'w') as handle:
        handle.write(DOMAIN_XML % {'name': name, 'disks': ''.join('\n    ' + disk for disk in disks)})
    virsh('define', path)
    if start:
        virsh('start', name)


def inactive_definition(pool):
    return ''.join(line for line in virsh('pool-dumpxml', '--inactive', pool).splitlines(True)
                   if not line.strip().startswith(('<capacity', '<allocation', '<available')))


@pytest.fixture(scope='module')
def world():
    """Pools a, b, r (dir), a disk pool on a loop device, an rbd pool, their volumes, and two domains:
    ``stopped`` (defined, never started) naming volumes in every way, ``run`` (running) on r/run.raw."""
    ceph = read_testbed()
    # QEMU runs as libvirt-qemu: a running domain's disk must be where that user can reach (not /tmp/pytest-of-root)
    base = pathlib.Path(tempfile.mkdtemp(prefix='%s-' % TAG, dir='/var/tmp'))
    os.chmod(str(base), 0o755)
    w = {'ceph': ceph, 'base': str(base)}
    for key in ('a', 'b', 'r', 'disk', 'rbd'):
        w[key] = '%s-%s' % (TAG, key)
    w['stopped'], w['run'] = '%s-stopped' % TAG, '%s-run' % TAG
    w['secret_usage'] = '%s client.%s' % (TAG, ceph['CEPH_CLIENT'])
    w['image'], w['rbd_backup'] = '%s-img' % TAG, '%s-bk' % TAG
    made = {'pools': [], 'domains': [], 'loop': None, 'secret': None}
    try:
        for key in ('a', 'b', 'r'):
            w['%s_path' % key] = str(base / key)
            virsh_dir_pool(w[key], w['%s_path' % key])
            made['pools'].append(w[key])
        os.symlink(w['a_path'], str(base / 'link'))
        virsh('vol-create-as', w['a'], 'sym.raw', '4M', '--format', 'raw')
        virsh('vol-create-as', w['a'], 'byname.raw', '4M', '--format', 'raw')
        virsh('vol-create-as', w['a'], 'base.qcow2', '16M', '--format', 'qcow2')
        virsh('vol-create-as', w['a'], 'free.raw', '4M', '--format', 'raw')
        virsh('vol-create-as', w['b'], 'ov.qcow2', '16M', '--format', 'qcow2',
              '--backing-vol', os.path.join(w['a_path'], 'base.qcow2'), '--backing-vol-format', 'qcow2')
        virsh('vol-create-as', w['r'], 'run.raw', '4M', '--format', 'raw')
        virsh('vol-create-as', w['r'], 'stopped.raw', '4M', '--format', 'raw')

        # a disk pool on a loop device: two partitions, named by aliases the pool does not list
        image = str(base / 'disk.img')
        with open(image, 'wb') as handle:
            handle.truncate(64 * MIB)
        loop = subprocess.run(['losetup', '-f', '--show', '-P', image], stdout=subprocess.PIPE,
                              universal_newlines=True, check=True).stdout.strip()
        made['loop'] = loop
        w['loop'] = loop
        virsh('pool-define-as', w['disk'], 'disk', '--source-dev', loop, '--source-format', 'gpt', '--target', '/dev')
        made['pools'].append(w['disk'])
        virsh('pool-build', w['disk'])
        virsh('pool-start', w['disk'])
        stem = os.path.basename(loop) + 'p'
        w['part1'], w['part2'] = stem + '1', stem + '2'
        virsh('vol-create-as', w['disk'], w['part1'], '8M')
        virsh('vol-create-as', w['disk'], w['part2'], '8M')
        os.mkdir(str(base / 'dev'))
        w['alias'] = str(base / 'dev' / 'by-id-iu-part1')
        os.symlink(loop + 'p1', w['alias'])
        w['node'] = str(base / 'dev' / 'iu-part2-node')
        os.mknod(w['node'], stat.S_IFBLK | 0o600, os.stat(loop + 'p2').st_rdev)

        # an rbd pool authenticating with a ceph secret, and an image
        secret_xml = base / 'secret.xml'
        secret_xml.write_text("<secret ephemeral='no' private='no'><usage type='ceph'><name>%s</name></usage>"
                              "</secret>" % w['secret_usage'])
        w['secret_uuid'] = virsh('secret-define', str(secret_xml)).split()[1]
        made['secret'] = w['secret_uuid']
        virsh('secret-set-value', w['secret_uuid'], '--base64', ceph['KEY'])
        pool_xml = base / 'rbd.xml'
        host, port = ceph['CEPH_MON_HOST'].split(':')
        pool_xml.write_text("<pool type='rbd'><name>%s</name><source><host name='%s' port='%s'/><name>%s</name>"
                            "<auth type='ceph' username='%s'><secret usage='%s'/></auth></source></pool>"
                            % (w['rbd'], host, port, ceph['CEPH_POOL'], ceph['CEPH_CLIENT'], w['secret_usage']))
        virsh('pool-define', str(pool_xml))
        made['pools'].append(w['rbd'])
        virsh('pool-start', w['rbd'])
        virsh('vol-create-as', w['rbd'], w['image'], '8M')
        virsh('vol-create-as', w['rbd'], w['rbd_backup'], '8M')

        define(base, w['stopped'], [
            file_disk('vda', str(base / 'link' / 'sym.raw')),
            volume_disk('vdb', w['a'], 'byname.raw'),
            block_disk('vdc', w['alias']),
            block_disk('vdd', w['node']),
            rbd_disk('vde', '%s/%s' % (ceph['CEPH_POOL'], w['image']), ceph['CEPH_MON_HOST'], ceph['CEPH_CLIENT'],
                     w['secret_usage']),
            file_disk('vdf', os.path.join(w['r_path'], 'stopped.raw')),
        ])
        made['domains'].append(w['stopped'])
        made['domains'].append(w['run'])
        define(base, w['run'], [file_disk('vda', os.path.join(w['r_path'], 'run.raw'))], start=True)
        yield w
    finally:
        for domain in made['domains']:
            virsh('destroy', domain, check=False)
            virsh('undefine', domain, check=False)
        for pool in reversed(made['pools']):
            remove_pool(pool)
        for image in rbd_images(ceph):
            if image.startswith(TAG):
                rbd(ceph, 'snap', 'purge', '%s/%s' % (ceph['CEPH_POOL'], image), check=False)
                rbd(ceph, 'rm', '--no-progress', '%s/%s' % (ceph['CEPH_POOL'], image), check=False)
        if made['secret']:
            virsh('secret-undefine', made['secret'], check=False)
        if made['loop']:
            subprocess.run(['losetup', '-d', made['loop']], check=False)
        shutil.rmtree(str(base), ignore_errors=True)


def refused_both_ways(module, args):
    """The task fails in check mode and for real with the same message; returns it."""
    planned = run_module(module, args, check=True)
    real = run_module(module, args)
    assert planned['failed'] is True and real['failed'] is True, (planned, real)
    assert planned['msg'] == real['msg']
    assert real.get('actions_done') in (None, []), real
    return real['msg']


# ---- volumes a defined domain uses ------------------------------------------------------------------

def test_symlinked_directory_path(world):
    msg = refused_both_ways('storage_volume', {'pool': world['a'], 'name': 'sym.raw', 'state': 'absent'})
    assert msg == 'volume sym.raw is used by domain(s) %s; set force=true to delete it anyway' % world['stopped']
    assert 'sym.raw' in volumes_of(world['a']) and os.path.exists(os.path.join(world['a_path'], 'sym.raw'))


def test_pool_volume_source(world):
    msg = refused_both_ways('storage_volume', {'pool': world['a'], 'name': 'byname.raw', 'state': 'absent',
                                               'wipe': 'zero'})
    assert msg == ('volume byname.raw is used by domain(s) %s; set force=true to wipe and delete it anyway'
                   % world['stopped'])
    assert 'byname.raw' in volumes_of(world['a'])


def test_unused_volume_is_deleted(world):
    """The guard is no blanket refusal: a volume nothing uses goes."""
    args = {'pool': world['a'], 'name': 'free.raw', 'state': 'absent'}
    assert run_module('storage_volume', args, check=True)['actions'] == ['delete']
    done = run_module('storage_volume', args)
    assert done['failed'] is False and done['actions'] == ['delete'], done.get('msg')
    assert 'free.raw' not in volumes_of(world['a'])


@pytest.mark.parametrize('part', ['part1', 'part2'], ids=['symlink-to-partition', 'other-device-node'])
def test_block_device_alias(world, part):
    msg = refused_both_ways('storage_volume', {'pool': world['disk'], 'name': world[part], 'state': 'absent'})
    assert msg == 'volume %s is used by domain(s) %s; set force=true to delete it anyway' % (world[part],
                                                                                             world['stopped'])
    assert world[part] in volumes_of(world['disk'])


def test_rbd_image_by_name(world):
    ceph = world['ceph']
    msg = refused_both_ways('storage_volume', {'pool': world['rbd'], 'name': world['image'], 'state': 'absent'})
    assert msg == 'volume %s is used by domain(s) %s; set force=true to delete it anyway' % (world['image'],
                                                                                             world['stopped'])
    assert world['image'] in rbd_images(ceph)


def test_cross_pool_backing_chain(world):
    gone = {'pool': world['a'], 'name': 'base.qcow2', 'state': 'absent'}
    msg = refused_both_ways('storage_volume', gone)
    assert msg == ('volume base.qcow2 is the backing store of volume(s) ov.qcow2 (pool %s); set force=true to '
                   'delete it anyway' % world['b'])
    shrink = refused_both_ways('storage_volume', {'pool': world['a'], 'name': 'base.qcow2', 'capacity': '8M',
                                                  'allow_shrink': True})
    assert shrink == ('volume base.qcow2 is the backing store of volume(s) ov.qcow2 (pool %s); set force=true to '
                      'shrink it anyway' % world['b'])
    assert 'base.qcow2' in volumes_of(world['a'])
    assert int(virsh('vol-info', '--bytes', '--pool', world['a'], 'base.qcow2').split('Capacity:')[1].split()[0]) \
        == 16 * MIB


# ---- RBD snapshots ----------------------------------------------------------------------------------

def test_rbd_delete_keeps_snapshots_made_outside_libvirt(world):
    ceph = world['ceph']
    image = world['rbd_backup']
    rbd(ceph, 'snap', 'create', '%s/%s@iu-backup' % (ceph['CEPH_POOL'], image))
    gone = {'pool': world['rbd'], 'name': image, 'state': 'absent'}
    msg = refused_both_ways('storage_volume', gone)
    assert msg == ('RBD image %s/%s has snapshot(s) that libvirt did not make for a clone: iu-backup; deleting it '
                   'would delete them too, so it is refused. Remove them first (rbd snap rm), or set force=true to '
                   'delete the image with all its snapshots' % (ceph['CEPH_POOL'], image))
    assert image in rbd_images(ceph) and rbd_snapshots(ceph, image) == ['iu-backup']

    # the snapshot libvirt makes for a clone is libvirt's: it goes with the source, once the clone is gone
    clone = '%s-cl' % TAG
    source = '%s-src' % TAG
    assert run_module('storage_volume', {'pool': world['rbd'], 'name': source, 'capacity': '8M'})['failed'] is False
    cloned = run_module('storage_volume', {'pool': world['rbd'], 'name': clone, 'clone_from': {'name': source}})
    # an rbd pool is refreshed before a volume it does not list is made (another host may have made it)
    assert cloned['actions'] == ['refresh', 'clone'], cloned.get('msg')
    own = rbd_snapshots(ceph, source)
    assert len(own) == 1 and own[0].startswith('libvirt-') and own[0][len('libvirt-'):].isdigit(), own
    for name in (clone, source):
        done = run_module('storage_volume', {'pool': world['rbd'], 'name': name, 'state': 'absent'})
        assert done['failed'] is False and done['actions'] == ['delete'], done.get('msg')
    assert source not in rbd_images(ceph) and clone not in rbd_images(ceph)

    forced = run_module('storage_volume', dict(gone, force=True))
    assert forced['failed'] is False and forced['actions'] == ['delete'], forced.get('msg')
    assert image not in rbd_images(ceph)


# ---- secrets ----------------------------------------------------------------------------------------

def test_secret_absent_refused_while_used(world):
    args = {'usage': 'ceph', 'usage_id': world['secret_usage'], 'state': 'absent'}
    msg = refused_both_ways('storage_secret', args)
    assert msg == ("secret %s (usage ceph %r) is used by pool(s) %s and domain(s) %s; removing it would leave them "
                   "unable to authenticate. Nothing was changed; set force=true to remove it anyway"
                   % (world['secret_uuid'], world['secret_usage'], world['rbd'], world['stopped']))
    assert world['secret_uuid'] in virsh('secret-list')
    # force removes it, naming who can no longer authenticate (the last test of the module that needs it)
    warning = ("secret %s (usage ceph %r) is used by pool(s) %s and domain(s) %s, which cannot authenticate once "
               "it is removed (force)" % (world['secret_uuid'], world['secret_usage'], world['rbd'], world['stopped']))
    args['force'] = True
    planned = run_module('storage_secret', args, check=True)
    assert planned['changed'] is True and planned.get('warnings') == [warning], planned
    assert world['secret_uuid'] in virsh('secret-list')
    done = run_module('storage_secret', args)
    assert done['actions'] == ['undefine'] and done.get('warnings') == [warning], done
    assert world['secret_uuid'] not in virsh('secret-list')


# ---- a running domain and its pool ------------------------------------------------------------------

def test_restart_refused_under_a_running_domain(world):
    pool = world['r']
    before = inactive_definition(pool)
    args = {'name': pool, 'type': 'dir', 'target': world['r_path'], 'target_mode': '0755'}
    msg = refused_both_ways('storage_pool', args)
    assert msg == ('pool %s is running and its definition would change (target/permissions/mode), which needs a '
                   'restart; running domain(s) use its storage: %s (running): run.raw. Nothing was changed; set '
                   'on_change=redefine_only to redefine it without a restart, stop those domains first, or set '
                   'force_in_use=true to restart it anyway' % (pool, world['run']))
    assert inactive_definition(pool) == before and pool_state(pool) == 'running'
    assert 'running' in virsh('domstate', world['run'])


def test_deleted_with_force_refused_under_a_running_domain(world):
    pool = world['r']
    before = inactive_definition(pool)
    args = {'name': pool, 'state': 'deleted', 'force': True}
    msg = refused_both_ways('storage_pool', args)
    assert msg == ('pool %s: running domain(s) use its storage: %s (running): run.raw; force=true does not delete '
                   'the disks of running domains. Nothing was changed; stop them first, or set force_in_use=true to '
                   'delete the pool anyway' % (pool, world['run']))
    assert inactive_definition(pool) == before and pool_state(pool) == 'running'
    assert volumes_of(pool) == ['run.raw', 'stopped.raw']

    # force_in_use lets it through; both kinds of users are named in warnings
    args['force_in_use'] = True
    planned = run_module('storage_pool', args, check=True)
    # the volumes are counted after a refresh, which the plan lists first
    actions = ['refresh', 'delete_volume:run.raw', 'delete_volume:stopped.raw', 'stop', 'delete', 'undefine']
    assert planned['failed'] is False and planned['actions'] == actions, planned.get('msg')
    assert volumes_of(pool) == ['run.raw', 'stopped.raw']
    done = run_module('storage_pool', args)
    assert done['failed'] is False and done['actions'] == actions, done.get('msg')
    warnings = done.get('warnings', [])
    assert 'pool %s: deleting storage that running domain(s) use (force_in_use): %s (running): run.raw' \
        % (pool, world['run']) in warnings, done.output
    assert 'pool %s: deleting storage that defined domain(s) use (they are not running): %s: stopped.raw' \
        % (pool, world['stopped']) in warnings, done.output
    assert not os.path.exists(world['r_path'])


def test_deleted_with_force_and_an_overlay_in_another_pool():
    """Deleting a pool with force deletes the base image of a qcow2 overlay in another pool (made with virsh):
    refused while a running domain uses the overlay, then done with a warning naming it once that domain stops."""
    base = pathlib.Path(tempfile.mkdtemp(prefix='%s-ov-' % TAG, dir='/var/tmp'))
    os.chmod(str(base), 0o755)
    doomed, other, vm = '%s-doomed' % TAG, '%s-other' % TAG, '%s-ov-vm' % TAG
    try:
        virsh_dir_pool(doomed, str(base / 'doomed'))
        virsh_dir_pool(other, str(base / 'other'))
        virsh('vol-create-as', doomed, 'base.qcow2', '16M', '--format', 'qcow2')
        virsh('vol-create-as', other, 'ov.qcow2', '16M', '--format', 'qcow2',
              '--backing-vol', str(base / 'doomed' / 'base.qcow2'), '--backing-vol-format', 'qcow2')
        define(base, vm, [file_disk('vda', str(base / 'other' / 'ov.qcow2'))], start=True)
        args = {'name': doomed, 'state': 'deleted', 'force': True}
        msg = refused_both_ways('storage_pool', args)
        assert msg == ('pool %s: running domain(s) use volume(s) of other pools whose backing store is in it: '
                       'ov.qcow2 (pool %s, used by domain(s) %s (running)); force=true does not delete the disks of '
                       'running domains. Nothing was changed; stop them first, or set force_in_use=true to delete the '
                       'pool anyway' % (doomed, other, vm))
        assert volumes_of(doomed) == ['base.qcow2'] and pool_state(doomed) == 'running'

        virsh('destroy', vm)
        warning = ('pool %s: deleting the backing store of volume(s) of other pools, which cannot be read without '
                   'it: ov.qcow2 (pool %s, used by domain(s) %s)' % (doomed, other, vm))
        planned = run_module('storage_pool', args, check=True)
        assert planned['failed'] is False and warning in planned.get('warnings', []), planned
        assert volumes_of(doomed) == ['base.qcow2']
        done = run_module('storage_pool', args)
        assert done['failed'] is False and done['actions'] == planned['actions'], done.get('msg')
        assert warning in done.get('warnings', []), done.get('warnings')
        assert not (base / 'doomed').exists() and doomed not in virsh('pool-list', '--all', '--name').split()
    finally:
        virsh('destroy', vm, check=False)
        virsh('undefine', vm, check=False)
        for pool in (doomed, other):
            remove_pool(pool)
        shutil.rmtree(str(base), ignore_errors=True)
