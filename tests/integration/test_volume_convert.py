"""storage_volume content converted by qemu-img on the way in, against the real libvirtd: a qcow2 image
(plain, and compressed with xz) into a disk pool's partition arrives as raw with the same guest-visible
content; a raw image into a qcow2 volume of a dir pool likewise; a wrong checksum and a conversion that
fails leave no volume and no temporary file; content.convert=false keeps the old behaviour."""

import os
import struct
import subprocess

import pytest

from helpers import four_calls, image_info, run_module, same_image, sha256_of, sparse_image, virsh, volumes_of

pytestmark = pytest.mark.libvirt
# the pool fixture of conftest.py names its pool after this
POOL_PREFIX = 'it-conv'

MIB = 1024 * 1024


def make_images(where):
    """raw (12 MiB: random data at 0 and 6 MiB, holes between), the qcow2 made from it, and that qcow2 xz-compressed."""
    raw = sparse_image(where / 'disk.raw', 12, (0, 6))
    qcow = str(where / 'disk.qcow2')
    subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, qcow], check=True)
    subprocess.run(['xz', '-k', '-0', '-T1', qcow], check=True)
    return raw, qcow, qcow + '.xz'


@pytest.mark.pool_type('disk')
@pytest.mark.parametrize('which', ['qcow2', 'qcow2.xz'])
def test_qcow2_image_into_a_partition_arrives_as_raw(disk_pool, tmp_path, which):
    name, device = disk_pool
    raw, qcow, xz = make_images(tmp_path)
    src = qcow if which == 'qcow2' else xz
    staging = tmp_path / 'staging'
    staging.mkdir()
    part = os.path.basename(device) + 'p1'
    args = {'pool': name, 'name': part, 'content': {'src': src, 'checksum': 'sha256:' + sha256_of(src),
                                                    'tmpdir': str(staging)}}
    first_check, applied, second_check, second = four_calls('storage_volume', args)
    for result in (first_check, applied):
        assert result['failed'] is False, result.get('msg')
        assert [a for a in result['actions'] if a != 'refresh'] == ['convert', 'create', 'upload'], result['actions']
        assert 'converted to raw' in result['diff']['after']
    for result in (second_check, second):
        assert result['failed'] is False and result['changed'] is False, result
    # the guest sees the image's disk; the partition holds no qcow2 header
    with open('%sp1' % device, 'rb') as handle:
        assert handle.read(4) != b'QFI\xfb'
    assert same_image(raw, '%sp1' % device)
    assert applied['volume']['capacity'] >= 12 * MIB
    assert os.listdir(str(staging)) == [], 'the temporary copy is removed'


@pytest.mark.pool_type('dir')
def test_raw_image_into_a_qcow2_volume(pool, tmp_path):
    name, path = pool
    raw, _qcow, _xz = make_images(tmp_path)
    args = {'pool': name, 'name': 'v.qcow2', 'format': 'qcow2', 'content': {'src': raw}}
    first_check, applied, second_check, second = four_calls('storage_volume', args)
    assert first_check['failed'] is False and first_check['actions'] == ['convert', 'create', 'upload'], first_check
    assert applied['failed'] is False and applied['actions'] == ['convert', 'create', 'upload'], applied.get('msg')
    assert applied['volume']['format'] == 'qcow2' and applied['volume']['capacity'] == 12 * MIB
    for result in (second_check, second):
        assert result['failed'] is False and result['changed'] is False, result
    volume = os.path.join(path, 'v.qcow2')
    assert image_info(volume)['format'] == 'qcow2'
    assert same_image(raw, volume)

    # a capacity above the image's: converted, then grown
    grown = run_module('storage_volume', {'pool': name, 'name': 'big.qcow2', 'format': 'qcow2', 'capacity': '20MiB',
                                          'content': {'src': raw}})
    assert grown['failed'] is False and grown['actions'] == ['convert', 'create', 'upload', 'resize'], grown
    assert grown['volume']['capacity'] == 20 * MIB and image_info(os.path.join(path, 'big.qcow2'))['format'] == 'qcow2'

    # without conversion the old refusal
    kept = run_module('storage_volume', {'pool': name, 'name': 'no.qcow2', 'format': 'qcow2',
                                         'content': {'src': raw, 'convert': False}})
    assert kept['failed'] is True and kept.get('option') == 'format' and 'content.convert is false' in kept['msg']


@pytest.mark.pool_type('disk')
def test_wrong_checksum_or_failed_conversion_leaves_nothing(disk_pool, tmp_path):
    name, device = disk_pool
    _raw, _qcow, xz = make_images(tmp_path)
    staging = tmp_path / 'staging'
    staging.mkdir()
    part = os.path.basename(device) + 'p1'
    before = volumes_of(name)
    wrong = run_module('storage_volume', {'pool': name, 'name': part, 'content': {
        'src': xz, 'checksum': 'sha256:' + '0' * 64, 'tmpdir': str(staging)}})
    # a file's checksum is checked before anything is made (a URL's while it is fetched into the copy)
    assert wrong['failed'] is True and wrong.get('option') == 'content.checksum', wrong
    assert 'nothing was changed' in wrong['msg']
    # a qcow2 header of a version qemu-img does not know: it fails opening it
    broken = tmp_path / 'broken.qcow2'
    broken.write_bytes(b'QFI\xfb' + struct.pack('>I', 99) + bytes(16) + struct.pack('>Q', 8 * MIB) + bytes(480))
    failed = run_module('storage_volume', {'pool': name, 'name': part, 'content': {
        'src': str(broken), 'tmpdir': str(staging)}})
    assert failed['failed'] is True and 'qemu-img' in failed['msg'], failed.get('msg')
    assert failed['failed_action'] == 'convert' and 'create' not in failed['actions_done']
    assert volumes_of(name) == before
    assert os.listdir(str(staging)) == []


@pytest.mark.pool_type('disk')
def test_convert_false_uploads_the_bytes_as_they_are(disk_pool, tmp_path):
    name, device = disk_pool
    _raw, qcow, _xz = make_images(tmp_path)
    part = os.path.basename(device) + 'p1'
    done = run_module('storage_volume', {'pool': name, 'name': part, 'capacity': '16MiB',
                                         'content': {'src': qcow, 'convert': False}})
    assert done['failed'] is False and 'convert' not in done['actions'], done.get('msg')
    with open('%sp1' % device, 'rb') as handle:
        assert handle.read(os.path.getsize(qcow)) == open(qcow, 'rb').read()
    virsh('pool-refresh', name)
