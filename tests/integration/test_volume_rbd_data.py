"""storage_volume moving bytes into and out of Ceph on the real libvirtd and the one-node cluster of
`servers.sh start ceph`: a qcow2 image imported into an rbd pool (raw there), a volume copied from a dir
pool to rbd and back (verified), a qcow2 volume moved onto RBD, and an RBD image exported; `rbd info`
sizes exact, the bytes compared with the original."""

import json
import os
import subprocess

import pytest

from helpers import four_calls, rbd, read_testbed, remove_pool, run_module, sha256_of, sparse_image, virsh, \
    volumes_of
from test_pool_rbd import define_secret, pool_args, undefine_secrets

pytestmark = [pytest.mark.ceph, pytest.mark.libvirt]
# the pool fixture of conftest.py names its pool after this
POOL_PREFIX = 'it-rbdd'
TAG = 'it-rbdd-%d' % os.getpid()
MIB = 1024 * 1024


@pytest.fixture(scope='module')
def ceph():
    return read_testbed()


@pytest.fixture
def rbd_pool(ceph):
    """A running rbd pool over the cluster's RADOS pool: its name; its images named TAG-* removed after."""
    usage_id = '%s client.%s secret' % (TAG, ceph['CEPH_CLIENT'])
    define_secret(usage_id, ceph['KEY'])
    name = '%s-rbd' % TAG
    started = run_module('storage_pool', pool_args(ceph, name, usage_id))
    assert started['failed'] is False, started.get('msg')
    yield name
    for image in rbd(ceph, 'ls', ceph['CEPH_POOL']).split():
        if image.startswith(TAG):
            rbd(ceph, 'rm', '--no-progress', '%s/%s' % (ceph['CEPH_POOL'], image), check=False)
    remove_pool(name)
    undefine_secrets(TAG)


def rbd_info(ceph, image):
    return json.loads(rbd(ceph, 'info', '--format', 'json', '%s/%s' % (ceph['CEPH_POOL'], image)))


def rbd_sha256(ceph, image, tmp_path):
    """The SHA-256 of the whole image, as `rbd export` reads it (a file of its own, not the module's path)."""
    out = str(tmp_path / ('%s.export' % image))
    rbd(ceph, 'export', '--no-progress', '%s/%s' % (ceph['CEPH_POOL'], image), out)
    try:
        return sha256_of(out)
    finally:
        os.unlink(out)


def qcow2_of(raw, path):
    subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, path], check=True)
    return path


def assert_planned_and_done(results, actions):
    first_check, applied, second_check, second = results
    for result in (first_check, applied):
        assert result['failed'] is False, result.get('msg')
        assert result['actions'] == actions, result['actions']
    for result in (second_check, second):
        assert result['failed'] is False and result['changed'] is False, result
    return applied


@pytest.mark.pool_type('rbd')
def test_qcow2_imported_into_rbd_arrives_raw(ceph, rbd_pool, tmp_path):
    raw = sparse_image(tmp_path / 'disk.raw', 24, (1, 9, 23))  # 24 MiB, no multiple of RBD's 4 MiB objects
    image = qcow2_of(raw, str(tmp_path / 'disk.qcow2'))
    name = '%s-img' % TAG
    args = {'pool': rbd_pool, 'name': name, 'content': {'src': image, 'checksum': 'sha256:' + sha256_of(image)}}
    applied = assert_planned_and_done(four_calls('storage_volume', args),
                                      ['refresh', 'convert', 'create', 'upload'])
    assert applied['volume']['capacity'] == 24 * MIB and applied['volume']['format'] == 'raw'
    assert rbd_info(ceph, name)['size'] == 24 * MIB, 'the image has the qcow2 disk size to the byte'
    assert rbd_sha256(ceph, name, tmp_path) == sha256_of(raw), 'the guest sees the same disk'
    assert ceph['KEY'] not in applied.output

    # exported back to a file (raw, then qcow2): the same disk; a second export is not rewritten
    dest = str(tmp_path / 'back.raw')
    exported = run_module('storage_volume', {'pool': rbd_pool, 'name': name, 'export': {'dest': dest}})
    assert exported['failed'] is False, exported.get('msg')
    assert exported['actions'] == ['export'] and sha256_of(dest) == sha256_of(raw)
    assert exported['export']['checksum'] == 'sha256:' + sha256_of(dest)
    assert os.stat(dest).st_blocks * 512 < 12 * MIB, 'the zeros of the image are holes in the export'
    again = run_module('storage_volume', {'pool': rbd_pool, 'name': name, 'export': {'dest': dest}})
    assert again['changed'] is False and again['export']['written'] is False, again
    as_qcow2 = str(tmp_path / 'back.qcow2')
    exported = run_module('storage_volume', {'pool': rbd_pool, 'name': name,
                                             'export': {'dest': as_qcow2, 'format': 'qcow2'}})
    assert exported['failed'] is False, exported.get('msg')
    subprocess.run(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'qcow2', raw, as_qcow2], check=True)

    # a checksum that is wrong: refused before anything is made
    wrong = run_module('storage_volume', {'pool': rbd_pool, 'name': '%s-wrong' % TAG,
                                          'content': {'src': image, 'checksum': 'sha256:' + '0' * 64}})
    assert wrong['failed'] is True and 'content.checksum' in wrong['msg']
    assert '%s-wrong' % TAG not in rbd(ceph, 'ls', ceph['CEPH_POOL']).split()


@pytest.mark.pool_type('rbd')
def test_dir_to_rbd_and_back_verified(ceph, rbd_pool, pool, tmp_path):
    dir_pool, path = pool
    raw = sparse_image(tmp_path / 'disk.raw', 20, (0, 7, 19))
    virsh('vol-create-as', dir_pool, 'src.raw', str(20 * MIB), '--format', 'raw')
    virsh('vol-upload', '--pool', dir_pool, 'src.raw', raw)
    name = '%s-copy' % TAG
    to_rbd = {'pool': rbd_pool, 'name': name, 'clone_from': {'pool': dir_pool, 'name': 'src.raw'}}
    checked = run_module('storage_volume', to_rbd, check=True)
    assert checked['actions'] == ['refresh', 'create', 'copy', 'verify'], checked
    assert name not in rbd(ceph, 'ls', ceph['CEPH_POOL']).split(), 'check mode made nothing'
    assert_planned_and_done(four_calls('storage_volume', to_rbd), ['refresh', 'create', 'copy', 'verify'])
    assert rbd_info(ceph, name)['size'] == 20 * MIB
    assert rbd_sha256(ceph, name, tmp_path) == sha256_of(raw)
    used = json.loads(rbd(ceph, 'du', '--format', 'json', '%s/%s' % (ceph['CEPH_POOL'], name)))
    assert used['images'][0]['used_size'] <= 12 * MIB, 'zero blocks are not written into the image'

    # and back into the dir pool, moved: the RBD image is deleted after the verified copy
    back = {'pool': dir_pool, 'name': 'back.raw', 'clone_from': {'pool': rbd_pool, 'name': name, 'move': True}}
    assert_planned_and_done(four_calls('storage_volume', back), ['create', 'copy', 'verify', 'delete_source'])
    assert sha256_of(os.path.join(path, 'back.raw')) == sha256_of(raw)
    assert os.stat(os.path.join(path, 'back.raw')).st_blocks * 512 < 12 * MIB, 'holes stay holes'
    assert name not in rbd(ceph, 'ls', ceph['CEPH_POOL']).split()


@pytest.mark.pool_type('rbd')
def test_qcow2_volume_moved_onto_rbd(ceph, rbd_pool, pool, tmp_path):
    dir_pool, path = pool
    raw = sparse_image(tmp_path / 'disk.raw', 16, (2, 15))
    image = qcow2_of(raw, str(tmp_path / 'disk.qcow2'))
    virsh('vol-create-as', dir_pool, 'vm.qcow2', str(MIB), '--format', 'qcow2')
    virsh('vol-upload', '--pool', dir_pool, 'vm.qcow2', image)
    virsh('pool-refresh', dir_pool)
    name = '%s-moved' % TAG
    args = {'pool': rbd_pool, 'name': name, 'clone_from': {'pool': dir_pool, 'name': 'vm.qcow2', 'move': True}}
    applied = assert_planned_and_done(four_calls('storage_volume', args),
                                      ['refresh', 'convert', 'create', 'copy', 'delete_source'])
    assert applied['volume']['capacity'] == 16 * MIB
    assert rbd_info(ceph, name)['size'] == 16 * MIB
    assert rbd_sha256(ceph, name, tmp_path) == sha256_of(raw)
    assert 'vm.qcow2' not in volumes_of(dir_pool) and not os.path.exists(os.path.join(path, 'vm.qcow2'))

    # a copy out of rbd into a qcow2 volume: refused up front, naming format
    refused = run_module('storage_volume', {'pool': dir_pool, 'name': 'x.qcow2', 'format': 'qcow2',
                                            'clone_from': {'pool': rbd_pool, 'name': name}})
    assert refused['failed'] is True and 'format' in refused['msg'] and 'raw' in refused['msg'], refused['msg']
    assert 'x.qcow2' not in volumes_of(dir_pool)
