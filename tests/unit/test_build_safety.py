"""Build planning that must never run blind: disk labels libvirt calls 'unknown', overwrite where the
storage cannot be read, permissions of mounted targets, a running pool whose directory is gone."""

import libvirt
import pytest
from lxml import etree

from fake_libvirt import FakeConn, dir_pool_xml, libvirt_error, pool_params, refuse_host_probes
from ansible_collections.kvmops.storage.plugins.module_utils import engine
from ansible_collections.kvmops.storage.plugins.module_utils import pool as poolmod
from ansible_collections.kvmops.storage.plugins.module_utils.backends import base, disk, fs
from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import BUILT, FOREIGN, MISSING, ProbeResult
from ansible_collections.kvmops.storage.plugins.module_utils.backends.dir import DirBackend
from ansible_collections.kvmops.storage.plugins.module_utils.backends.disk import DiskBackend
from ansible_collections.kvmops.storage.plugins.module_utils.errors import OperationError, RefusedError
from ansible_collections.kvmops.storage.plugins.module_utils.pool import PoolManager

DISK_UNKNOWN_XML = """<pool type='disk'>
  <name>bd-disk</name>
  <uuid>11111111-2222-3333-4444-555555555555</uuid>
  <source>
    <device path='/dev/sdx'/>
    <format type='unknown'/>
  </source>
  <target>
    <path>/dev</path>
  </target>
</pool>
"""

FS_XML = """<pool type='fs'>
  <name>bd-fs</name>
  <uuid>11111111-2222-3333-4444-666666666666</uuid>
  <source>
    <device path='/dev/sdy'/>
    <format type='ext4'/>
  </source>
  <target>
    <path>/srv/bd-fs</path>
    <permissions>
      <mode>0755</mode>
      <owner>0</owner>
      <group>0</group>
    </permissions>
  </target>
</pool>
"""
FS_ARGS = dict(name='bd-fs', type='fs', source_dev=['/dev/sdy'], source_format='ext4', target='/srv/bd-fs')


@pytest.fixture(autouse=True)
def no_host_probes(monkeypatch):
    """Nothing here looks at the host: each test fakes what a probe would read."""
    refuse = refuse_host_probes(monkeypatch)
    monkeypatch.setattr(disk, 'blkid_value', refuse)
    monkeypatch.setattr(fs, 'blkid_value', refuse)
    monkeypatch.setattr(fs, 'permissions_differ', refuse)
    monkeypatch.setattr(fs, 'apply_permissions', refuse)


@pytest.fixture
def conn():
    return FakeConn()


def blkid_says(monkeypatch, module, answers):
    """blkid_value of ``module`` answers {field: value} (None: blkid missing)."""
    monkeypatch.setattr(module, 'blkid_value', lambda device, field: answers[field])


def plan_for(conn, is_local=True, **given):
    manager = PoolManager(conn, pool_params(**given), is_local)
    return manager.plan(manager.read())


def probe_says(monkeypatch, cls, state, what=None):
    monkeypatch.setattr(cls, 'probe', lambda self, definition: ProbeResult(state, what or 'the probe says %s' % state))


# ---- disk pools: libvirt's 'unknown' format ------------------------------------------------------

def test_disk_without_format_is_dos_as_libvirt_takes_it(monkeypatch):
    """libvirt starts and builds a disk pool of format 'unknown' as dos: a dos label is built."""
    blkid_says(monkeypatch, disk, {'PTTYPE': 'dos'})
    for text in (DISK_UNKNOWN_XML, DISK_UNKNOWN_XML.replace("<format type='unknown'/>", '')):
        result = DiskBackend({'name': 'bd-disk'}).probe(etree.fromstring(text))
        assert (result.state, result.what) == (BUILT, '/dev/sdx has a dos partition table')


def test_disk_without_format_on_gpt_names_the_format_to_set(monkeypatch):
    blkid_says(monkeypatch, disk, {'PTTYPE': 'gpt'})
    result = DiskBackend({'name': 'bd-disk'}).probe(etree.fromstring(DISK_UNKNOWN_XML))
    assert (result.state, result.what) == (FOREIGN, '/dev/sdx has a gpt partition table, and the definition names '
                                                    'no format, which libvirt takes as dos (set source_format=gpt to '
                                                    'use the disk as it is)')


def test_disk_with_a_format_still_tells_another_label(monkeypatch):
    blkid_says(monkeypatch, disk, {'PTTYPE': 'gpt'})
    text = DISK_UNKNOWN_XML.replace('unknown', 'dos')
    result = DiskBackend({'name': 'bd-disk'}).probe(etree.fromstring(text))
    assert (result.state, result.what) == (FOREIGN, '/dev/sdx has a gpt partition table, not dos')


def test_blank_disk_without_format_is_missing(monkeypatch):
    blkid_says(monkeypatch, disk, {'PTTYPE': '', 'TYPE': ''})
    result = DiskBackend({'name': 'bd-disk'}).probe(etree.fromstring(DISK_UNKNOWN_XML))
    assert result.state == MISSING


def test_adopted_disk_pool_with_unknown_format_starts(conn, monkeypatch):
    """virsh pool-define-as --type disk without --source-format on a dos disk, stopped: started, not refused."""
    conn.add_pool(DISK_UNKNOWN_XML)
    blkid_says(monkeypatch, disk, {'PTTYPE': 'dos'})
    plan = plan_for(conn, name='bd-disk', type='disk', source_dev=['/dev/sdx'])
    assert plan.actions == ['start']
    assert plan_for(conn, name='bd-disk', type='disk', source_dev=['/dev/sdx'], build='overwrite').actions == ['start']


def test_adopted_gpt_disk_pool_with_unknown_format_declared_gpt(conn, monkeypatch):
    conn.add_pool(DISK_UNKNOWN_XML)
    blkid_says(monkeypatch, disk, {'PTTYPE': 'gpt'})
    plan = plan_for(conn, name='bd-disk', type='disk', source_dev=['/dev/sdx'], source_format='gpt')
    assert plan.actions == ['redefine', 'start']
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='bd-disk', type='disk', source_dev=['/dev/sdx'])
    assert '(set source_format=gpt to use the disk as it is)' in info.value.msg


def test_foreign_disk_refusal_says_what_overwrite_destroys(conn, monkeypatch):
    blkid_says(monkeypatch, disk, {'PTTYPE': 'gpt'})
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='bd-disk', type='disk', source_dev=['/dev/sdx'], source_format='dos')
    assert info.value.msg == (
        'pool bd-disk was not built: /dev/sdx has a gpt partition table, not dos. Nothing was changed; correct the '
        'definition; only if that data may go, set build=overwrite, with which libvirt writes a new partition table '
        'on the disk: every partition on it and their data are lost')
    assert conn.mutations() == []


def test_foreign_fs_refusal_names_mkfs(conn, monkeypatch):
    blkid_says(monkeypatch, fs, {'TYPE': 'xfs'})
    with pytest.raises(RefusedError) as info:
        plan_for(conn, **FS_ARGS)
    assert info.value.msg.endswith('set build=overwrite, with which libvirt runs mkfs on the device: the file '
                                   'system on it and every file in it are lost')
    assert '/dev/sdy holds xfs, not ext4' in info.value.msg


# ---- overwrite where the storage cannot be read --------------------------------------------------

def test_overwrite_refused_remotely(conn):
    with pytest.raises(RefusedError) as info:
        plan_for(conn, is_local=False, build='overwrite', uri='qemu+ssh://root@hv1/system', **FS_ARGS)
    assert info.value.msg == (
        'pool bd-fs: build=overwrite refused: what /dev/sdy holds cannot be read (uri qemu+ssh://root@hv1/system '
        'reaches another host, and the module cannot look at its devices from here), and with overwrite libvirt '
        'runs mkfs on the device: the file system on it and every file in it are lost. Nothing was changed. To go '
        'on, run the module on the hypervisor (uri qemu:///system there), or use build=if_missing or '
        'build=no_overwrite, with which libvirt itself refuses storage that is already built')
    assert conn.mutations() == []


@pytest.mark.parametrize('mode, flags', [('if_missing', libvirt.VIR_STORAGE_POOL_BUILD_NO_OVERWRITE),
                                         ('no_overwrite', libvirt.VIR_STORAGE_POOL_BUILD_NO_OVERWRITE)])
def test_remote_build_without_overwrite_lets_libvirt_check(conn, mode, flags):
    plan = plan_for(conn, is_local=False, build=mode, **FS_ARGS)
    assert plan.actions == ['define', 'build', 'start']
    engine.apply(plan, False)
    assert conn.calls_of('build') == [('bd-fs', flags)]


def test_overwrite_refused_when_blkid_is_missing(conn, monkeypatch):
    blkid_says(monkeypatch, disk, {'PTTYPE': None})
    monkeypatch.setattr(poolmod.shutil, 'which', lambda name: None)
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='bd-disk', type='disk', source_dev=['/dev/sdx'], build='overwrite')
    assert ('what /dev/sdx holds cannot be read (blkid is not found on the host running the module), and with '
            'overwrite libvirt writes a new partition table') in info.value.msg
    assert 'To go on, install blkid, or use build=if_missing or build=no_overwrite' in info.value.msg
    assert conn.mutations() == []


def test_overwrite_refused_when_the_logical_tools_are_missing(conn, monkeypatch):
    monkeypatch.setattr(base, 'run_probe', lambda argv: (None, ''))
    from ansible_collections.kvmops.storage.plugins.module_utils.backends import logical
    monkeypatch.setattr(logical, 'run_probe', lambda argv: (None, ''))
    monkeypatch.setattr(logical, 'blkid_value', lambda device, field: None)
    monkeypatch.setattr(poolmod.shutil, 'which', lambda name: None)
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='bd-vg', type='logical', source_dev=['/dev/vdb'], build='overwrite')
    assert '(vgs and pvs and blkid are not found on the host running the module)' in info.value.msg
    assert 'the volume group and every logical volume they held are lost' in info.value.msg


def test_overwrite_of_a_directory_is_not_refused_remotely(conn):
    """A dir build destroys nothing, so nothing needs reading first."""
    assert plan_for(conn, is_local=False, build='overwrite', name='bd-d', type='dir',
                    target='/srv/bd-d').actions == ['define', 'build', 'start']


# ---- a running dir pool whose directory is gone --------------------------------------------------

DIR_ARGS = dict(name='images', type='dir', target='/var/lib/libvirt/images')


def test_running_dir_pool_without_directory_is_rebuilt(conn, monkeypatch):
    conn.add_pool(dir_pool_xml(), active=True)
    probe_says(monkeypatch, DirBackend, MISSING)
    plan = plan_for(conn, **DIR_ARGS)
    assert plan.actions == ['stop', 'build', 'start']
    assert conn.mutations() == []
    engine.apply(plan, False)
    assert conn.mutations() == ['destroy', 'build', 'create']
    assert conn.calls_of('build') == [('images', 0)]


def test_running_dir_pool_without_directory_and_a_change_restarts_with_build(conn, monkeypatch):
    conn.add_pool(dir_pool_xml(mode='0755'), active=True)
    probe_says(monkeypatch, DirBackend, MISSING)
    assert plan_for(conn, target_mode='0711', **DIR_ARGS).actions == ['redefine', 'restart_with_build']


def test_running_dir_pool_without_directory_build_never_refused(conn, monkeypatch):
    conn.add_pool(dir_pool_xml(), active=True)
    probe_says(monkeypatch, DirBackend, MISSING, 'directory /var/lib/libvirt/images does not exist')
    with pytest.raises(RefusedError) as info:
        plan_for(conn, build='never', **DIR_ARGS)
    assert info.value.msg == ('pool images is running but directory /var/lib/libvirt/images does not exist, and '
                              'build=never leaves it so; set build=if_missing to let the module stop the pool, '
                              'build it and start it again')


def test_running_dir_pool_without_directory_state_present_warns(conn, monkeypatch):
    conn.add_pool(dir_pool_xml(), active=True)
    probe_says(monkeypatch, DirBackend, MISSING, 'directory /var/lib/libvirt/images does not exist')
    plan = plan_for(conn, state='present', **DIR_ARGS)
    assert plan.actions == []
    assert plan.warnings == ['pool images is running but directory /var/lib/libvirt/images does not exist: creating '
                             'volumes in it fails until it is back (state=active stops the pool, builds it and '
                             'starts it again)']


def test_running_dir_pool_with_directory_is_left_alone(conn, monkeypatch):
    conn.add_pool(dir_pool_xml(), active=True)
    probe_says(monkeypatch, DirBackend, BUILT)
    assert plan_for(conn, **DIR_ARGS).actions == []


# ---- permissions of a mounted target -------------------------------------------------------------

def test_fs_mode_change_on_running_pool_sets_the_mounted_directory(conn, monkeypatch):
    conn.add_pool(FS_XML, active=True)
    seen = []
    monkeypatch.setattr(fs, 'permissions_differ', lambda definition: True)
    monkeypatch.setattr(fs, 'apply_permissions', lambda definition: seen.append(
        definition.findtext('target/permissions/mode')))
    plan = plan_for(conn, target_mode='0711', **FS_ARGS)
    assert plan.actions == ['redefine', 'set_permissions']
    assert seen == [] and conn.mutations() == []
    engine.apply(plan, False)
    assert seen == ['0711']
    assert conn.mutations() == ['define', 'refresh']


def test_fs_mode_already_on_the_mounted_directory(conn, monkeypatch):
    conn.add_pool(FS_XML.replace('0755', '0711'), active=True)
    monkeypatch.setattr(fs, 'permissions_differ', lambda definition: False)
    assert plan_for(conn, target_mode='0711', **FS_ARGS).actions == []


def test_fs_mode_given_to_a_pool_that_starts(conn, monkeypatch):
    conn.add_pool(FS_XML)
    blkid_says(monkeypatch, fs, {'TYPE': 'ext4'})
    assert plan_for(conn, target_mode='0711', **FS_ARGS).actions == ['redefine', 'start', 'set_permissions']
    assert plan_for(conn, target_mode='0755', **FS_ARGS).actions == ['start', 'set_permissions']
    assert plan_for(conn, **FS_ARGS).actions == ['start']


def test_fs_mode_differing_remotely_is_refused(conn):
    conn.add_pool(FS_XML, active=True)
    with pytest.raises(RefusedError) as info:
        plan_for(conn, is_local=False, target_mode='0711', **FS_ARGS)
    assert 'The module sets them only when it runs on the hypervisor' in info.value.msg
    assert conn.mutations() == []


def test_fs_permissions_failure_is_an_operation_error(conn, monkeypatch):
    conn.add_pool(FS_XML, active=True)
    monkeypatch.setattr(fs, 'permissions_differ', lambda definition: True)

    def denied(definition):
        raise OSError(1, 'Operation not permitted')
    monkeypatch.setattr(fs, 'apply_permissions', denied)
    plan = plan_for(conn, target_mode='0711', **FS_ARGS)
    with pytest.raises(OperationError) as info:
        engine.apply(plan, False)
    assert 'setting the permissions of /srv/bd-fs (pool bd-fs) failed' in info.value.msg
    assert 'rolled back: redefine' in info.value.msg


def test_apply_and_compare_permissions_on_a_directory(tmp_path, monkeypatch):
    monkeypatch.undo()
    path = tmp_path / 'mnt'
    path.mkdir(mode=0o755)
    definition = etree.fromstring(
        '<pool type="fs"><target><path>%s</path><permissions><mode>0710</mode></permissions></target></pool>' % path)
    assert fs.permissions_differ(definition) is True
    fs.apply_permissions(definition)
    assert path.stat().st_mode & 0o777 == 0o710
    assert fs.permissions_differ(definition) is False
    gone = etree.fromstring('<pool type="fs"><target><path>%s/none</path></target></pool>' % tmp_path)
    assert fs.permissions_differ(gone) is None


def test_unprobed_build_that_libvirt_finds_built_goes_on(conn):
    """Remote, if_missing: libvirt's no-overwrite check finds the file system there; the pool starts on it."""
    conn.fail_on['build'] = libvirt_error('Storage pool already built', libvirt.VIR_ERR_STORAGE_POOL_BUILT)
    plan = plan_for(conn, is_local=False, **FS_ARGS)
    engine.apply(plan, False)
    assert conn.mutations() == ['define', 'build', 'create']


def test_probed_build_that_libvirt_refuses_fails(conn, monkeypatch):
    blkid_says(monkeypatch, fs, {'TYPE': ''})
    conn.fail_on['build'] = libvirt_error('Storage pool already built', libvirt.VIR_ERR_STORAGE_POOL_BUILT)
    plan = plan_for(conn, **FS_ARGS)
    with pytest.raises(OperationError) as info:
        engine.apply(plan, False)
    assert 'rolled back: define' in info.value.msg


def test_kernel_iscsi_host_without_port_is_the_default_port(conn):
    """libvirt writes port='3260' into a kernel iscsi pool when it starts it (virsh pool-define-as gives none)."""
    live = ("<pool type='iscsi'><name>bd-i</name><source><host name='127.0.0.1' port='3260'/>"
            "<device path='iqn.2026-11.io.kvmops:t'/></source><target><path>/dev/disk/by-path</path></target></pool>")
    conn.add_pool(live, active=True)
    plan = plan_for(conn, is_local=False, name='bd-i', type='iscsi', source_host=['127.0.0.1'],
                    source_dev=['iqn.2026-11.io.kvmops:t'], target='/dev/disk/by-path')
    assert (plan.changed, plan.actions) == (False, [])
    plan = plan_for(conn, is_local=False, name='bd-i', type='iscsi', source_host=['127.0.0.1:3261'],
                    source_dev=['iqn.2026-11.io.kvmops:t'])
    assert plan.actions == ['redefine', 'restart']


def test_running_dir_pool_moved_to_a_new_target_is_probed_where_it_runs(conn, monkeypatch):
    conn.add_pool(dir_pool_xml(), active=True)
    monkeypatch.setattr(DirBackend, 'probe', lambda self, definition: ProbeResult(
        MISSING if definition.findtext('target/path') == '/srv/moved' else BUILT, ''))
    plan = plan_for(conn, name='images', target='/srv/moved', on_change='redefine_only')
    assert plan.actions == ['redefine']
