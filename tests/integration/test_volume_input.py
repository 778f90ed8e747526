"""storage_volume on the real libvirtd: bad input is refused before anything is made, naming the
option (sizes, names, conflicting options inside ``volumes`` items), and volumes made from a source
converge on the first run (clone, upload, backing store path, content.src gone on a re-run)."""

import os
import subprocess

import pytest

from helpers import four_calls, run_module, virsh, volumes_of

pytestmark = pytest.mark.libvirt
# the pool fixture of conftest.py names its pool after this
POOL_PREFIX = 'vi-in'

MIB = 1024 * 1024
UNITS = ('b, bytes, K/KiB, M/MiB, G/GiB, T/TiB, P/PiB, E/EiB (powers of 1024), KB, MB, GB, TB, PB, EB '
         '(powers of 1000)')


def refused(args, msg, check_too=True):
    """The task fails with exactly ``msg``, in check mode too."""
    for check in ((True, False) if check_too else (False,)):
        result = run_module('storage_volume', args, check=check)
        assert result['failed'] is True, result
        assert result['msg'] == msg
        assert result.get('changed') is not True


# ---- 1. sizes ----------------------------------------------------------------------------------

@pytest.mark.parametrize('capacity, msg', [
    (1.5, 'capacity: 1.5 has no unit, so it is bytes, and it is not a whole number of bytes; write the unit, '
          'e.g. 1.5G (%s)' % UNITS),
    ('1.5', "capacity: '1.5' has no unit, so it is bytes, and it is not a whole number of bytes; write the unit, "
            "e.g. 1.5G (%s)" % UNITS),
    ('10 Mb', "capacity: '10 Mb': the unit 'Mb' ends in a lowercase b, which reads as bits; write MB (powers of "
              "1000) or M/MiB (powers of 1024)"),
    ('10 p', "capacity: '10 p': the unit 'p' is easily a typo (it would mean 1024**5 bytes); write P or PiB (powers "
             "of 1024), or PB (powers of 1000)"),
])
def test_ambiguous_sizes_are_refused(pool, capacity, msg):
    name, _path = pool
    refused({'pool': name, 'name': 'vi-a.raw', 'capacity': capacity}, msg)
    refused({'pool': name, 'volumes': [{'name': 'vi-b.raw', 'capacity': '1M'},
                                       {'name': 'vi-a.raw', 'capacity': capacity}]},
            msg.replace('capacity:', 'volumes[1].capacity:', 1), check_too=False)
    assert volumes_of(name) == []


def test_whole_sizes_still_work(pool):
    name, _path = pool
    for capacity in (1048576, 1048576.0, '1M', '1.0M', '1MiB'):
        result = run_module('storage_volume', {'pool': name, 'name': 'vi-w.raw', 'capacity': capacity})
        assert result['failed'] is False, result.get('msg')
    assert volumes_of(name) == ['vi-w.raw']
    assert int(virsh('vol-info', '--bytes', 'vi-w.raw', '--pool', name).split('Capacity:')[1].split()[0]) == MIB


# ---- 2. volumes items are validated like a single volume -------------------------------------------

XML = "<volume><name>vi-x.raw</name><capacity>1048576</capacity><target><format type='raw'/></target></volume>"


@pytest.mark.parametrize('item, msg', [
    ({'name': 'vi-x.raw', 'xml': XML, 'format': 'raw'},
     'volumes[1].xml and volumes[1].format cannot be given together: xml is the whole definition of the volume, '
     'instead of the typed options'),
    ({'name': 'vi-x.raw', 'capacity': '1M', 'allocation': 0, 'preallocation': 'full'},
     'volumes[1].allocation and volumes[1].preallocation cannot be given together: preallocation sets the '
     'allocation (off: 0; falloc and full: the capacity; metadata: the image metadata)'),
    ({'name': 'vi-x.raw', 'clone_from': {'name': 'vi-base.raw'}, 'content': {'src': '/etc/hostname'}},
     'volumes[1].clone_from and volumes[1].content cannot be given together: a new volume is either a copy of a '
     'volume or a file uploaded'),
    ({'name': 'vi-x.raw', 'clone_from': {'name': 'vi-base.raw'}, 'backing_store': {'path': '/var/tmp/vi-b.qcow2'}},
     'volumes[1].clone_from and volumes[1].backing_store cannot be given together: a clone copies its source; a '
     'backing store makes an empty overlay'),
    ({'name': 'vi-x.raw', 'content': {'src': '/etc/hostname'}, 'backing_store': {'path': '/var/tmp/vi-b.qcow2'}},
     'volumes[1].content and volumes[1].backing_store cannot be given together: an upload writes a whole image; a '
     'backing store makes an empty overlay'),
    ({'name': 'vi-x.raw', 'capacity': '1M', 'wipe': 'zero'},
     'volumes[1].wipe runs before a volume is deleted: it needs state=absent'),
])
def test_conflicting_item_options_are_refused(pool, item, msg):
    name, _path = pool
    refused({'pool': name, 'volumes': [{'name': 'vi-ok.raw', 'capacity': '1M'}, item]}, msg)
    # the single volume gets the same message, without the item prefix
    single = dict(item, pool=name)
    refused(single, msg.replace('volumes[1].', ''), check_too=False)
    assert volumes_of(name) == []


def test_an_item_xml_overrides_the_task_format(pool):
    """A top-level format is a default of the items: an item with xml does not inherit it."""
    name, _path = pool
    args = {'pool': name, 'format': 'qcow2', 'capacity': '1M',
            'volumes': [{'name': 'vi-x.raw', 'xml': XML}, {'name': 'vi-y.qcow2'}]}
    first_check, applied, second_check, second = four_calls('storage_volume', args)
    assert first_check['actions'] == ['create:vi-x.raw', 'create:vi-y.qcow2']
    assert applied['actions'] == first_check['actions'], applied.get('msg')
    assert [(v['name'], v['format']) for v in applied['volumes']] == [('vi-x.raw', 'raw'), ('vi-y.qcow2', 'qcow2')]
    for result in (second_check, second):
        assert result['changed'] is False and result['actions'] == []


# ---- 3. names ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('args, msg', [
    ({'name': 'vi-a\x00b', 'capacity': '1M'},
     "name 'vi-a\\x00b' is not valid: it contains the control character '\\x00'; a name is printable text"),
    ({'name': 'vi-a\nb', 'capacity': '1M'},
     "name 'vi-a\\nb' is not valid: it contains the control character '\\n'; a name is printable text"),
    ({'name': '.', 'capacity': '1M'}, 'name \'.\' is not valid: "." and ".." name directories, not volumes'),
    ({'name': '..', 'capacity': '1M'}, 'name \'..\' is not valid: "." and ".." name directories, not volumes'),
    ({'volumes': [{'name': 'vi-ok', 'capacity': '1M'}, {'name': '..', 'capacity': '1M'}]},
     'volumes[1].name \'..\' is not valid: "." and ".." name directories, not volumes'),
    ({'name': 'vi-c.raw', 'clone_from': {'name': '.'}},
     'clone_from.name \'.\' is not valid: "." and ".." name directories, not volumes'),
])
def test_bad_volume_names_are_refused(pool, args, msg):
    name, _path = pool
    refused(dict(args, pool=name), msg)
    assert volumes_of(name) == []


def test_a_pool_name_with_a_nul_is_refused():
    msg = "pool 'vi-p\\x00' is not valid: it contains the control character '\\x00'; a name is printable text"
    refused({'pool': 'vi-p\x00', 'name': 'vi-v', 'capacity': '1M'}, msg)
    result = run_module('storage_pool', {'name': 'vi-p\x00', 'type': 'dir', 'target': '/var/tmp/vi-p'})
    assert result['failed'] is True
    assert result['msg'] == msg.replace('pool ', 'name ', 1)
    assert not os.path.exists('/var/tmp/vi-p')


# ---- 4. volumes made from a source converge on the first run ------------------------------------------

def test_clone_with_a_capacity_below_the_source_is_refused_on_the_first_run(pool):
    name, _path = pool
    virsh('vol-create-as', name, 'vi-base.raw', '20M', '--format', 'raw')
    args = {'pool': name, 'name': 'vi-clone.raw', 'capacity': '10M', 'clone_from': {'name': 'vi-base.raw'}}
    refused(args, 'capacity 10 MiB (10485760 bytes) is less than the 20 MiB of clone_from %s/vi-base.raw (20971520 '
                  'bytes): a clone is at least as large as its source, so the volume would be larger than the task '
                  'says; leave capacity out or give at least 20971520 bytes. Nothing was changed' % name)
    assert volumes_of(name) == ['vi-base.raw']
    # at the source's size or above, the clone converges
    for capacity in ('20M', '30M'):
        args = {'pool': name, 'name': 'vi-clone-%s.raw' % capacity, 'capacity': capacity,
                'clone_from': {'name': 'vi-base.raw'}}
        first_check, applied, second_check, second = four_calls('storage_volume', args)
        assert applied['failed'] is False, applied.get('msg')
        assert applied['volume']['capacity'] == int(capacity[:-1]) * MIB
        for result in (second_check, second):
            assert result['changed'] is False and result['actions'] == []


def test_backing_store_path_with_double_slashes_converges(pool):
    name, path = pool
    virsh('vol-create-as', name, 'vi-base.qcow2', '8M', '--format', 'qcow2')
    spelled = '/' + path.replace('/', '//') + '/./vi-base.qcow2'
    args = {'pool': name, 'name': 'vi-top.qcow2', 'backing_store': {'path': spelled, 'format': 'qcow2'}}
    first_check, applied, second_check, second = four_calls('storage_volume', args)
    assert applied['failed'] is False, applied.get('msg')
    assert applied['actions'] == ['create']
    assert applied['volume']['backing_store']['path'] == os.path.join(path, 'vi-base.qcow2')
    for result in (second_check, second):
        assert result['failed'] is False, result.get('msg')
        assert result['changed'] is False and result['actions'] == []

    # overlays made outside the module, with one spelling, declared with the other: no change either way
    # (virsh writes the base volume's own path; qemu-img writes the path as it is given)
    clean = os.path.join(path, 'vi-base.qcow2')
    for made, declared in ((clean, spelled), (spelled, clean)):
        if made == clean:
            virsh('vol-create-as', name, 'vi-adopted.qcow2', '8M', '--format', 'qcow2', '--backing-vol', made,
                  '--backing-vol-format', 'qcow2')
        else:
            subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', made, '-F', 'qcow2',
                            os.path.join(path, 'vi-adopted.qcow2'), '8M'], check=True)
            virsh('pool-refresh', name)
            assert '<path>%s</path>' % made in virsh('vol-dumpxml', 'vi-adopted.qcow2', '--pool', name)
        for check in (True, False):
            adopted = run_module('storage_volume', {'pool': name, 'name': 'vi-adopted.qcow2',
                                                    'backing_store': {'path': declared}}, check=check)
            assert adopted['failed'] is False, adopted.get('msg')
            assert adopted['changed'] is False and adopted['actions'] == []
        virsh('vol-delete', 'vi-adopted.qcow2', '--pool', name)


def test_content_src_is_not_needed_once_the_volume_exists(pool, tmp_path):
    name, _path = pool
    src = tmp_path / 'vi-src.raw'
    src.write_bytes(os.urandom(MIB))
    args = {'pool': name, 'name': 'vi-up.raw', 'content': {'src': str(src)}}
    applied = run_module('storage_volume', args)
    assert applied['failed'] is False and applied['actions'] == ['create', 'upload'], applied.get('msg')
    src.unlink()
    for check in (True, False):
        again = run_module('storage_volume', args, check=check)
        assert again['failed'] is False, again.get('msg')
        assert again['changed'] is False and again['actions'] == []
    # a volume still to be made needs the file
    refused({'pool': name, 'name': 'vi-up2.raw', 'content': {'src': str(src)}},
            'content.src %r: no such file on the host running the module' % str(src))
    assert volumes_of(name) == ['vi-up.raw']


def test_upload_to_a_block_pool_with_a_capacity_below_the_file_is_refused(disk_pool, tmp_path):
    name, device = disk_pool
    src = tmp_path / 'vi-part.raw'
    src.write_bytes(os.urandom(24 * MIB))
    part = os.path.basename(device) + 'p1'
    args = {'pool': name, 'name': part, 'capacity': '1M', 'content': {'src': str(src)}}
    refused(args, 'capacity 1 MiB (1048576 bytes) is less than the 24 MiB of content.src %s (25165824 bytes): the '
                  'file is written whole, so the volume would be larger than the task says; leave capacity out or '
                  'give at least 25165824 bytes. Nothing was changed' % src)
    assert volumes_of(name) == []
    args['capacity'] = '24M'
    applied = run_module('storage_volume', args)
    assert applied['failed'] is False and applied['actions'] == ['refresh', 'create', 'upload'], applied.get('msg')
    again = run_module('storage_volume', args)
    assert again['failed'] is False and again['changed'] is False, again.get('msg')
