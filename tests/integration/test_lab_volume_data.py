"""Where the bytes are, tested from both sides: storage_volume runs on this host (the controller) with a
qemu+ssh URI to the lab VM, so a controller file is imported into a volume of the VM and a volume of the
VM is exported to a controller file, libvirt carrying the bytes over its connection; and the same import
and export run on the VM itself, where the paths are the VM's. A logical pool of the VM shows the block
volume case (its export marked by the digest of the LV) and an LVM snapshot of an imported LV."""

import os
import subprocess

import pytest

from test_lab import MIB, REMOTE_URI, TARGET, forget_pool, lab, lab_vm  # noqa: F401 pylint: disable=unused-import
from helpers import four_calls, run_module, same_image, sha256_of, sparse_image

pytestmark = pytest.mark.lab

TAG = 'it-lab-data-%d' % os.getpid()
VG = 'it_lab_data'
VG_IMAGE = '/var/tmp/it-lab-data-vg.img'


def lab_sha256(path, size):
    """The SHA-256 of the first ``size`` bytes of ``path`` in the VM."""
    return lab('head -c %d %s | sha256sum' % (size, path)).split()[0]


@pytest.fixture
def dir_pool():
    """A dir pool of the VM, made with virsh there: (name, directory)."""
    directory = '/var/tmp/%s' % TAG
    forget_pool(TAG)
    lab('rm -rf %s && virsh -q -c qemu:///system pool-define-as %s dir --target %s && '
        'virsh -q -c qemu:///system pool-build %s && virsh -q -c qemu:///system pool-start %s'
        % (directory, TAG, directory, TAG, TAG))
    yield TAG, directory
    forget_pool(TAG)
    lab('rm -rf %s /var/tmp/%s-export*' % (directory, TAG), check=False)


def _drop_vg():
    forget_pool(VG)
    lab('vgremove -f %s >/dev/null 2>&1; for dev in $(losetup -j %s -O NAME -n); do pvremove -ff -y $dev '
        '>/dev/null 2>&1; losetup -d $dev; done; rm -f %s' % (VG, VG_IMAGE, VG_IMAGE), check=False)


@pytest.fixture
def logical_pool():
    """A volume group on a loop device of the VM and a logical pool over it (storage_pool, in the VM)."""
    _drop_vg()
    device = lab('truncate -s 256M %s && losetup -f --show %s' % (VG_IMAGE, VG_IMAGE)).strip()
    lab('pvcreate -q %s && vgcreate -q %s %s' % (device, VG, device))
    pool = run_module('storage_pool', {'name': VG, 'type': 'logical', 'source_name': VG, 'build': 'never',
                                       'state': 'active'}, **TARGET)
    assert pool['failed'] is False, pool.get('msg')
    yield VG
    _drop_vg()


def test_controller_file_into_a_vm_volume_and_back_to_the_controller(dir_pool, tmp_path):
    name, directory = dir_pool
    image = sparse_image(tmp_path / 'disk.raw', 16, (0, 8))
    imported = run_module('storage_volume', {'uri': REMOTE_URI, 'pool': name, 'name': 'disk.raw',
                                             'content': {'src': image, 'checksum': 'sha256:' + sha256_of(image)}})
    # remote: the module cannot look into the pool's directory, so it refreshes the pool first
    assert imported['failed'] is False and imported['actions'] == ['refresh', 'create', 'upload'], imported.get('msg')
    assert imported['volume']['path'] == '%s/disk.raw' % directory
    # the volume is a file of the VM holding the controller's bytes; no copy was left there
    assert lab_sha256('%s/disk.raw' % directory, 16 * MIB) == sha256_of(image)
    assert lab('ls -A %s' % directory).split() == ['disk.raw']

    dest = str(tmp_path / 'back' / 'disk.raw')
    os.mkdir(os.path.dirname(dest))
    args = {'uri': REMOTE_URI, 'pool': name, 'name': 'disk.raw', 'export': {'dest': dest}}
    first_check, applied, second_check, second = four_calls('storage_volume', args)
    assert first_check['failed'] is False and first_check['actions'] == ['export'], first_check.get('msg')
    assert applied['failed'] is False and applied['actions'] == ['export'], applied.get('msg')
    for result in (second_check, second):
        assert result['failed'] is False and result['changed'] is False, result
    assert same_image(image, dest)
    assert applied['export']['checksum'] == 'sha256:' + sha256_of(dest)
    assert os.stat(dest).st_blocks * 512 <= 3 * MIB, 'the holes stay holes on the controller'
    assert lab('ls /var/tmp | grep -c %s-export || true' % TAG).strip() == '0', 'nothing written in the VM'

    # the same task run on the VM exports to a path of the VM
    in_vm = '/var/tmp/%s-export.raw' % TAG
    there = run_module('storage_volume', {'pool': name, 'name': 'disk.raw', 'export': {'dest': in_vm}}, **TARGET)
    assert there['failed'] is False and there['changed'] is True, there.get('msg')
    assert there['export']['checksum'] == applied['export']['checksum']
    assert lab('cd /var/tmp && sha256sum -c %s-export.raw.sha256' % TAG).strip() == '%s-export.raw: OK' % TAG
    assert not os.path.exists(in_vm), 'a path of the VM: nothing was written on this host'


@pytest.mark.pool_type('logical')
def test_logical_volume_import_snapshot_and_export(logical_pool, tmp_path):
    vg = logical_pool
    image = sparse_image(tmp_path / 'disk.raw', 16, (0, 8))
    imported = run_module('storage_volume', {'uri': REMOTE_URI, 'pool': vg, 'name': 'lv1', 'capacity': '16MiB',
                                             'content': {'src': image}})
    assert imported['failed'] is False, imported.get('msg')
    assert lab_sha256('/dev/%s/lv1' % vg, 16 * MIB) == sha256_of(image)
    # an LVM snapshot of the imported LV holds the same bytes
    lab('lvcreate -q -s -L 8M -n lv1snap %s/lv1' % vg)
    assert lab_sha256('/dev/%s/lv1snap' % vg, 16 * MIB) == sha256_of(image)

    dest = str(tmp_path / 'lv1.qcow2')
    args = {'uri': REMOTE_URI, 'pool': vg, 'name': 'lv1', 'export': {'dest': dest, 'format': 'qcow2'}}
    done = run_module('storage_volume', args)
    assert done['failed'] is False and done['changed'] is True, done.get('msg')
    assert same_image(image, dest)
    with open(dest + '.sha256') as handle:
        assert [line for line in handle if line.startswith('# source: ')][0].startswith('# source: digest=sha256:')
    assert run_module('storage_volume', args, check=True)['changed'] is False
    # written in the VM outside libvirt: the LV's digest tells (its device node's timestamps do not)
    lab('dd if=/dev/urandom of=/dev/%s/lv1 bs=64K count=1 seek=4 conv=notrunc,fsync status=none' % vg)
    again = run_module('storage_volume', args, check=True)
    assert again['changed'] is True and again['export']['reason'].startswith('the volume changed since'), again
    assert run_module('storage_volume', args)['changed'] is True
    lab('lvremove -q -f %s/lv1snap' % vg)


@pytest.mark.pool_type('logical')
def test_controller_qcow2_image_into_a_vm_lv_arrives_as_raw(logical_pool, tmp_path):
    """qemu-img runs on the controller (where the module runs), the raw disk goes over qemu+ssh into the LV."""
    vg = logical_pool
    raw = sparse_image(tmp_path / 'disk.raw', 16, (0, 8))
    qcow = str(tmp_path / 'disk.qcow2')
    subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, qcow], check=True)
    args = {'uri': REMOTE_URI, 'pool': vg, 'name': 'lvq', 'content': {'src': qcow, 'tmpdir': str(tmp_path)}}
    first_check, applied, second_check, second = four_calls('storage_volume', args)
    for result in (first_check, applied):
        assert result['failed'] is False, result.get('msg')
        assert [a for a in result['actions'] if a != 'refresh'] == ['convert', 'create', 'upload'], result['actions']
    for result in (second_check, second):
        assert result['failed'] is False and result['changed'] is False, result
    assert lab_sha256('/dev/%s/lvq' % vg, 16 * MIB) == sha256_of(raw)
    assert sorted(os.listdir(str(tmp_path))) == ['disk.qcow2', 'disk.raw'], 'the converted copy is removed'


@pytest.mark.pool_type('logical')
def test_move_a_qcow2_file_volume_onto_an_lv(dir_pool, logical_pool, tmp_path):
    """Migrate dir to logical on the VM: libvirt converts the qcow2 image into the LV, qemu-img compare in the
    VM verifies it, then the source is deleted."""
    name, directory = dir_pool
    vg = logical_pool
    raw = sparse_image(tmp_path / 'disk.raw', 16, (0, 8))
    qcow = str(tmp_path / 'disk.qcow2')
    subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, qcow], check=True)
    imported = run_module('storage_volume', {'uri': REMOTE_URI, 'pool': name, 'name': 'disk.qcow2',
                                             'content': {'src': qcow}})
    assert imported['failed'] is False and imported['volume']['format'] == 'qcow2', imported.get('msg')
    args = {'pool': vg, 'name': 'moved', 'clone_from': {'pool': name, 'name': 'disk.qcow2', 'move': True}}
    first_check, applied, second_check, second = four_calls('storage_volume', args, **TARGET)
    for result in (first_check, applied):
        assert result['failed'] is False, result.get('msg')
        assert [a for a in result['actions'] if a != 'refresh'] == ['clone', 'verify', 'delete_source'], result
    for result in (second_check, second):
        assert result['failed'] is False and result['changed'] is False, result
    assert lab('ls -A %s' % directory).split() == []
    assert lab_sha256('/dev/%s/moved' % vg, 16 * MIB) == sha256_of(raw)
