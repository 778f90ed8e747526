"""PoolManager.plan with a fake libvirt connection, then engine.apply on the fake."""

import libvirt
import pytest
from lxml import etree

from fake_libvirt import FakeConn, dir_pool_xml, libvirt_error, pool_params, rbd_pool_xml, refuse_host_probes
from ansible_collections.kvmops.storage.plugins.module_utils import engine
from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import BUILT, FOREIGN, MISSING, ProbeResult
from ansible_collections.kvmops.storage.plugins.module_utils.backends.dir import DirBackend
from ansible_collections.kvmops.storage.plugins.module_utils.backends.fs import FsBackend
from ansible_collections.kvmops.storage.plugins.module_utils.errors import (
    OperationError,
    RefusedError,
    UnsupportedError,
    ValidationError,
)
from ansible_collections.kvmops.storage.plugins.module_utils.pool import COMPUTED_PATHS, PoolManager

GiB = 1024 ** 3
TARGET = '/var/lib/libvirt/images'
DIR_ARGS = dict(name='images', type='dir', target=TARGET)
NEW_DIR_XML = '<pool type="dir"><name>images</name><target><path>%s</path></target></pool>' % TARGET
CEPH_UUID = '2ec115d7-3a88-3ceb-bc12-0ac909a6fd87'


@pytest.fixture(autouse=True)
def no_host_probes(monkeypatch):
    """Unit tests never look at the host: a probe that is not faked fails the test."""
    refuse_host_probes(monkeypatch)


@pytest.fixture
def conn():
    return FakeConn()


def probe_says(monkeypatch, cls, state):
    seen = []

    def probe(self, definition):
        seen.append(xmlu.to_string(definition, pretty=False))
        return ProbeResult(state, 'the probe says %s' % state)
    monkeypatch.setattr(cls, 'probe', probe)
    return seen


def make(conn, is_local=False, check_mode=False, **given):
    manager = PoolManager(conn, pool_params(**given), is_local)
    manager.check_mode = check_mode  # as engine.reconcile sets it
    live = manager.read()
    return manager, live


def plan_for(conn, is_local=False, check_mode=False, **given):
    manager, live = make(conn, is_local, check_mode, **given)
    return manager.plan(live)


def canon(text_or_el):
    el = xmlu.parse(text_or_el) if isinstance(text_or_el, (str, bytes)) else text_or_el
    return xmlu.canonical(el)


def defined_xml(conn, index=-1):
    defines = [args[0] for method, args in conn.calls if method == 'storagePoolDefineXML']
    return defines[index]


# ---- reading -------------------------------------------------------------------------------------

def test_missing_pool_reads_as_none(conn):
    manager, live = make(conn, **DIR_ARGS)
    assert live is None
    assert conn.calls == [('storagePoolLookupByName', ('images',))]


def test_lookup_error_other_than_no_pool_is_an_operation_error(conn):
    def broken(name):
        raise libvirt_error('internal error', libvirt.VIR_ERR_INTERNAL_ERROR)
    conn.storagePoolLookupByName = broken
    with pytest.raises(OperationError) as info:
        make(conn, **DIR_ARGS)
    assert 'images' in info.value.msg


def test_live_definition_is_the_inactive_xml(conn):
    conn.add_pool(dir_pool_xml(), active=True, autostart=True)
    _manager, live = make(conn, **DIR_ARGS)
    assert ('pool.XMLDesc', ('images', libvirt.VIR_STORAGE_XML_INACTIVE)) in conn.calls
    assert live.type == 'dir' and live.active and live.persistent and live.autostart


def test_bad_name_refused_before_anything(conn):
    with pytest.raises(ValidationError) as info:
        PoolManager(conn, pool_params(name='a/b', type='dir', target=TARGET))
    assert info.value.option == 'name'
    assert conn.calls == []


def test_bad_min_available(conn):
    with pytest.raises(ValidationError) as info:
        PoolManager(conn, pool_params(name='images', min_available='lots'))
    assert info.value.option == 'min_available'


# ---- new pools -----------------------------------------------------------------------------------

def test_missing_dir_pool_active_remote(conn):
    plan = plan_for(conn, **DIR_ARGS)
    assert plan.actions == ['define', 'build', 'start']
    assert plan.changed
    assert plan.diff['before'] == ''
    assert '<path>%s</path>' % TARGET in plan.diff['after']
    assert conn.mutations() == []


def test_missing_dir_pool_active_remote_build_never(conn):
    assert plan_for(conn, build='never', **DIR_ARGS).actions == ['define', 'start']


@pytest.mark.parametrize('state', ['present', 'inactive'])
def test_missing_pool_defined_only(conn, state):
    plan = plan_for(conn, state=state, **DIR_ARGS)
    assert plan.actions == ['define']


def test_missing_pool_with_autostart(conn):
    assert plan_for(conn, autostart=True, **DIR_ARGS).actions == ['define', 'build', 'start', 'autostart']
    assert plan_for(conn, autostart=True, state='present', **DIR_ARGS).actions == ['define', 'autostart']


def test_missing_pool_needs_type(conn):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='images', target=TARGET)
    assert info.value.option == 'type'
    assert 'dir' in info.value.msg and 'vstorage' in info.value.msg


def test_missing_pool_needs_required_options(conn):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='images', type='dir')
    assert info.value.option == 'target'


def test_missing_pool_local_probe_missing(conn, monkeypatch):
    seen = probe_says(monkeypatch, DirBackend, MISSING)
    plan = plan_for(conn, is_local=True, **DIR_ARGS)
    assert plan.actions == ['define', 'build', 'start']
    assert seen and canon(seen[0]) == canon(NEW_DIR_XML)
    build = plan.steps[1]
    assert build.undo is not None  # what this task builds it may delete again


def test_missing_pool_local_probe_built(conn, monkeypatch):
    probe_says(monkeypatch, DirBackend, BUILT)
    assert plan_for(conn, is_local=True, **DIR_ARGS).actions == ['define', 'start']


def test_missing_pool_local_probe_foreign_refused(conn, monkeypatch):
    probe_says(monkeypatch, DirBackend, FOREIGN)
    with pytest.raises(RefusedError) as info:
        plan_for(conn, is_local=True, **DIR_ARGS)
    assert 'build=overwrite' in info.value.msg
    assert 'the probe says foreign' in info.value.msg
    assert conn.mutations() == []


def test_foreign_storage_overwritten_when_asked(conn, monkeypatch):
    probe_says(monkeypatch, DirBackend, FOREIGN)
    plan = plan_for(conn, is_local=True, build='overwrite', **DIR_ARGS)
    assert plan.actions == ['define', 'build', 'start']
    assert plan.steps[1].undo is None  # never delete what was there before
    engine.apply(plan, False)
    assert conn.calls_of('build') == [('images', libvirt.VIR_STORAGE_POOL_BUILD_OVERWRITE)]


def test_fs_pool_built_with_no_overwrite(conn, monkeypatch):
    probe_says(monkeypatch, FsBackend, MISSING)
    plan = plan_for(conn, is_local=True, name='data', type='fs', source_dev=['/dev/sdb1'], target='/srv/data')
    assert plan.actions == ['define', 'build', 'start']
    engine.apply(plan, False)
    assert conn.calls_of('build') == [('data', libvirt.VIR_STORAGE_POOL_BUILD_NO_OVERWRITE)]


def test_types_without_build_are_never_built(conn):
    plan = plan_for(conn, name='ceph', type='rbd', source_name='vms', source_host=['mon1'])
    assert plan.actions == ['define', 'start']


def test_transient_pool_gets_defined(conn):
    conn.add_pool(dir_pool_xml(), active=True, persistent=False)
    plan = plan_for(conn, **DIR_ARGS)
    assert plan.actions == ['define']
    assert plan.steps[0].undo is None  # the pool existed before the task


# ---- existing pools -----------------------------------------------------------------------------

def test_same_definition_no_change(conn):
    conn.add_pool(dir_pool_xml(), active=True)
    for extra in ({}, {'target_mode': '0755'}, {'target_mode': '755', 'target_owner': 0, 'target_group': 'root'},
                  {'target': TARGET + '/'}):
        plan = plan_for(conn, **dict(DIR_ARGS, **extra))
        assert plan.actions == [], extra
        assert plan.changed is False
        assert plan.diff['before'] == plan.diff['after']
    assert conn.mutations() == []


def test_computed_fields_never_make_a_change(conn):
    # libvirt computes uuid, capacity, allocation, available; the task never gives them
    conn.add_pool(dir_pool_xml(capacity=1, allocation=2, available=3), active=True)
    plan = plan_for(conn, **DIR_ARGS)
    assert plan.actions == []
    for path in COMPUTED_PATHS:
        assert '<%s' % path not in plan.diff['before']
        assert '<%s' % path not in plan.diff['after']


def test_computed_fields_in_xml_option_never_make_a_change(conn):
    conn.add_pool(dir_pool_xml(), active=True)
    text = dir_pool_xml(uuid='00000000-0000-0000-0000-000000000000', capacity=5, allocation=5, available=0)
    assert plan_for(conn, name='images', xml=text).actions == []


def test_libvirt_formatting_of_live_xml_is_no_change(conn):
    live = """<pool type="dir"><name>images</name><target><permissions><group>0</group>
    <owner>0</owner><mode>0755</mode></permissions><path>%s</path></target><source/>
    <uuid>x</uuid></pool>""" % TARGET
    conn.add_pool(live, active=True)
    assert plan_for(conn, target_mode='0755', **DIR_ARGS).actions == []


def test_inactive_pool_started(conn):
    conn.add_pool(dir_pool_xml())
    plan = plan_for(conn, **DIR_ARGS)
    assert plan.actions == ['start']   # remote: nothing probed, an existing pool is not built


def test_inactive_pool_local_probe_missing_builds(conn, monkeypatch):
    conn.add_pool(dir_pool_xml())
    probe_says(monkeypatch, DirBackend, MISSING)
    plan = plan_for(conn, is_local=True, **DIR_ARGS)
    assert plan.actions == ['build', 'start']
    assert plan.steps[0].undo is None  # the pool existed: its storage is never deleted


@pytest.mark.parametrize('state, active', [('present', True), ('present', False), ('inactive', False)])
def test_runtime_state_left_alone(conn, state, active):
    conn.add_pool(dir_pool_xml(), active=active)
    assert plan_for(conn, state=state, **DIR_ARGS).actions == []


def test_changed_mode_on_running_pool_redefines_and_restarts(conn):
    conn.add_pool(dir_pool_xml(mode='0755'), active=True)
    plan = plan_for(conn, target_mode='0711', **DIR_ARGS)
    assert plan.actions == ['redefine', 'restart']
    assert '<mode>0755</mode>' in plan.diff['before']
    assert '<mode>0711</mode>' in plan.diff['after']
    assert conn.mutations() == []


def test_changed_mode_on_running_built_pool_restarts_with_build(conn, monkeypatch):
    conn.add_pool(dir_pool_xml(mode='0755'), active=True)
    probe_says(monkeypatch, DirBackend, BUILT)
    plan = plan_for(conn, is_local=True, target_mode='0711', **DIR_ARGS)
    assert plan.actions == ['redefine', 'restart_with_build']


def test_changed_mode_on_inactive_built_pool(conn, monkeypatch):
    conn.add_pool(dir_pool_xml(mode='0755'))
    probe_says(monkeypatch, DirBackend, BUILT)
    assert plan_for(conn, is_local=True, target_mode='0711', **DIR_ARGS).actions == ['redefine', 'build', 'start']
    assert plan_for(conn, is_local=True, target_mode='0711', state='present', **DIR_ARGS).actions == ['redefine', 'build']


def test_changed_target_on_inactive_pool_remote(conn):
    conn.add_pool(dir_pool_xml())
    assert plan_for(conn, state='present', name='images', target='/srv/other').actions == ['redefine']


def test_on_change_fail_refuses_and_lists_paths(conn):
    conn.add_pool(dir_pool_xml(mode='0755'), active=True)
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='images', type='dir', target='/srv/new', target_mode='0711', on_change='fail')
    assert info.value.details['changed_paths'] == ['target/path', 'target/permissions/mode']
    assert 'target/path' in info.value.msg and 'target/permissions/mode' in info.value.msg
    assert 'on_change=fail' in info.value.msg
    assert conn.mutations() == []


def test_on_change_fail_on_stopped_pool_redefines(conn):
    conn.add_pool(dir_pool_xml(mode='0755'))
    assert plan_for(conn, target_mode='0711', on_change='fail', state='present', **DIR_ARGS).actions == ['redefine']


def test_on_change_redefine_only_warns(conn):
    conn.add_pool(dir_pool_xml(mode='0755'), active=True)
    plan = plan_for(conn, target_mode='0711', on_change='redefine_only', **DIR_ARGS)
    assert plan.actions == ['redefine']
    assert len(plan.warnings) == 1
    assert 'restarted' in plan.warnings[0]
    assert 'target/permissions/mode' in plan.warnings[0]


def test_state_inactive_with_change_stops_without_restart(conn):
    conn.add_pool(dir_pool_xml(mode='0755'), active=True)
    assert plan_for(conn, target_mode='0711', state='inactive', **DIR_ARGS).actions == ['redefine', 'stop']


def test_state_inactive_on_running_pool_only_stops(conn):
    conn.add_pool(dir_pool_xml(), active=True)
    plan = plan_for(conn, name='images', state='inactive')
    assert plan.actions == ['stop']
    assert plan.diff['before'] == plan.diff['after']


def test_name_and_state_inactive_never_redefine(conn):
    # even a live definition libvirt would print differently stays as it is
    conn.add_pool(dir_pool_xml(), active=True)
    plan = plan_for(conn, name='images', state='inactive')
    engine.apply(plan, False)
    assert conn.mutations() == ['destroy']
    assert plan_for(conn, name='images', state='inactive').actions == []


def test_name_only_on_running_pool_is_no_change(conn):
    conn.add_pool(dir_pool_xml(), active=True)
    assert plan_for(conn, name='images').actions == []


def test_type_change_refused(conn):
    conn.add_pool(dir_pool_xml(), active=True)
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='images', type='fs', source_dev=['/dev/sdb1'])
    assert 'dir' in info.value.msg and 'fs' in info.value.msg
    assert 'state=absent' in info.value.msg
    assert conn.mutations() == []


def test_option_not_applicable_to_live_type(conn):
    conn.add_pool(dir_pool_xml(), active=True)
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='images', source_dev=['/dev/sdb'])
    assert info.value.option == 'source_dev'


def test_autostart_change(conn):
    conn.add_pool(dir_pool_xml(), active=True, autostart=False)
    plan = plan_for(conn, autostart=True, **DIR_ARGS)
    assert plan.actions == ['autostart']
    assert plan.steps[0].undo is not None
    conn.pools['images'].auto = True
    assert plan_for(conn, autostart=True, **DIR_ARGS).actions == []
    assert plan_for(conn, autostart=False, **DIR_ARGS).actions == ['no_autostart']
    assert plan_for(conn, **DIR_ARGS).actions == []  # not given: left alone


def test_refresh_listed_but_not_a_change(conn):
    conn.add_pool(dir_pool_xml(), active=True)
    plan = plan_for(conn, refresh=True, **DIR_ARGS)
    assert plan.actions == ['refresh']
    assert plan.changed is False


def test_refresh_only_on_a_pool_that_runs(conn):
    conn.add_pool(dir_pool_xml())
    assert plan_for(conn, refresh=True, state='present', **DIR_ARGS).actions == []
    assert plan_for(conn, refresh=True, state='inactive', **DIR_ARGS).actions == []
    assert plan_for(conn, refresh=True, **DIR_ARGS).actions == ['start']  # a start scans the volumes anyway


def test_refresh_not_added_to_a_restart(conn):
    conn.add_pool(dir_pool_xml(mode='0755'), active=True)
    plan = plan_for(conn, refresh=True, target_mode='0711', **DIR_ARGS)
    assert plan.actions == ['redefine', 'restart']


def test_min_available(conn):
    conn.add_pool(dir_pool_xml(), active=True)   # the fake reports 80 GiB available
    assert plan_for(conn, min_available='10GiB', **DIR_ARGS).actions == []
    with pytest.raises(RefusedError) as info:
        plan_for(conn, min_available='100GiB', **DIR_ARGS)
    assert '80 GiB' in info.value.msg and '100 GiB' in info.value.msg
    assert info.value.details['available'] == 80 * GiB


# ---- the xml option --------------------------------------------------------------------------------

def test_xml_option_new_pool(conn):
    plan = plan_for(conn, name='images', xml=NEW_DIR_XML)
    assert plan.actions == ['define', 'build', 'start']
    engine.apply(plan, False)
    assert canon(defined_xml(conn)) == canon(NEW_DIR_XML)


def test_xml_option_changes_running_pool(conn):
    conn.add_pool(dir_pool_xml(mode='0755'), active=True)
    text = dir_pool_xml(mode='0700')
    assert plan_for(conn, name='images', xml=text).actions == ['redefine', 'restart']


def test_xml_option_name_must_match(conn):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='images', xml=NEW_DIR_XML.replace('>images<', '>other<'))
    assert info.value.option == 'xml'
    assert "'other'" in info.value.msg and "'images'" in info.value.msg


def test_xml_option_without_name(conn):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='images', xml='<pool type="dir"><target><path>/x</path></target></pool>')
    assert info.value.option == 'xml'


@pytest.mark.parametrize('text', ['type: dir', '<pool type="dir"><name>images</name>', '<pool type="dir"><name>a</pool>'])
def test_xml_option_not_xml(conn, text):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='images', xml=text)
    assert info.value.option == 'xml'
    assert 'not well-formed' in info.value.msg


def test_xml_option_root_must_be_pool(conn):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='images', xml='<volume><name>images</name></volume>')
    assert info.value.option == 'xml'
    assert '<pool>' in info.value.msg and 'volume' in info.value.msg


def test_xml_option_removed_type(conn):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='images', xml=NEW_DIR_XML.replace('"dir"', '"sheepdog"'))
    assert info.value.option == 'xml'
    assert '8.8' in info.value.msg


def test_xml_option_type_change_refused(conn):
    conn.add_pool(dir_pool_xml(), active=True)
    with pytest.raises(RefusedError):
        plan_for(conn, name='images', xml=NEW_DIR_XML.replace('"dir"', '"netfs"'))


def test_bad_xml_reported_when_removing(conn):
    conn.add_pool(dir_pool_xml(), active=True)
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='images', state='absent', xml='<pool')
    assert info.value.option == 'xml'
    assert conn.mutations() == []


# ---- secrets ---------------------------------------------------------------------------------------

ISCSI_CHAP = dict(name='san1', type='iscsi', source_host=['san1.example.com:3260'],
                  source_dev=['iqn.2026-11.com.example:storage.lun1'], auth_type='chap', auth_username='hv1')


def test_missing_secret_by_usage(conn):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, secret_usage='san1-chap', **ISCSI_CHAP)
    assert info.value.option == 'secret_usage'
    assert 'san1-chap' in info.value.msg
    assert 'iscsi' in info.value.msg
    assert conn.calls_of('secretLookupByUsage') == [(libvirt.VIR_SECRET_USAGE_TYPE_ISCSI, 'san1-chap')]
    assert conn.mutations() == []


def test_missing_secret_by_uuid(conn):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='ceph', type='rbd', source_name='vms', source_host=['mon1'], auth_type='ceph',
                 auth_username='libvirt', secret_uuid=CEPH_UUID)
    assert info.value.option == 'secret_uuid'
    assert CEPH_UUID in info.value.msg


def test_missing_ceph_secret_by_usage(conn):
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='ceph', type='rbd', source_name='vms', source_host=['mon1'], auth_type='ceph',
                 auth_username='libvirt', secret_usage='client.libvirt secret')
    assert info.value.option == 'secret_usage'
    assert 'ceph' in info.value.msg


RBD_CEPH = dict(name='ceph', type='rbd', source_name='vms', source_host=['mon1'], auth_type='ceph',
                auth_username='libvirt')


@pytest.mark.parametrize('given, message', [
    (dict(ISCSI_CHAP, secret_usage='san1-chap'),
     "secret_usage 'san1-chap': no libvirt secret of usage iscsi with that usage id exists; define it first "
     "(kvmops.storage.storage_secret usage=iscsi usage_id=san1-chap)"),
    (dict(RBD_CEPH, secret_uuid=CEPH_UUID),
     "secret_uuid '%s': no libvirt secret with that uuid exists; define it first (kvmops.storage.storage_secret)"
     % CEPH_UUID),
    (dict(RBD_CEPH, secret_usage='client.libvirt secret'),
     "secret_usage 'client.libvirt secret': no libvirt secret of usage ceph with that usage id exists; define it "
     "first (kvmops.storage.storage_secret usage=ceph usage_id=client.libvirt secret)"),
])
def test_missing_secret_is_assumed_in_check_mode(conn, given, message):
    """An earlier task of the check run would define the secret: plan the pool, with a warning."""
    with pytest.raises(ValidationError) as info:
        plan_for(conn, **given)
    assert info.value.msg == message
    plan = plan_for(conn, check_mode=True, **given)
    assert plan.actions == ['define', 'start']
    assert plan.warnings == [message + '; check mode assumes that an earlier task of this run defines it']
    assert conn.mutations() == []


def test_secret_of_another_usage_is_refused_in_check_mode_too(conn):
    conn.add_secret('ceph', 'san1-chap')
    with pytest.raises(ValidationError) as info:
        plan_for(conn, check_mode=True, secret_usage='san1-chap', **ISCSI_CHAP)
    assert 'but usage ceph' in info.value.msg


def test_existing_chap_secret(conn):
    conn.add_secret('iscsi', 'san1-chap')
    assert plan_for(conn, secret_usage='san1-chap', **ISCSI_CHAP).actions == ['define', 'start']


def test_existing_secret_by_uuid(conn):
    conn.add_secret('ceph', 'client.libvirt secret', uuid=CEPH_UUID)
    plan = plan_for(conn, name='ceph', type='rbd', source_name='vms', source_host=['mon1:6789'], auth_type='ceph',
                    auth_username='libvirt', secret_uuid=CEPH_UUID)
    assert plan.actions == ['define', 'start']


def test_existing_ceph_secret_by_usage(conn):
    conn.add_secret('ceph', 'client.libvirt secret')
    plan = plan_for(conn, name='ceph', type='rbd', source_name='vms', source_host=['mon1'], auth_type='ceph',
                    auth_username='libvirt', secret_usage='client.libvirt secret')
    assert plan.actions == ['define', 'start']


def test_secret_by_uuid_of_another_usage_is_refused(conn):
    conn.add_secret('volume', '/var/lib/libvirt/images/luks.img', uuid=CEPH_UUID)
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='ceph', type='rbd', source_name='vms', source_host=['mon1'], auth_type='ceph',
                 auth_username='libvirt', secret_uuid=CEPH_UUID)
    assert info.value.option == 'secret_uuid'
    assert 'usage volume' in info.value.msg and 'usage ceph' in info.value.msg and CEPH_UUID in info.value.msg
    assert conn.mutations() == []


def test_chap_secret_of_usage_ceph_is_named(conn):
    conn.add_secret('ceph', 'san1-chap')
    with pytest.raises(ValidationError) as info:
        plan_for(conn, secret_usage='san1-chap', **ISCSI_CHAP)
    assert 'usage iscsi' in info.value.msg and 'but usage ceph' in info.value.msg
    assert conn.mutations() == []


def test_iscsi_direct_takes_the_chap_secret_usage_from_its_backend(conn):
    conn.add_secret('iscsi', 'san1-chap')
    args = dict(ISCSI_CHAP, secret_usage='san1-chap', source_initiator='iqn.2026-11.com.example:hv1')
    args['type'] = 'iscsi-direct'
    assert plan_for(conn, **args).actions == ['define', 'start']
    assert conn.calls_of('secretLookupByUsage') == [(libvirt.VIR_SECRET_USAGE_TYPE_ISCSI, 'san1-chap')]


def test_xml_pool_with_missing_secret_names_the_xml_option(conn):
    xml = ('<pool type="rbd"><name>ceph</name><source><host name="mon1"/><name>vms</name>'
           '<auth type="ceph" username="libvirt"><secret usage="nope"/></auth></source></pool>')
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='ceph', xml=xml)
    assert info.value.option == 'xml' and "<secret usage='nope'>" in info.value.msg
    assert conn.mutations() == []


def test_malformed_secret_uuid_names_the_option(conn):
    def invalid(uuid):
        raise libvirt_error('uuidstr in virSecretLookupByUUIDString must be a valid UUID', libvirt.VIR_ERR_INVALID_ARG)
    conn.secretLookupByUUIDString = invalid
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='ceph', type='rbd', source_name='vms', source_host=['mon1'], auth_type='ceph',
                 auth_username='libvirt', secret_uuid='not-a-uuid')
    # refused before libvirt is asked
    assert info.value.option == 'secret_uuid'
    assert info.value.msg == ("secret_uuid 'not-a-uuid' is not a UUID: accepted are 32 hex digits, with or without "
                              "dashes, e.g. 0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01")


def test_secret_lookup_failure_other_than_missing(conn):
    def broken(uuid):
        raise libvirt_error('connection lost', libvirt.VIR_ERR_SYSTEM_ERROR)
    conn.secretLookupByUUIDString = broken
    with pytest.raises(OperationError):
        plan_for(conn, name='ceph', type='rbd', source_name='vms', source_host=['mon1'], auth_type='ceph',
                 auth_username='libvirt', secret_uuid=CEPH_UUID)


def test_live_auth_secret_checked_on_existing_pool(conn):
    conn.add_pool(rbd_pool_xml(), active=True)
    with pytest.raises(ValidationError) as info:
        plan_for(conn, name='ceph-vms')
    assert info.value.option == 'secret_uuid'
    conn.add_secret('ceph', 'client.libvirt secret', uuid=CEPH_UUID)
    assert plan_for(conn, name='ceph-vms').actions == []


# ---- removal ---------------------------------------------------------------------------------------

def test_absent_running_pool(conn):
    conn.add_pool(dir_pool_xml(), active=True)
    plan = plan_for(conn, name='images', state='absent')
    assert plan.actions == ['stop', 'undefine']
    assert plan.diff['after'] == ''
    assert '<path>%s</path>' % TARGET in plan.diff['before']


def test_absent_inactive_pool(conn):
    conn.add_pool(dir_pool_xml())
    assert plan_for(conn, name='images', state='absent').actions == ['undefine']


def test_absent_transient_pool_only_stops(conn):
    conn.add_pool(dir_pool_xml(), active=True, persistent=False)
    assert plan_for(conn, name='images', state='absent').actions == ['stop']


@pytest.mark.parametrize('state', ['absent', 'deleted'])
def test_removing_missing_pool_is_no_change(conn, state):
    plan = plan_for(conn, name='images', state=state)
    assert plan.actions == [] and plan.diff is None


def test_removing_missing_pool_with_type_is_no_change(conn):
    assert plan_for(conn, name='images', type='dir', state='absent').actions == []


def test_deleted_with_volumes_refused(conn):
    conn.add_pool(dir_pool_xml(), active=True, volumes=['b.qcow2', 'a.qcow2'])
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='images', state='deleted')
    assert info.value.details['volumes'] == ['a.qcow2', 'b.qcow2']
    assert 'a.qcow2, b.qcow2' in info.value.msg
    assert 'force=true' in info.value.msg
    assert conn.mutations() == ['refresh']  # the real run counts what a refresh finds; check mode does not refresh


def test_deleted_lists_at_most_ten_volumes(conn):
    volumes = ['v%02d' % i for i in range(12)]
    conn.add_pool(dir_pool_xml(), active=True, volumes=volumes)
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='images', state='deleted')
    assert 'v09, ...' in info.value.msg and 'v10' not in info.value.msg
    assert '12 volume(s)' in info.value.msg
    assert info.value.details['volumes'] == volumes


def test_deleted_with_force(conn):
    conn.add_pool(dir_pool_xml(), active=True, volumes=['b.qcow2', 'a.qcow2'])
    plan = plan_for(conn, name='images', state='deleted', force=True)
    assert plan.actions == ['refresh', 'delete_volume:a.qcow2', 'delete_volume:b.qcow2', 'stop', 'delete', 'undefine']
    assert all(step.undo is None for step in plan.steps)


def test_deleted_empty_pool(conn):
    conn.add_pool(dir_pool_xml(), active=True)
    assert plan_for(conn, name='images', state='deleted').actions == ['refresh', 'stop', 'delete', 'undefine']


def test_deleted_fs_pool_ignores_lost_and_found(conn):
    conn.add_pool('<pool type="fs"><name>data</name><source><device path="/dev/sdb1"/></source>'
                  '<target><path>/srv/data</path></target></pool>', active=True, volumes=['lost+found'])
    assert plan_for(conn, name='data', state='deleted').actions == ['refresh', 'stop', 'delete', 'undefine']


def test_deleted_inactive_dir_pool(conn):
    # libvirt's dir delete is an rmdir: it cannot lose data
    conn.add_pool(dir_pool_xml())
    assert plan_for(conn, name='images', state='deleted').actions == ['delete', 'undefine']


def test_deleted_inactive_fs_pool_needs_force(conn):
    conn.add_pool('<pool type="fs"><name>data</name><source><device path="/dev/sdb1"/></source>'
                  '<target><path>/srv/data</path></target></pool>')
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='data', state='deleted')
    assert 'inactive' in info.value.msg
    assert plan_for(conn, name='data', state='deleted', force=True).actions == ['delete', 'undefine']


def test_deleted_rbd_unsupported(conn):
    conn.add_pool(rbd_pool_xml(), active=True)
    with pytest.raises(UnsupportedError) as info:
        plan_for(conn, name='ceph-vms', state='deleted', force=True)
    assert 'rbd' in info.value.msg and 'state=absent' in info.value.msg
    assert conn.mutations() == []


# ---- a type whose storage driver the daemon lacks ------------------------------------------------

NO_VSTORAGE = ("<storagepoolCapabilities><pool type='dir' supported='yes'/>"
               "<pool type='vstorage' supported='no'/></storagepoolCapabilities>")
VSTORAGE_ARGS = dict(name='vz', type='vstorage', source_name='VZ7', target='/mnt/vz')


@pytest.mark.parametrize('check_mode', [True, False])
def test_type_without_a_driver_refused_before_define(conn, check_mode):
    conn.caps = NO_VSTORAGE
    with pytest.raises(UnsupportedError) as info:
        plan_for(conn, check_mode=check_mode, **VSTORAGE_ARGS)
    assert info.value.msg == (
        "type vstorage: the libvirt daemon has no storage driver for vstorage pools (its pool capabilities say "
        "supported='no'), so it cannot define pool vz; libvirt has it only when built with its vstorage storage "
        "driver (meson option storage_vstorage), which Debian's and Ubuntu's libvirt packages are not")
    assert conn.mutations() == []


def test_xml_of_a_type_without_a_driver_names_the_package(conn):
    conn.caps = NO_VSTORAGE.replace("'vstorage'", "'rbd'")
    xml = ("<pool type='rbd'><name>ceph</name><source><name>vms</name><host name='127.0.0.1'/></source></pool>")
    with pytest.raises(UnsupportedError) as info:
        plan_for(conn, name='ceph', xml=xml)
    assert info.value.msg.startswith("xml: <pool type='rbd'>: the libvirt daemon has no storage driver for rbd")
    assert 'package libvirt-daemon-driver-storage-rbd' in info.value.msg
    assert conn.mutations() == []


def test_supported_type_and_silent_daemon_are_planned(conn):
    conn.caps = NO_VSTORAGE
    assert plan_for(conn, **DIR_ARGS).actions == ['define', 'build', 'start']
    conn.fail_on['getStoragePoolCapabilities'] = libvirt_error('this function is not supported by the connection '
                                                               'driver', libvirt.VIR_ERR_NO_SUPPORT)
    assert plan_for(conn, **VSTORAGE_ARGS).actions[0] == 'define'  # the define tells, as before


def test_a_defined_pool_of_that_type_can_still_be_removed(conn):
    conn.caps = NO_VSTORAGE
    conn.add_pool("<pool type='vstorage'><name>vz</name><source><name>VZ7</name></source>"
                  "<target><path>/mnt/vz</path></target></pool>")
    assert plan_for(conn, name='vz', state='absent').actions == ['undefine']


# ---- describe ---------------------------------------------------------------------------------------

def test_describe(conn):
    conn.add_pool(rbd_pool_xml(), active=True, autostart=True, uuid='0a0b0c0d-1111-2222-3333-444455556666')
    manager, live = make(conn, name='ceph-vms')
    described = manager.describe(live)
    assert described['name'] == 'ceph-vms'
    assert described['type'] == 'rbd'
    assert described['state'] == 'active' and described['active'] is True
    assert described['autostart'] is True and described['persistent'] is True
    # the sizes are those of pool.info(), which match the <capacity>/<available> of rbd_pool_xml
    assert (described['capacity'], described['allocation'], described['available']) == (1000, 10, 990)
    assert described['uuid'] == '0a0b0c0d-1111-2222-3333-444455556666'
    assert described['target'] == {'path': None, 'permissions': None}
    assert described['source'] == {
        'hosts': ['mon1.example.com:6789', 'mon2.example.com:6789'],
        'name': 'vms',
        'auth': {'type': 'ceph', 'username': 'libvirt', 'uuid': CEPH_UUID},
    }
    assert '<uuid>' not in described['xml'] and '<capacity' not in described['xml']


def test_describe_dir_and_absent(conn):
    conn.add_pool(dir_pool_xml())
    manager, live = make(conn, name='images')
    described = manager.describe(live)
    assert described['state'] == 'inactive'
    assert described['target'] == {'path': TARGET, 'permissions': {'mode': '0755', 'owner': '0', 'group': '0'}}
    assert described['autostart'] is False and described['autostart_not_running'] is False
    assert described['thin_provisioned'] is True
    assert described['provisioned'] is None and described['overcommit_ratio'] is None, 'volumes are not read'
    assert described['source'] == {}
    assert manager.describe(None) == {'name': 'images', 'state': 'absent'}


def test_describe_ipv6_host_round_trips(conn):
    conn.add_pool('<pool type="rbd"><name>v6</name><source><host name="fe80::1" port="6789"/><name>vms</name>'
                  '</source></pool>', active=True)
    manager, live = make(conn, name='v6')
    assert manager.describe(live)['source']['hosts'] == ['[fe80::1]:6789']


# ---- applying the plan on the fake ----------------------------------------------------------------------

def test_apply_new_pool(conn):
    plan = plan_for(conn, autostart=True, **DIR_ARGS)
    engine.apply(plan, False)
    assert conn.mutations() == ['define', 'build', 'create', 'setAutostart']
    assert canon(defined_xml(conn)) == canon(NEW_DIR_XML)
    assert conn.calls_of('storagePoolDefineXML')[0][1] == 0
    assert conn.calls_of('build') == [('images', 0)]
    assert conn.calls_of('create') == [('images', 0)]
    assert conn.calls_of('setAutostart') == [('images', 1)]
    pool = conn.pools['images']
    assert pool.active and pool.persistent and pool.auto


def test_apply_check_mode_changes_nothing(conn):
    conn.add_pool(dir_pool_xml(mode='0755'), active=True, volumes=['a'])
    for given in (dict(DIR_ARGS, name='new'), dict(DIR_ARGS, target_mode='0711', autostart=True),
                  dict(name='images', state='absent')):
        conn.calls = []
        result = engine.reconcile(PoolManager(conn, pool_params(**given), False), check_mode=True, diff_mode=False)
        assert result['changed'] is True and result['actions']
        assert conn.mutations() == []
    assert conn.pools['images'].xml == dir_pool_xml(mode='0755') and set(conn.pools) == {'images'}


def test_check_mode_deleted_does_not_refresh(conn):
    conn.add_pool(dir_pool_xml(mode='0755'), active=True, volumes=['a'])
    manager = PoolManager(conn, pool_params(name='images', state='deleted', force=True), False)
    result = engine.reconcile(manager, check_mode=True, diff_mode=False)
    assert result['actions'] == ['refresh', 'delete_volume:a', 'stop', 'delete', 'undefine']  # the real run's refresh
    assert conn.mutations() == []
    assert conn.pools['images'].xml == dir_pool_xml(mode='0755')


def test_failing_start_after_define_undefines_the_new_pool(conn):
    conn.fail_on['create'] = libvirt_error('cannot start: no such directory', libvirt.VIR_ERR_INTERNAL_ERROR)
    plan = plan_for(conn, **DIR_ARGS)
    with pytest.raises(OperationError) as info:
        engine.apply(plan, False)
    assert conn.mutations() == ['define', 'build', 'create', 'undefine']
    assert 'images' not in conn.pools
    err = info.value
    assert 'starting pool images failed: cannot start: no such directory' in err.msg
    assert 'rolled back: define' in err.msg
    assert err.details['failed_action'] == 'start'
    assert err.details['rolled_back'] == ['define']
    assert err.details['libvirt_code'] == libvirt.VIR_ERR_INTERNAL_ERROR


def test_failing_start_deletes_what_this_task_built(conn, monkeypatch):
    probe_says(monkeypatch, DirBackend, MISSING)
    conn.fail_on['create'] = libvirt_error('cannot start', libvirt.VIR_ERR_INTERNAL_ERROR)
    with pytest.raises(OperationError) as info:
        engine.apply(plan_for(conn, is_local=True, **DIR_ARGS), False)
    assert conn.mutations() == ['define', 'build', 'create', 'delete', 'undefine']
    assert 'rolled back: build, define' in info.value.msg


def test_failing_autostart_stops_and_undefines(conn):
    conn.fail_on['setAutostart'] = libvirt_error('no', libvirt.VIR_ERR_INTERNAL_ERROR)
    with pytest.raises(OperationError) as info:
        engine.apply(plan_for(conn, autostart=True, **DIR_ARGS), False)
    assert conn.mutations() == ['define', 'build', 'create', 'setAutostart', 'destroy', 'undefine']
    assert 'rolled back: start, define' in info.value.msg
    assert 'images' not in conn.pools


def test_failing_define_changes_nothing(conn):
    conn.fail_on['define'] = libvirt_error('XML error: missing target path', libvirt.VIR_ERR_XML_ERROR)
    with pytest.raises(OperationError) as info:
        engine.apply(plan_for(conn, **DIR_ARGS), False)
    assert conn.mutations() == ['define']
    assert 'defining pool images failed: XML error' in info.value.msg


def test_apply_restart(conn):
    conn.add_pool(dir_pool_xml(mode='0755'), active=True)
    engine.apply(plan_for(conn, target_mode='0711', **DIR_ARGS), False)
    assert conn.mutations() == ['define', 'destroy', 'create']
    redefined = xmlu.parse(defined_xml(conn))
    assert redefined.findtext('target/permissions/mode') == '0711'
    assert redefined.findtext('uuid') == '9f5a4c1e-2d3b-4a6f-8e7d-1c2b3a4d5e6f'  # same pool, same uuid
    assert redefined.findtext('target/permissions/owner') == '0'
    assert conn.pools['images'].active


def test_apply_restart_with_build(conn, monkeypatch):
    conn.add_pool(dir_pool_xml(mode='0755'), active=True)
    probe_says(monkeypatch, DirBackend, BUILT)
    engine.apply(plan_for(conn, is_local=True, target_mode='0711', **DIR_ARGS), False)
    assert conn.mutations() == ['define', 'destroy', 'build', 'create']


def test_failed_restart_restores_previous_definition(conn):
    old = dir_pool_xml(mode='0755')
    conn.add_pool(old, active=True)
    conn.fail_on['create'] = [libvirt_error('mode not applicable', libvirt.VIR_ERR_INTERNAL_ERROR)]
    with pytest.raises(OperationError) as info:
        engine.apply(plan_for(conn, target_mode='0711', **DIR_ARGS), False)
    assert conn.mutations() == ['define', 'destroy', 'create', 'define', 'create', 'define']
    assert 'previous definition was restored' in info.value.msg
    assert 'rolled back: redefine' in info.value.msg
    pool = conn.pools['images']
    assert pool.active
    assert xmlu.parse(pool.xml).findtext('target/permissions/mode') == '0755'


def test_apply_stop(conn):
    conn.add_pool(dir_pool_xml(), active=True)
    engine.apply(plan_for(conn, name='images', state='inactive'), False)
    assert conn.mutations() == ['destroy']


def test_apply_absent(conn):
    conn.add_pool(dir_pool_xml(), active=True)
    engine.apply(plan_for(conn, name='images', state='absent'), False)
    assert conn.mutations() == ['destroy', 'undefine']
    assert 'images' not in conn.pools


def test_apply_deleted_with_force(conn):
    conn.add_pool(dir_pool_xml(), active=True, volumes=['b.qcow2', 'a.qcow2'])
    plan = plan_for(conn, name='images', state='deleted', force=True)
    engine.apply(plan, False)
    assert conn.mutations() == ['refresh', 'vol.delete', 'vol.delete', 'destroy', 'delete', 'undefine']
    assert conn.calls_of('vol.delete') == [('a.qcow2', 0), ('b.qcow2', 0)]
    assert 'images' not in conn.pools


def test_apply_deleted_transient_pool(conn):
    conn.add_pool(dir_pool_xml(), active=True, persistent=False)
    engine.apply(plan_for(conn, name='images', state='deleted'), False)
    assert 'delete' in conn.mutations()
    assert 'images' not in conn.pools


def test_apply_autostart_and_refresh(conn):
    conn.add_pool(dir_pool_xml(), active=True)
    plan = plan_for(conn, autostart=True, refresh=True, **DIR_ARGS)
    assert plan.actions == ['autostart', 'refresh']
    engine.apply(plan, False)
    assert conn.mutations() == ['setAutostart', 'refresh']
    assert conn.calls_of('refresh') == [('images', 0)]


def test_pool_disappearing_while_applying(conn):
    conn.add_pool(dir_pool_xml(), active=True)
    plan = plan_for(conn, name='images', state='absent')
    del conn.pools['images']
    with pytest.raises(OperationError) as info:
        engine.apply(plan, False)
    assert 'disappeared' in info.value.msg


# ---- check mode predicts the real run; a second run changes nothing ----------------------------------------

@pytest.mark.parametrize('given', [
    dict(DIR_ARGS, autostart=True, target_mode='0711'),
    dict(name='nfs', type='netfs', source_host=['nfs1.example.com'], source_path='/export/vms', source_format='nfs',
         mount_opts=['nfsvers=4.2', 'noatime'], target='/var/lib/libvirt/nfs'),
    dict(name='vg', type='logical', source_name='vg', source_dev=['/dev/sdc', '/dev/sdd'], build='no_overwrite'),
    dict(name='mp', type='mpath'),
    dict(name='hba', type='scsi', source_adapter={'type': 'scsi_host', 'name': 'host0'}, state='present'),
], ids=['dir', 'netfs', 'logical', 'mpath', 'scsi'])
def test_check_mode_then_real_run_then_idempotent(conn, given):
    def run(check_mode):
        manager = PoolManager(conn, pool_params(**given), False)
        return engine.reconcile(manager, check_mode, diff_mode=True)

    predicted = run(True)
    assert conn.pools == {}
    done = run(False)
    assert done['actions'] == predicted['actions']
    assert done['changed'] is predicted['changed'] is True
    assert done['diff'] == predicted['diff']
    assert done['pool']['state'] != 'absent'
    for check_mode in (True, False):
        again = run(check_mode)
        assert again['changed'] is False, again['diff']
        assert again['actions'] == []


def test_change_then_idempotent(conn):
    conn.add_pool(dir_pool_xml(mode='0755'), active=True)
    given = dict(DIR_ARGS, target_mode='0711')
    first = engine.reconcile(PoolManager(conn, pool_params(**given), False), False, True)
    assert first['actions'] == ['redefine', 'restart']
    assert '<mode>0711</mode>' in first['pool']['xml']
    second = engine.reconcile(PoolManager(conn, pool_params(**given), False), False, True)
    assert second['changed'] is False


def test_defined_xml_is_parseable_by_a_strict_parser(conn):
    engine.apply(plan_for(conn, name='nfs', type='netfs', source_host=['nfs1'], source_path='/e',
                          mount_opts=['ro'], target='/mnt/nfs'), False)
    root = etree.fromstring(defined_xml(conn).encode())
    assert root.nsmap.get('fs') == 'http://libvirt.org/schemas/storagepool/fs/1.0'
