"""scsi pools on the lab VM's virtio-scsi controller (tests/lab/lab.sh gives it PCI address 0000:00:08.0 and
one 32 MiB LUN), driven from this host over qemu+ssh: the adapter found by its host name and by its PCI
address and unique id, the LUN listed as the pool's volume, in the facts too, and a volume create refused
before anything is asked of libvirt."""

import os
import re

import pytest

from helpers import four_calls, run_module
# lab_vm: the autouse fixture of test_lab (skips the module when the VM is not running)
from test_lab import MIB, REMOTE_URI, forget_pool, lab, lab_virsh, lab_vm  # noqa: F401 pylint: disable=unused-import

pytestmark = pytest.mark.lab

REMOTE = {'uri': REMOTE_URI}
POOL = 'it-lab-scsi-%d' % os.getpid()
PCI_ADDRESS = '0000:00:08.0'
LUN_SIZE = 32 * MIB


def scsi_host_at(address, run=lab):
    """(hostN, unique_id) of the SCSI controller at PCI ``address`` in the lab VM, read in its sysfs with
    ``run`` (a function that runs a shell command in the VM and returns its output)."""
    for line in run('for h in /sys/class/scsi_host/host*; do echo "${h##*/} $(cat $h/unique_id) '
                    '$(readlink -f $h)"; done').splitlines():
        name, unique_id, device = line.split(' ', 2)
        if '/%s/' % address in device:
            return name, int(unique_id)
    raise AssertionError('no SCSI host at PCI address %s in the lab VM (tests/lab/lab.sh start adds it)' % address)


@pytest.fixture(scope='module')
def scsi_host():
    """(hostN, unique_id) of the virtio-scsi controller at PCI_ADDRESS."""
    return scsi_host_at(PCI_ADDRESS)


@pytest.fixture
def pool():
    yield POOL
    forget_pool(POOL)


def volumes():
    listed = lab_virsh('vol-list', POOL, '--details')
    return [line.split()[0] for line in listed.splitlines()[2:] if line.strip()]


@pytest.mark.pool_type('scsi')
@pytest.mark.parametrize('found_by', ['name', 'parentaddr'])
def test_scsi_pool_on_a_virtio_scsi_controller(scsi_host, pool, found_by):  # pylint: disable=redefined-outer-name
    host, unique_id = scsi_host
    adapter = {'type': 'scsi_host', 'name': host} if found_by == 'name' else {
        'type': 'scsi_host', 'parentaddr': {'unique_id': unique_id, 'address': PCI_ADDRESS}}
    args = dict(REMOTE, name=pool, type='scsi', source_adapter=adapter, state='active')
    first_check, applied, second_check, second = four_calls('storage_pool', args)
    assert first_check['actions'] == applied['actions'] == ['define', 'start'], 'scsi pools have no build'
    assert not second_check['changed'] and not second['changed']
    assert applied['pool']['state'] == 'active' and applied['pool']['source']['adapter']['type'] == 'scsi_host'
    assert applied['pool']['target']['path'] == '/dev/disk/by-path'
    if found_by == 'parentaddr':
        assert applied['pool']['source']['adapter']['parentaddr'] == {'unique_id': str(unique_id), 'address': {
            'domain': '0x0000', 'bus': '0x00', 'slot': '0x08', 'function': '0x0'}}
    # the LUN is the pool's one volume, named by libvirt after its SCSI address, with its stable path
    names = volumes()
    assert len(names) == 1 and re.match(r'^unit:\d+:\d+:\d+$', names[0]), names
    if found_by == 'parentaddr':
        return  # the facts and the refusal of a volume are the same for a pool found either way
    facts = run_module('storage_facts', dict(REMOTE, gather=['pools', 'volumes'], pools=[pool]))
    record = facts['ansible_facts']['libvirt_storage']['pools'][pool]
    (lun,) = record['volumes'].values()
    assert lun['capacity'] == LUN_SIZE and lun['path'].startswith('/dev/disk/by-path/pci-%s-scsi-' % PCI_ADDRESS), lun
    assert record['capacity'] == LUN_SIZE and record['thin_provisioned'] is False
    # a scsi pool makes no volumes: refused with the reason, in check mode and for real, before libvirt is asked
    for check in (True, False):
        refused = run_module('storage_volume', dict(REMOTE, pool=pool, name='new.img', capacity='1MiB'), check=check)
        assert refused['failed'] is True and refused['msg'] == (
            'volume new.img: scsi pools cannot create volumes (pool %s); nothing was changed' % pool), refused
    assert volumes() == names
