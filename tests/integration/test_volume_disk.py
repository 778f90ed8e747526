"""storage_volume against the real libvirtd: partitions of a disk pool on a loop device."""

import hashlib
import os

import pytest

from helpers import four_calls, run_module, virsh

pytestmark = pytest.mark.libvirt

MIB = 1024 * 1024


@pytest.mark.pool_type('disk')
def test_partition_volumes(disk_pool, tmp_path):
    name, device = disk_pool
    stem = os.path.basename(device) + 'p'

    first = {'pool': name, 'name': stem + '1', 'capacity': '10M', 'format': 'linux'}
    first_check, applied, second_check, second = four_calls('storage_volume', first)
    # a partition made outside libvirt is listed only after a refresh: made before creating
    assert first_check['actions'] == ['refresh', 'create'] and applied['actions'] == ['refresh', 'create'], applied.get('msg')
    assert applied['volume']['path'] == device + 'p1'
    assert applied['volume']['type'] == 'block'
    assert applied['volume']['capacity'] >= 10 * MIB
    for result in (second_check, second):
        assert result['changed'] is False and result['actions'] == []

    # a raw image written onto a new partition, verified by reading it back
    src = tmp_path / 'part.raw'
    data = os.urandom(2 * MIB + 512)
    src.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    upload = {'pool': name, 'name': stem + '2', 'capacity': '8M',
              'content': {'src': str(src), 'checksum': 'sha256:' + digest}}
    planned = run_module('storage_volume', upload, check=True)
    assert planned['actions'] == ['refresh', 'create', 'upload'], planned.get('msg')
    done = run_module('storage_volume', upload)
    assert done['actions'] == ['refresh', 'create', 'upload'], done.get('msg')
    with open(device + 'p2', 'rb') as handle:
        assert hashlib.sha256(handle.read(len(data))).hexdigest() == digest
    assert run_module('storage_volume', upload)['changed'] is False

    # partitions cannot be resized through libvirt: refused before anything changes, naming the type
    grow = dict(first, capacity='20M')
    for check in (True, False):
        refused = run_module('storage_volume', grow, check=check)
        assert refused['failed'] is True
        assert 'disk pools cannot resize' in refused['msg']

    # a name that is not a partition name is refused before libvirt makes a partition
    wrong = run_module('storage_volume', {'pool': name, 'name': 'data', 'capacity': '4M'})
    assert wrong['failed'] is True and stem + 'N' in wrong['msg']
    listed = virsh('vol-list', name)
    assert 'data' not in listed and stem + '3' not in listed

    # bulk on partitions
    bulk = {'pool': name, 'volumes': [{'name': stem + '1', 'capacity': '10M'},
                                      {'name': stem + '3', 'capacity': '4M', 'format': 'linux-swap'}]}
    made = run_module('storage_volume', bulk)
    assert made['actions'] == ['refresh', 'create:%s3' % stem], made.get('msg')
    assert run_module('storage_volume', bulk)['changed'] is False
