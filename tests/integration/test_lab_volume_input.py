"""storage_volume on the lab VM where the kernel matters: logical volumes on a volume group whose
extents are larger than LVM's default 4 MiB converge on the first run."""

import pytest

from test_lab import MIB, REMOTE_URI, TARGET, forget_pool, lab, lab_vm  # noqa: F401 pylint: disable=unused-import
from helpers import four_calls, run_module

pytestmark = pytest.mark.lab

VG = 'vi-vg32'
IMAGE = '/var/tmp/vi-vg32.img'


def _drop_vg():
    forget_pool(VG)
    lab('vgremove -f %s >/dev/null 2>&1; for dev in $(losetup -j %s -O NAME -n); do pvremove -ff -y $dev '
        '>/dev/null 2>&1; losetup -d $dev; done; rm -f %s' % (VG, IMAGE, IMAGE), check=False)


@pytest.fixture
def vg32():
    """A volume group with 32 MiB extents on a loop device of the VM, made outside libvirt, and a
    logical pool defined over it (build never: the volume group is there)."""
    _drop_vg()
    device = lab('truncate -s 512M %s && losetup -f --show %s' % (IMAGE, IMAGE)).strip()
    lab('pvcreate -q %s && vgcreate -q -s 32M %s %s' % (device, VG, device))
    pool = run_module('storage_pool', {'name': VG, 'type': 'logical', 'source_name': VG, 'build': 'never',
                                       'state': 'active'}, **TARGET)
    assert pool['failed'] is False, pool.get('msg')
    yield VG
    _drop_vg()


def lv_sizes(vg):
    return dict(line.split() for line in lab('lvs --noheadings --units b --nosuffix -o lv_name,lv_size %s' % vg)
                .splitlines() if line.strip())


def test_logical_volume_on_32m_extents_converges_on_the_first_run(vg32):
    assert lab('vgs --noheadings --units b --nosuffix -o vg_extent_size %s' % vg32).strip() == str(32 * MIB)
    args = {'pool': vg32, 'name': 'vi-lv40', 'capacity': '40MiB'}
    first_check, applied, second_check, second = four_calls('storage_volume', args, **TARGET)
    # a logical pool is refreshed before a volume it does not list is made (lvcreate outside libvirt)
    assert first_check['changed'] is True and first_check['actions'] == ['refresh', 'create']
    assert applied['changed'] is True and applied['actions'] == ['refresh', 'create']
    # 40 MiB is two 32 MiB extents: 64 MiB, 24 MiB more than asked, which is no shrink on the second run
    assert lv_sizes(vg32) == {'vi-lv40': str(64 * MIB)}
    assert applied['volume']['capacity'] == 64 * MIB
    for result in (second_check, second):
        assert result['failed'] is False, result.get('msg')
        assert result['changed'] is False and result['actions'] == []

    # bulk, with a size one byte above an extent boundary: three extents, still no change next time
    bulk = {'pool': vg32, 'volumes': [{'name': 'vi-lv40', 'capacity': '40MiB'},
                                      {'name': 'vi-lvodd', 'capacity': 64 * MIB + 1}]}
    applied = run_module('storage_volume', bulk, **TARGET)
    assert applied['actions'] == ['refresh', 'create:vi-lvodd']
    again = run_module('storage_volume', bulk, **TARGET)
    assert again['failed'] is False and again['changed'] is False and again['actions'] == []
    assert lv_sizes(vg32) == {'vi-lv40': str(64 * MIB), 'vi-lvodd': str(96 * MIB)}

    # a real shrink (a whole extent less) is still refused
    refused = run_module('storage_volume', {'pool': vg32, 'name': 'vi-lvodd', 'capacity': '64MiB'}, **TARGET)
    assert refused['failed'] is True
    assert refused['msg'] == ('volume vi-lvodd is 96 MiB and capacity asks for 64 MiB: shrinking loses the data past '
                              'the new end, so it is refused; set allow_shrink=true to shrink it')


def test_remote_uri_bounds_the_extent_size_from_what_libvirt_reports(vg32):
    """With a remote URI the module cannot run vgs on the hypervisor: the VG's size, free space and the
    LV's size (whole 32 MiB extents) tell that 40 MiB made a 64 MiB LV."""
    args = {'uri': REMOTE_URI, 'pool': vg32, 'name': 'vi-lvremote', 'capacity': '40MiB'}
    first_check, applied, second_check, second = four_calls('storage_volume', args)
    assert applied['failed'] is False and applied['actions'] == ['refresh', 'create'], applied.get('msg')
    assert lv_sizes(vg32) == {'vi-lvremote': str(64 * MIB)}
    for result in (second_check, second):
        assert result['failed'] is False, result.get('msg')
        assert result['changed'] is False and result['actions'] == []
