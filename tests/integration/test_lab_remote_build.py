"""build=overwrite from a controller: storage_pool runs on this host with a qemu+ssh URI to the lab VM,
where it cannot look at the VM's devices, so an overwriting build is refused before libvirt is asked and
the file system or volume group on the device is left as it was (real libvirtd, mkfs and LVM in the VM)."""

import os

import pytest

from helpers import run_module
from test_lab import REMOTE_URI, forget_pool, lab, lab_virsh, lab_vm  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.lab
NAME = 'it-lab-rbuild-%d' % os.getpid()


@pytest.fixture
def loop_device():
    """A loop device in the VM over a sparse 64 MiB file under /var/tmp; detached and removed afterwards."""
    made = []

    def make(suffix):
        image = '/var/tmp/it-rbuild-%d-%s.img' % (os.getpid(), suffix)
        device = lab('truncate -s 64M %s && losetup -f --show %s' % (image, image)).strip()
        made.append((device, image))
        return device

    yield make
    for device, image in made:
        lab('vgremove -f %s >/dev/null 2>&1; losetup -d %s; rm -f %s' % (NAME.replace('-', '_'), device, image),
            check=False)


def refused_remotely(result, device):
    assert result['failed'] is True, result
    assert result['msg'].startswith('pool %s: build=overwrite refused: what %s holds cannot be read (uri %s '
                                    'reaches another host' % (NAME, device, REMOTE_URI)), result['msg']
    assert 'Nothing was changed' in result['msg']
    assert NAME not in lab_virsh('pool-list', '--all', '--name').split(), 'no pool was defined'


@pytest.mark.parametrize('check', [True, False], ids=['check', 'real'])
def test_remote_overwrite_of_a_file_system_is_refused(loop_device, check):
    device = loop_device('fs')
    lab('mkfs.ext4 -q %s' % device)
    before = lab('blkid -o value -s UUID %s' % device).strip()
    try:
        result = run_module('storage_pool', {'uri': REMOTE_URI, 'name': NAME, 'type': 'fs', 'source_dev': [device],
                                             'source_format': 'ext4', 'target': '/mnt/%s' % NAME,
                                             'build': 'overwrite'}, check=check)
        refused_remotely(result, device)
        assert lab('blkid -o value -s UUID %s' % device).strip() == before, 'the file system was made anew'
    finally:
        forget_pool(NAME)


def test_remote_overwrite_of_a_volume_group_is_refused(loop_device):
    device = loop_device('vg')
    vg = NAME.replace('-', '_')
    lab('pvcreate -q %s && vgcreate -q %s %s && lvcreate -q -L 8M -n keep %s' % (device, vg, device, vg))
    try:
        result = run_module('storage_pool', {'uri': REMOTE_URI, 'name': NAME, 'type': 'logical',
                                             'source_dev': [device], 'source_name': vg, 'build': 'overwrite'})
        refused_remotely(result, device)
        assert 'keep' in lab('lvs --noheadings -o lv_name %s' % vg), 'the logical volume is gone'
    finally:
        forget_pool(NAME)
