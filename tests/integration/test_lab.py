"""The collection on the lab hypervisor VM (tests/lab/lab.sh), driven over SSH like a remote KVM host:
logical pools with logical volumes, netfs pools on an NFS export, kernel iSCSI pools on a LIO target,
the nfs_pool and lvm_pool roles, and an NFS server outage."""

import os
import shlex
import subprocess
import time

import pytest

from helpers import REPO, four_calls, run_module, run_playbook

pytestmark = pytest.mark.lab

LAB_SH = os.path.join(REPO, 'tests', 'lab', 'lab.sh')
INVENTORY = os.path.join(REPO, '.build', 'lab', 'inventory.ini')
PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks')
TARGET = {'inventory': INVENTORY, 'host': 'lab'}
MIB = 1024 * 1024
# the lab VM's SSH port on 127.0.0.1 and the key that opens it (tests/lab/lab.sh)
LAB_PORT = os.environ.get('KVMOPS_LAB_PORT', '2222')
LAB_KEY = os.path.join(os.environ.get('KVMOPS_LAB_CACHE', '/var/cache/kvmops-lab'), 'id_ed25519')
# the lab VM's libvirtd reached from this host, as a controller manages a remote hypervisor
REMOTE_URI = 'qemu+ssh://root@127.0.0.1:%s/system?keyfile=%s&no_verify=1' % (LAB_PORT, LAB_KEY)

# the two spare disks of the VM (tests/lab/lab.sh start makes them anew, 1 GiB each)
DISK_A, DISK_B = '/dev/vdb', '/dev/vdc'
NFS_EXPORT = '/srv/nfs/it-lab-share'
NFS_TARGET = '/var/lib/libvirt/it-lab-nfs'
ISCSI_IQN = 'iqn.2026-11.io.kvmops:it-lab'


def lab(command, check=True, timeout=300):
    """Run a shell command in the VM as root; returns its stdout."""
    proc = subprocess.run(['bash', LAB_SH, 'ssh', command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError('in the lab VM: %s failed (exit %d): %s' % (command, proc.returncode, proc.stderr.strip()))
    return proc.stdout


def lab_virsh(*args, check=True):
    return lab('virsh -c qemu:///system ' + ' '.join(shlex.quote(str(a)) for a in args), check=check)


def pool_defined(name):
    return subprocess.run(['bash', LAB_SH, 'ssh', 'virsh -c qemu:///system pool-info %s' % shlex.quote(name)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode == 0


def module(name, args, **options):
    return run_module(name, args, **dict(TARGET, **options))


def forget_pool(name):
    lab_virsh('pool-destroy', name, check=False)
    lab_virsh('pool-undefine', name, check=False)


def targetcli(*commands):
    """Several targetcli commands in one run in the VM (each run costs seconds there); one that fails (such as
    deleting what is not there) does not stop the others."""
    lab("printf '%%s\\n' %s | targetcli >/dev/null" % ' '.join(shlex.quote(command) for command in commands))


def lun_capacity(pool, expected, seconds=60):
    """The capacity of the iSCSI pool ``pool`` once its LUN is there: the kernel adds the LUN's block device after
    the login, and an emulated VM under load can take longer than libvirt's wait for udev, so a start can read an
    empty pool first; refreshed (as an operator would) until ``expected`` bytes or ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        lab_virsh('pool-refresh', pool)
        info = dict(line.split(':', 1) for line in lab_virsh('pool-info', '--bytes', pool).splitlines() if ':' in line)
        capacity = int(info['Capacity'].split()[0])
        if capacity == expected or time.monotonic() > deadline:
            return capacity
        time.sleep(2)


def wipe_disk(device, vg):
    """Remove the volume group ``vg`` and every signature from ``device``."""
    lab('vgremove -f %s >/dev/null 2>&1; pvremove -ff -y %s >/dev/null 2>&1; wipefs -a -q %s'
        % (shlex.quote(vg), device, device), check=False)


@pytest.fixture(scope='module', autouse=True)
def lab_vm():
    running = subprocess.run(['bash', LAB_SH, 'status'], stdout=subprocess.PIPE, universal_newlines=True,
                             check=False).stdout
    if not running.startswith('lab: running') or not os.path.exists(INVENTORY):
        pytest.skip('the lab VM is not running (tests/lab/lab.sh start; scripts/test.sh starts it)')
    assert lab('uname -r').strip(), 'no answer from the lab VM'


@pytest.fixture
def vg_on_a():
    name = 'it-lab-vg'
    yield name
    forget_pool(name)
    wipe_disk(DISK_A, name)


@pytest.mark.pool_type('logical')
def test_logical_pool_with_logical_volumes(vg_on_a):
    """A volume group built by the pool build on a blank disk; LVs created, resize refused, deleted."""
    name = vg_on_a
    args = {'name': name, 'type': 'logical', 'source_dev': [DISK_A], 'autostart': True}
    first_check, applied, second_check, second = four_calls('storage_pool', args, **TARGET)
    assert first_check['changed'] is True
    assert first_check['actions'] == ['define', 'build', 'start', 'autostart']
    assert applied['actions'] == first_check['actions']
    assert applied['pool']['state'] == 'active' and applied['pool']['autostart'] is True
    for result in (second_check, second):
        assert result['changed'] is False and result['actions'] == []
    assert lab('vgs --noheadings -o pv_name %s' % name).strip() == DISK_A

    volumes = {'pool': name, 'volumes': [{'name': 'it-lab-lv1', 'capacity': '64MiB'},
                                         {'name': 'it-lab-lv2', 'capacity': '30MiB'}]}
    first_check, applied, second_check, second = four_calls('storage_volume', volumes, **TARGET)
    # an LV made outside libvirt (lvcreate) is listed only after a refresh: made before creating
    assert first_check['actions'] == ['refresh', 'create:it-lab-lv1', 'create:it-lab-lv2']
    assert applied['actions'] == first_check['actions']
    assert not second_check['changed'] and not second['changed'] and second['actions'] == []
    sizes = dict(line.split() for line in lab('lvs --noheadings --units b --nosuffix -o lv_name,lv_size %s'
                                              % name).splitlines() if line.strip())
    # 30 MiB rounds up to whole 4 MiB extents; the second run did not see that as drift
    assert sizes == {'it-lab-lv1': str(64 * MIB), 'it-lab-lv2': str(32 * MIB)}

    refused = module('storage_volume', {'pool': name, 'name': 'it-lab-lv1', 'capacity': '128MiB'})
    assert refused['failed'] is True
    assert 'logical' in refused['msg'] and 'resize' in refused['msg']
    assert 'it-lab-lv1' in lab('lvs --noheadings -o lv_name %s' % name)

    deleted = module('storage_volume', {'pool': name, 'name': 'it-lab-lv2', 'state': 'absent'})
    assert deleted['changed'] is True
    assert 'it-lab-lv2' not in lab('lvs --noheadings -o lv_name %s' % name)

    # the pool still holds a volume: deleting it needs force; then the volume group is gone
    refused = module('storage_pool', {'name': name, 'state': 'deleted'})
    assert refused['failed'] is True and 'it-lab-lv1' in refused['msg']
    removed = module('storage_pool', {'name': name, 'state': 'deleted', 'force': True})
    assert removed['changed'] is True and removed['actions'][-2:] == ['delete', 'undefine']
    assert lab('vgs --noheadings -o vg_name %s' % name, check=False).strip() == ''
    assert not pool_defined(name)


@pytest.fixture
def nfs_export():
    lab('(umount %s; rmdir %s) 2>/dev/null; true' % (NFS_TARGET, NFS_TARGET))
    lab('mkdir -p %s /etc/exports.d && echo "%s 127.0.0.1(rw,sync,no_subtree_check,no_root_squash)" '
        '> /etc/exports.d/it-lab.exports && systemctl start nfs-server && exportfs -ra' % (NFS_EXPORT, NFS_EXPORT))
    yield NFS_EXPORT
    lab('systemctl start nfs-server', check=False)
    forget_pool('it-lab-nfs')
    lab('rm -f /etc/exports.d/it-lab.exports && exportfs -ra && rm -rf %s' % NFS_EXPORT, check=False)


@pytest.mark.pool_type('netfs')
def test_netfs_pool_and_nfs_server_outage(nfs_export):
    """A netfs pool mounting an export of the VM itself; the NFS server stopped and back."""
    target = NFS_TARGET
    # retry=0: with the server down, mount fails at once instead of retrying for two minutes
    args = {'name': 'it-lab-nfs', 'type': 'netfs', 'source_host': ['127.0.0.1'], 'source_path': nfs_export,
            'source_format': 'nfs', 'target': target, 'mount_opts': ['nfsvers=4.2', 'retry=0'],
            'autostart': True}
    first_check, applied, second_check, second = four_calls('storage_pool', args, **TARGET)
    assert first_check['actions'] == ['define', 'build', 'start', 'autostart']
    assert applied['actions'] == first_check['actions']
    assert not second_check['changed'] and not second['changed']
    mount = lab('findmnt -n -o SOURCE,FSTYPE,OPTIONS %s' % target).split()
    assert mount[0] == '127.0.0.1:%s' % nfs_export and mount[1] == 'nfs4' and 'vers=4.2' in mount[2]

    volume = module('storage_volume', {'pool': 'it-lab-nfs', 'name': 'it-lab-disk.qcow2', 'capacity': '64MiB',
                                       'format': 'qcow2'})
    assert volume['changed'] is True
    assert 'QFI' in lab('head -c 3 %s/it-lab-disk.qcow2' % nfs_export), 'the volume is not on the export'

    # the server goes away: starting the pool fails with mount's reason, the definition stays
    assert module('storage_pool', dict(args, state='inactive'))['actions'] == ['stop']
    lab('systemctl stop nfs-server')
    failed = module('storage_pool', args)
    assert failed['failed'] is True
    assert 'starting pool it-lab-nfs failed' in failed['msg'] and 'mount' in failed['msg']
    assert 'Connection refused' in failed['msg'] or 'timed out' in failed['msg']
    assert pool_defined('it-lab-nfs')
    assert 'inactive' in lab_virsh('pool-info', 'it-lab-nfs')

    # the server is back: the next run starts the pool, and the volume is there again
    lab('systemctl start nfs-server')
    again = module('storage_pool', args)
    assert again['failed'] is False and again['actions'] == ['start']
    assert again['pool']['state'] == 'active'
    assert 'it-lab-disk.qcow2' in lab_virsh('vol-list', 'it-lab-nfs')

    removed = module('storage_pool', {'name': 'it-lab-nfs', 'state': 'absent'})
    assert removed['actions'] == ['stop', 'undefine']
    assert lab('findmnt -n %s' % target, check=False).strip() == ''
    assert 'QFI' in lab('head -c 3 %s/it-lab-disk.qcow2' % nfs_export), 'undefine must not delete data'


@pytest.fixture
def lio_target():
    """A LIO iSCSI target in the VM on 127.0.0.1:3260: one 64 MiB fileio LUN, demo mode (any initiator)."""
    tpg = '/iscsi/%s/tpg1' % ISCSI_IQN
    targetcli('/backstores/fileio create name=it-lab-lun0 file_or_dev=/var/lib/it-lab-lun0.img size=64M',
              '/iscsi create %s' % ISCSI_IQN,
              '%s/luns create /backstores/fileio/it-lab-lun0' % tpg,
              '%s set attribute authentication=0 generate_node_acls=1 demo_mode_write_protect=0 cache_dynamic_acls=1'
              % tpg,
              '%s/portals delete 0.0.0.0 3260' % tpg,
              '%s/portals create 127.0.0.1 3260' % tpg)
    yield ISCSI_IQN
    forget_pool('it-lab-iscsi')
    lab('iscsiadm -m node -T %s -u >/dev/null 2>&1; true' % ISCSI_IQN, check=False)
    targetcli('/iscsi delete %s' % ISCSI_IQN, '/backstores/fileio delete it-lab-lun0')
    lab('rm -f /var/lib/it-lab-lun0.img', check=False)


@pytest.mark.pool_type('iscsi')
def test_iscsi_pool_on_lio_target(lio_target):
    """The kernel initiator logs in to the LIO target; its LUN is the pool's volume."""
    args = {'name': 'it-lab-iscsi', 'type': 'iscsi', 'source_host': ['127.0.0.1:3260'],
            'source_dev': [lio_target], 'source_initiator': 'iqn.2026-11.io.kvmops:lab'}
    first_check, applied, second_check, second = four_calls('storage_pool', args, **TARGET)
    assert first_check['actions'] == ['define', 'start'], 'iscsi pools have no build'
    assert applied['actions'] == first_check['actions']
    assert applied['pool']['state'] == 'active'
    assert applied['pool']['capacity'] in (0, 64 * MIB)
    assert lun_capacity('it-lab-iscsi', 64 * MIB) == 64 * MIB
    assert not second_check['changed'] and not second['changed']
    assert lio_target in lab('iscsiadm -m session')
    volumes = lab_virsh('vol-list', 'it-lab-iscsi', '--details')
    assert 'unit:0:0:0' in volumes and '/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-%s-lun-0' % lio_target in volumes

    refused = module('storage_volume', {'pool': 'it-lab-iscsi', 'name': 'it-lab-new', 'capacity': '1MiB'})
    assert refused['failed'] is True and 'iscsi' in refused['msg']

    removed = module('storage_pool', {'name': 'it-lab-iscsi', 'state': 'absent'})
    assert removed['actions'] == ['stop', 'undefine']
    assert lio_target not in lab('iscsiadm -m session', check=False), 'stopping the pool logs out'


@pytest.fixture
def role_setup(tmp_path):
    """An inventory with the lab host also in the nfs_pool_server group; cleans up the roles' pools."""
    inventory = tmp_path / 'inventory.ini'
    with open(INVENTORY) as handle:
        inventory.write_text(handle.read() + '\n[nfs_pool_server]\nlab\n')
    lab('wipefs -a -q %s %s' % (DISK_A, DISK_B))
    yield str(inventory)
    forget_pool('it-lab-rnfs')
    forget_pool('it-lab-rvg')
    lab('rm -f /etc/exports.d/it-lab-rnfs.exports; exportfs -ra; rm -rf /srv/nfs/it-lab-rnfs', check=False)
    wipe_disk(DISK_A, 'it-lab-rvg')
    wipe_disk(DISK_B, 'it-lab-rvg')


ROLE_VARS = {
    'nfs_pool_name': 'it-lab-rnfs',
    'nfs_pool_server_host': '127.0.0.1',
    'nfs_pool_export': '/srv/nfs/it-lab-rnfs',
    'nfs_pool_export_clients': '127.0.0.1',
    'lvm_pool_name': 'it-lab-rvg',
    'lvm_pool_devices': [DISK_A],
    'lvm_pool_volumes': [{'name': 'it-lab-root', 'capacity': '100MiB'}, {'name': 'it-lab-data', 'capacity': '40MiB'}],
}


def changed_tasks(run):
    return [task['_task'] for task in run.tasks if task.get('changed')]


def test_roles_twice(role_setup):
    """nfs_pool (server and client on one host) and lvm_pool: the second run changes nothing."""
    checked = run_playbook(os.path.join(PLAYBOOKS, 'lab_roles.yml'), ROLE_VARS, check=True, inventory=role_setup)
    assert checked.rc == 0, checked.output
    assert checked.recap['lab']['changed'] >= 3
    assert not pool_defined('it-lab-rnfs') and not pool_defined('it-lab-rvg'), 'check mode defined a pool'
    assert lab('test -e /etc/exports.d/it-lab-rnfs.exports || echo none').strip() == 'none'
    assert lab('blkid -p -o value -s TYPE %s' % DISK_A, check=False).strip() == ''

    first = run_playbook(os.path.join(PLAYBOOKS, 'lab_roles.yml'), ROLE_VARS, inventory=role_setup)
    assert first.rc == 0, first.output
    assert first.recap['lab']['changed'] >= 5 and first.recap['lab']['failures'] == 0
    # the NFS client and server are in the image already: the package tasks change nothing
    assert not any('Install' in name for name in changed_tasks(first)), changed_tasks(first)
    assert '/srv/nfs/it-lab-rnfs' in lab('exportfs -v')
    assert lab('findmnt -n -o SOURCE /var/lib/libvirt/nfs/it-lab-rnfs').strip() == '127.0.0.1:/srv/nfs/it-lab-rnfs'
    assert set(lab('lvs --noheadings -o lv_name it-lab-rvg').split()) == {'it-lab-root', 'it-lab-data'}
    assert 'yes' in lab_virsh('pool-info', 'it-lab-rvg').split('Autostart:')[1].split('\n')[0]

    second = run_playbook(os.path.join(PLAYBOOKS, 'lab_roles.yml'), ROLE_VARS, inventory=role_setup)
    assert second.rc == 0, second.output
    assert second.recap['lab']['changed'] == 0, changed_tasks(second)

    # adopting: the pool is undefined, the volume group stays; the role without devices takes it back
    # with its logical volumes untouched
    adopt = {'lvm_pool_name': 'it-lab-rvg', 'lvm_pool_volumes': [{'name': 'it-lab-root', 'capacity': '100MiB'}]}
    gone = run_playbook(os.path.join(PLAYBOOKS, 'lab_lvm_pool.yml'), dict(adopt, lvm_pool_state='absent'),
                        inventory=role_setup)
    assert gone.rc == 0 and not pool_defined('it-lab-rvg'), gone.output
    adopted = run_playbook(os.path.join(PLAYBOOKS, 'lab_lvm_pool.yml'), adopt, inventory=role_setup)
    assert adopted.rc == 0, adopted.output
    assert [name.split(' : ')[-1] for name in changed_tasks(adopted)] == ['Define, build and start the logical pool']
    assert set(lab('lvs --noheadings -o lv_name it-lab-rvg').split()) == {'it-lab-root', 'it-lab-data'}
    again = run_playbook(os.path.join(PLAYBOOKS, 'lab_lvm_pool.yml'), adopt, inventory=role_setup)
    assert again.rc == 0 and again.recap['lab']['changed'] == 0, changed_tasks(again)


@pytest.fixture
def ck_role_setup(tmp_path):
    """Like role_setup, with a loop device in the VM for the volume group (the spare disks stay free)."""
    inventory = tmp_path / 'inventory.ini'
    with open(INVENTORY) as handle:
        inventory.write_text(handle.read() + '\n[nfs_pool_server]\nlab\n')
    device = lab('truncate -s 512M /var/tmp/ck-lvm.img && losetup -f --show /var/tmp/ck-lvm.img').strip()
    yield str(inventory), device
    forget_pool('ck-rnfs')
    forget_pool('ck-rvg')
    lab('rm -f /etc/exports.d/ck-rnfs.exports; exportfs -ra; rm -rf /srv/nfs/ck-rnfs', check=False)
    wipe_disk(device, 'ck-rvg')
    lab('losetup -d %s; rm -f /var/tmp/ck-lvm.img' % device, check=False)


# the handler is a command: Ansible skips commands in check mode
HANDLERS = ('kvmops.storage.nfs_pool : Re-export the NFS exports',)


def changed_per_task(run):
    return [(task['_task'], bool(task.get('changed'))) for task in run.tasks if task['_task'] not in HANDLERS]


def test_roles_check_run_predicts_the_real_run(ck_role_setup):
    """On a host without the pools, a check run of nfs_pool and lvm_pool reports, task by task, the
    changes of the real run that follows (the volume task assumes the pool the task before makes)."""
    inventory, device = ck_role_setup
    role_vars = {
        'nfs_pool_name': 'ck-rnfs',
        'nfs_pool_server_host': '127.0.0.1',
        'nfs_pool_export': '/srv/nfs/ck-rnfs',
        'nfs_pool_export_clients': '127.0.0.1',
        'lvm_pool_name': 'ck-rvg',
        'lvm_pool_devices': [device],
        'lvm_pool_volumes': [{'name': 'ck-root', 'capacity': '100MiB'}, {'name': 'ck-data', 'capacity': '40MiB'}],
    }
    play = os.path.join(PLAYBOOKS, 'lab_roles.yml')
    checked = run_playbook(play, role_vars, check=True, inventory=inventory)
    assert checked.rc == 0, checked.output
    assert not pool_defined('ck-rnfs') and not pool_defined('ck-rvg'), 'check mode defined a pool'
    assert lab('blkid -p -o value -s TYPE %s' % device, check=False).strip() == ''

    first = run_playbook(play, role_vars, inventory=inventory)
    assert first.rc == 0, first.output
    assert changed_per_task(checked) == changed_per_task(first)
    changed = [name.split(' : ')[-1] for name, was_changed in changed_per_task(first) if was_changed]
    for task in ('Define the netfs pool', 'Define, build and start the logical pool', 'Create the logical volumes'):
        assert task in changed, changed
    assert set(lab('lvs --noheadings -o lv_name ck-rvg').split()) == {'ck-root', 'ck-data'}

    second = run_playbook(play, role_vars, inventory=inventory)
    assert second.rc == 0 and second.recap['lab']['changed'] == 0, second.output


def test_lvm_pool_refuses_a_device_with_a_file_system(role_setup):
    """lvm_pool never wipes a device with a signature unless lvm_pool_overwrite is set."""
    # a physical volume of another volume group is that group's data
    lab('pvcreate -q -y %s && vgcreate -q it-lab-other %s' % (DISK_B, DISK_B))
    other = module('storage_pool', {'name': 'it-lab-rvg', 'type': 'logical', 'source_dev': [DISK_B],
                                    'build': 'no_overwrite'})
    assert other['failed'] is True and 'physical volume of volume group it-lab-other' in other['msg']
    assert not pool_defined('it-lab-rvg')
    lab('vgremove -q -f it-lab-other && pvremove -q %s' % DISK_B)

    lab('mkfs.ext4 -q -F %s' % DISK_B)
    play = os.path.join(PLAYBOOKS, 'lab_lvm_pool.yml')
    role = {'lvm_pool_name': 'it-lab-rvg', 'lvm_pool_devices': [DISK_B]}
    refused = run_playbook(play, role, inventory=role_setup)
    assert refused.rc != 0
    failure = [task for task in refused.tasks if task['_status'] == 'failed'][0]
    assert '%s holds ext4' % DISK_B in failure['msg'] and 'overwrite' in failure['msg']
    assert lab('blkid -p -o value -s TYPE %s' % DISK_B).strip() == 'ext4'
    assert not pool_defined('it-lab-rvg')

    built = run_playbook(play, dict(role, lvm_pool_overwrite=True), inventory=role_setup)
    assert built.rc == 0, built.output
    assert lab('blkid -p -o value -s TYPE %s' % DISK_B).strip() == 'LVM2_member'
    assert 'running' in lab_virsh('pool-info', 'it-lab-rvg')
