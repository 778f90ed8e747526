"""Adoption: pools and volumes made with virsh the way the virsh tutorials make them
(`pool-define-as`, `pool-build`, `pool-start`, `pool-autostart`; `vol-create-as`), then declared
with the equivalent typed options of storage_pool and storage_volume. Nothing may change: `changed:
false` in check mode and for real, and the pool's inactive XML (and libvirtd's configuration file of
it) byte-identical before and after.

On the host: dir, fs (loop device, ext4), disk (loop device, labelled by pool-build), iscsi-direct
(tgtd on 127.0.0.1:3260) and rbd (the Ceph test cluster). On the lab VM (tests marked lab):
logical, netfs and kernel iscsi, on loop devices and files under /var/tmp/bd-* of the VM.
"""

import os
import shlex
import subprocess

import pytest

from helpers import REPO, read_testbed, run_module, virsh
from test_lab_scsi import PCI_ADDRESS, scsi_host_at

GIB40 = 40 * 1024 ** 3
CAPACITIES = ['40G', '40GiB', GIB40]
# vol-create-as allocates a raw file in full unless told otherwise: 40 GiB of the test host's disk
SPARSE = ('--allocation', '0')
TGT_IQN = os.environ.get('KVMOPS_TGT_IQN', 'iqn.2026-11.io.kvmops:test')


def config_file(name, read=None):
    """libvirtd's configuration file of pool ``name`` (read through ``read`` for a remote host)."""
    path = '/etc/libvirt/storage/%s.xml' % name
    if read is not None:
        return read('cat %s' % path)
    with open(path) as handle:
        return handle.read()


def assert_adopted(module_args, inactive_xml, config, target=None, module='storage_pool'):
    """Check mode and a real run of ``module`` report no change; the definition stays byte-identical."""
    before_xml, before_config = inactive_xml(), config()
    for check in (True, False):
        result = run_module(module, module_args, check=check, diff=True, **(target or {}))
        assert result['failed'] is False, result.get('msg')
        assert (result['changed'], result['actions']) == (False, []), (check, result.get('diff'))
        assert not result.get('warnings'), result.get('warnings')
    assert inactive_xml() == before_xml
    assert config() == before_config
    return result


def assert_volumes_adopted(pool, volumes, target=None):
    """``volumes``: {name: format} made with vol-create-as 40G; declared with 40G, 40GiB and bytes."""
    for name, fmt in volumes.items():
        for capacity in CAPACITIES:
            args = {'pool': pool, 'name': name, 'capacity': capacity}
            if fmt is not None:
                args['format'] = fmt
            for check in (True, False):
                result = run_module('storage_volume', args, check=check, **(target or {}))
                assert result['failed'] is False, result.get('msg')
                assert (result['changed'], result['actions']) == (False, []), (name, capacity, check)
                assert result['volume']['capacity'] == GIB40


def local_pool(name, *define_args, **options):
    """virsh pool-define-as NAME ARGS, then pool-build (unless build=False), pool-start, pool-autostart."""
    virsh('pool-define-as', name, *define_args)
    if options.get('build', True):
        virsh('pool-build', name)
    virsh('pool-start', name)
    virsh('pool-autostart', name)


def local_xml(name):
    return lambda: virsh('pool-dumpxml', '--inactive', name)


def local_config(name):
    return lambda: config_file(name)


@pytest.fixture
def bd_pools():
    made = []

    def name(suffix):
        made.append('bd-adopt-%s-%d' % (suffix, os.getpid()))
        return made[-1]

    yield name
    for pool in made:
        virsh('pool-destroy', pool, check=False)
        virsh('pool-undefine', pool, check=False)


# ---- host pools ----------------------------------------------------------------------------------

@pytest.mark.libvirt
def test_adopt_dir_pool_and_volumes(bd_pools, tmp_path):
    name = bd_pools('dir')
    target = str(tmp_path / 'bd-adopt-dir')
    local_pool(name, 'dir', '--target', target)
    declared = {'name': name, 'type': 'dir', 'target': target, 'state': 'active', 'autostart': True}
    assert_adopted(declared, local_xml(name), local_config(name))

    virsh('vol-create-as', name, 'bd-raw.img', '40G', '--format', 'raw', *SPARSE)
    virsh('vol-create-as', name, 'bd-disk.qcow2', '40G', '--format', 'qcow2')
    assert_volumes_adopted(name, {'bd-raw.img': 'raw', 'bd-disk.qcow2': 'qcow2'})
    assert_adopted(declared, local_xml(name), local_config(name))
    for volume in ('bd-raw.img', 'bd-disk.qcow2'):
        virsh('vol-delete', volume, '--pool', name)


@pytest.mark.libvirt
def test_adopt_fs_pool_and_volumes(bd_pools, loopdev, tmp_path):
    name = bd_pools('fs')
    device = loopdev(128)
    # 4 KiB blocks: mkfs picks 1 KiB on a small device, and then a file cannot reach 40 GiB
    subprocess.run(['mkfs.ext4', '-q', '-F', '-b', '4096', device], check=True)
    target = str(tmp_path / 'bd-adopt-fs')
    local_pool(name, 'fs', '--source-dev', device, '--source-format', 'ext4', '--target', target)
    declared = {'name': name, 'type': 'fs', 'source_dev': [device], 'source_format': 'ext4', 'target': target,
                'state': 'active', 'autostart': True}
    assert_adopted(declared, local_xml(name), local_config(name))

    virsh('vol-create-as', name, 'bd-raw.img', '40G', '--format', 'raw', *SPARSE)
    virsh('vol-create-as', name, 'bd-disk.qcow2', '40G', '--format', 'qcow2')
    assert_volumes_adopted(name, {'bd-raw.img': 'raw', 'bd-disk.qcow2': 'qcow2'})
    for volume in ('bd-raw.img', 'bd-disk.qcow2'):
        virsh('vol-delete', volume, '--pool', name)


@pytest.mark.libvirt
@pytest.mark.parametrize('label', ['gpt', None])
def test_adopt_disk_pool(bd_pools, loopdev, label):
    """pool-build labels the blank disk (dos when no format is given: libvirt's 'unknown')."""
    name = bd_pools('disk-%s' % (label or 'unknown'))
    device = loopdev(64)
    fmt = ['--source-format', label] if label else []
    local_pool(name, 'disk', '--source-dev', device, '--target', '/dev', *fmt)
    declared = {'name': name, 'type': 'disk', 'source_dev': [device], 'target': '/dev', 'state': 'active',
                'autostart': True}
    if label:
        declared['source_format'] = label
    assert_adopted(declared, local_xml(name), local_config(name))
    # stopped, and the definition read again from libvirtd's configuration file as after a libvirtd
    # restart (a running pool's definition says dos; the file keeps what pool-define-as wrote):
    # started again on its label, nothing else
    virsh('pool-destroy', name)
    virsh('pool-define', '/etc/libvirt/storage/%s.xml' % name)
    if not label:
        assert "<format type='unknown'/>" in local_xml(name)()
    for check in (True, False):
        result = run_module('storage_pool', declared, check=check)
        assert result['failed'] is False, result.get('msg')
        assert result['actions'] == ['start']
    assert_adopted(declared, local_xml(name), local_config(name))


@pytest.mark.tgtd
def test_adopt_iscsi_direct_pool(bd_pools):
    name = bd_pools('iscsid')
    initiator = 'iqn.2026-11.io.kvmops:bd-adopt'
    local_pool(name, 'iscsi-direct', '--source-host', '127.0.0.1', '--source-dev', TGT_IQN,
               '--source-initiator', initiator, build=False)
    declared = {'name': name, 'type': 'iscsi-direct', 'source_host': ['127.0.0.1'], 'source_dev': [TGT_IQN],
                'source_initiator': initiator, 'state': 'active', 'autostart': True}
    assert_adopted(declared, local_xml(name), local_config(name))


@pytest.fixture
def ceph_secret(tmp_path):
    """A ceph secret made the virsh way (secret-define, secret-set-value): (usage id, uuid, testbed)."""
    ceph = read_testbed()
    usage_id = 'bd-adopt-%d client.%s secret' % (os.getpid(), ceph['CEPH_CLIENT'])
    xml = tmp_path / 'secret.xml'
    xml.write_text("<secret ephemeral='no' private='no'><usage type='ceph'><name>%s</name></usage></secret>"
                   % usage_id)
    out = virsh('secret-define', str(xml))
    uuid = out.split()[1]
    virsh('secret-set-value', uuid, '--file', ceph['CEPH_KEY_FILE'])
    yield usage_id, uuid, ceph
    virsh('secret-undefine', uuid, check=False)


@pytest.mark.ceph
def test_adopt_rbd_pool_and_volume(bd_pools, ceph_secret):
    usage_id, _uuid, ceph = ceph_secret
    name = bd_pools('rbd')
    monitor = ceph['CEPH_MON_HOST'].split(':')[0]
    local_pool(name, 'rbd', '--source-host', monitor, '--source-name', ceph['CEPH_POOL'], '--auth-type', 'ceph',
               '--auth-username', ceph['CEPH_CLIENT'], '--secret-usage', usage_id, build=False)
    declared = {'name': name, 'type': 'rbd', 'source_host': [monitor], 'source_name': ceph['CEPH_POOL'],
                'auth_type': 'ceph', 'auth_username': ceph['CEPH_CLIENT'], 'secret_usage': usage_id,
                'state': 'active', 'autostart': True}
    assert_adopted(declared, local_xml(name), local_config(name))

    image = 'bd-adopt-%d.img' % os.getpid()
    virsh('vol-create-as', name, image, '40G', '--format', 'raw')
    try:
        assert_volumes_adopted(name, {image: 'raw'})
        assert_volumes_adopted(name, {image: None})
    finally:
        virsh('vol-delete', image, '--pool', name, check=False)


# ---- lab VM pools --------------------------------------------------------------------------------

LAB_SH = os.path.join(REPO, 'tests', 'lab', 'lab.sh')
INVENTORY = os.path.join(REPO, '.build', 'lab', 'inventory.ini')
LAB = {'inventory': INVENTORY, 'host': 'lab'}


def lab(command, check=True, timeout=300):
    proc = subprocess.run(['bash', LAB_SH, 'ssh', command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError('in the lab VM: %s failed (exit %d): %s' % (command, proc.returncode, proc.stderr.strip()))
    return proc.stdout


def lab_virsh(*args, check=True):
    return lab('virsh -c qemu:///system ' + ' '.join(shlex.quote(str(a)) for a in args), check=check)


def forget_lab_pool(name):
    """Stop and undefine a pool in the VM (before its storage goes: a logical pool cannot stop without its VG)."""
    lab_virsh('pool-destroy', name, check=False)
    lab_virsh('pool-undefine', name, check=False)


def lab_pool(name, *define_args, **options):
    lab_virsh('pool-define-as', name, *define_args)
    if options.get('build', True):
        lab_virsh('pool-build', name)
    lab_virsh('pool-start', name)
    lab_virsh('pool-autostart', name)


@pytest.fixture
def lab_vm():
    running = subprocess.run(['bash', LAB_SH, 'status'], stdout=subprocess.PIPE, universal_newlines=True,
                             check=False).stdout
    if not running.startswith('lab: running') or not os.path.exists(INVENTORY):
        pytest.skip('the lab VM is not running (tests/lab/lab.sh start; scripts/test.sh starts it)')
    made = []
    yield made
    for name in made:
        forget_lab_pool(name)


def lab_adopted(name, declared):
    return assert_adopted(declared, lambda: lab_virsh('pool-dumpxml', '--inactive', name),
                          lambda: config_file(name, lab), target=LAB)


@pytest.fixture
def lab_loop():
    """A loop device in the VM over a sparse file under /var/tmp/bd-*; detached and removed afterwards."""
    made = []

    def make(size):
        image = '/var/tmp/bd-adopt-%d-%d.img' % (os.getpid(), len(made))
        device = lab('truncate -s %s %s && losetup -f --show %s' % (size, image, image)).strip()
        made.append((device, image))
        return device

    yield make
    for device, image in made:
        lab('losetup -d %s; rm -f %s' % (device, image), check=False)


@pytest.mark.lab
def test_adopt_logical_pool_and_volumes(lab_vm, lab_loop):
    name = 'bd-adopt-vg-%d' % os.getpid()
    lab_vm.append(name)
    device = lab_loop('48G')
    try:
        lab_pool(name, 'logical', '--source-dev', device, '--source-name', name, '--target', '/dev/' + name)
        declared = {'name': name, 'type': 'logical', 'source_dev': [device], 'source_name': name,
                    'target': '/dev/' + name, 'state': 'active', 'autostart': True}
        lab_adopted(name, declared)
        lab_virsh('vol-create-as', name, 'bd-lv', '40G', '--format', 'raw')
        assert_volumes_adopted(name, {'bd-lv': None}, target=LAB)
        lab_virsh('vol-delete', 'bd-lv', '--pool', name)
    finally:
        forget_lab_pool(name)
        lab('vgremove -f %s >/dev/null 2>&1; pvremove -ff -y %s >/dev/null 2>&1' % (name, device), check=False)


@pytest.mark.lab
def test_adopt_netfs_pool_and_volumes(lab_vm):
    name = 'bd-adopt-nfs-%d' % os.getpid()
    lab_vm.append(name)
    export, target = '/var/tmp/bd-adopt-export-%d' % os.getpid(), '/var/tmp/bd-adopt-mnt-%d' % os.getpid()
    exports = '/etc/exports.d/bd-adopt-%d.exports' % os.getpid()
    lab('mkdir -p %s /etc/exports.d && echo "%s 127.0.0.1(rw,sync,no_subtree_check,no_root_squash)" > %s && '
        'systemctl start nfs-server && exportfs -ra' % (export, export, exports))
    try:
        lab_pool(name, 'netfs', '--source-host', '127.0.0.1', '--source-path', export, '--source-format', 'nfs',
                 '--target', target)
        declared = {'name': name, 'type': 'netfs', 'source_host': ['127.0.0.1'], 'source_path': export,
                    'source_format': 'nfs', 'target': target, 'state': 'active', 'autostart': True}
        lab_adopted(name, declared)
        lab_virsh('vol-create-as', name, 'bd-raw.img', '40G', '--format', 'raw', *SPARSE)
        lab_virsh('vol-create-as', name, 'bd-disk.qcow2', '40G', '--format', 'qcow2')
        assert_volumes_adopted(name, {'bd-raw.img': 'raw', 'bd-disk.qcow2': 'qcow2'}, target=LAB)
        for volume in ('bd-raw.img', 'bd-disk.qcow2'):
            lab_virsh('vol-delete', volume, '--pool', name)
    finally:
        forget_lab_pool(name)
        lab('rm -f %s && exportfs -ra; rm -rf %s %s' % (exports, export, target), check=False)


@pytest.mark.lab
def test_adopt_scsi_pool(lab_vm):
    """virsh's --adapter-name writes the legacy <adapter name='hostN'/>, which libvirt completes with
    type='scsi_host': declared with source_adapter, the pool is left as it is."""
    name = 'bd-adopt-scsi-%d' % os.getpid()
    lab_vm.append(name)
    host, _unique_id = scsi_host_at(PCI_ADDRESS, lab)
    lab_pool(name, 'scsi', '--adapter-name', host, '--target', '/dev/disk/by-path', build=False)
    declared = {'name': name, 'type': 'scsi', 'source_adapter': {'type': 'scsi_host', 'name': host},
                'target': '/dev/disk/by-path', 'state': 'active', 'autostart': True}
    lab_adopted(name, declared)


@pytest.mark.lab
def test_adopt_kernel_iscsi_pool(lab_vm):
    name = 'bd-adopt-iscsi-%d' % os.getpid()
    lab_vm.append(name)
    iqn = 'iqn.2026-11.io.kvmops:bd-adopt-%d' % os.getpid()
    backstore, image = 'bd-adopt-lun-%d' % os.getpid(), '/var/tmp/bd-adopt-lun-%d.img' % os.getpid()
    tpg = '/iscsi/%s/tpg1' % iqn
    lab(' && '.join([
        'targetcli /backstores/fileio create name=%s file_or_dev=%s size=64M' % (backstore, image),
        'targetcli /iscsi create %s' % iqn,
        'targetcli %s/luns create /backstores/fileio/%s' % (tpg, backstore),
        'targetcli %s set attribute authentication=0 generate_node_acls=1 demo_mode_write_protect=0 '
        'cache_dynamic_acls=1' % tpg,
        '(targetcli %s/portals delete 0.0.0.0 3260 || true)' % tpg,
        '(targetcli %s/portals create 127.0.0.1 3260 || true)' % tpg,
    ]) + ' >/dev/null')
    try:
        lab_pool(name, 'iscsi', '--source-host', '127.0.0.1', '--source-dev', iqn, '--target', '/dev/disk/by-path',
                 build=False)
        declared = {'name': name, 'type': 'iscsi', 'source_host': ['127.0.0.1'], 'source_dev': [iqn],
                    'target': '/dev/disk/by-path', 'state': 'active', 'autostart': True}
        lab_adopted(name, declared)
    finally:
        forget_lab_pool(name)
        lab('iscsiadm -m node -T %s -u >/dev/null 2>&1; targetcli /iscsi delete %s >/dev/null; '
            'targetcli /backstores/fileio delete %s >/dev/null; rm -f %s' % (iqn, iqn, backstore, image), check=False)
