"""rbd pools and volumes: exact image sizes, deletes that take libvirt's clone snapshots along,
and readable reasons for libvirt's misleading connect and delete errors."""

import socket

import libvirt
import pytest
from lxml import etree

from fake_libvirt import MIB, FakeConn, libvirt_error, rbd_pool_xml, volume_params, volume_xml
from ansible_collections.kvmops.storage.plugins.module_utils import engine
from ansible_collections.kvmops.storage.plugins.module_utils.backends.rbd import RbdBackend, monitors
from ansible_collections.kvmops.storage.plugins.module_utils.errors import OperationError, RefusedError
from ansible_collections.kvmops.storage.plugins.module_utils.volume import VolumeManager

POOL = 'ceph-vms'
CONNECT_FAILED = 'failed to connect to the RADOS monitor on: 127.0.0.1:6789,: No such file or directory'


@pytest.fixture
def conn():
    return FakeConn()


@pytest.fixture
def pool(conn):
    return conn.add_pool(rbd_pool_xml(name=POOL), active=True)


def rbd_volume(name, capacity):
    return volume_xml(name, capacity, path='vms/%s' % name, vol_type='network', allocation=3 * 4 * MIB)


def plan_for(conn, **given):
    given.setdefault('pool', POOL)
    manager = VolumeManager(conn, volume_params(**given), True)
    return manager.plan(manager.read())


def test_image_of_odd_size_is_no_change(conn, pool):
    # RBD keeps the byte size asked for; the 4 MiB objects show only in the allocation
    pool.add(rbd_volume('img', 10000001))
    assert plan_for(conn, name='img', capacity='10000001').actions == []


def test_one_byte_less_than_the_image_is_a_shrink(conn, pool):
    pool.add(rbd_volume('img', 12 * MIB))
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='img', capacity=str(12 * MIB - 1))
    assert 'allow_shrink' in info.value.msg
    assert plan_for(conn, name='img', capacity='11M', allow_shrink=True).actions == ['shrink']


def test_one_byte_more_than_the_image_is_a_resize(conn, pool):
    pool.add(rbd_volume('img', 10 * MIB))
    assert plan_for(conn, name='img', capacity=str(10 * MIB + 1)).actions == ['resize']


def test_delete_takes_the_snapshots_libvirt_made_for_clones(conn, pool):
    pool.add(rbd_volume('img', 10 * MIB))
    plan = plan_for(conn, name='img', state='absent')
    engine.apply(plan, False)
    assert conn.calls_of('vol.delete') == [('img', libvirt.VIR_STORAGE_VOL_DELETE_WITH_SNAPSHOTS)]


def test_delete_of_a_clone_source_explains_libvirts_message(conn, pool):
    pool.add(rbd_volume('golden', 10 * MIB))
    conn.fail_on[('vol.delete', 'golden')] = libvirt_error(
        "failed to unprotect snapshot 'vms/golden@libvirt-27969': No such file or directory", 38)
    plan = plan_for(conn, name='golden', state='absent')
    with pytest.raises(OperationError) as info:
        engine.apply(plan, False)
    assert 'golden' in info.value.msg and 'delete those clones first' in info.value.msg


def test_monitors_default_port():
    definition = etree.fromstring(rbd_pool_xml().encode())
    definition.find('source/host').attrib.pop('port')
    assert monitors(definition) == [('mon1.example.com', 6789), ('mon2.example.com', 6789)]


def _listener():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(1)
    return sock


def _pool_on(port, auth=True):
    xml = ("<pool type='rbd'><name>p</name><source><host name='127.0.0.1' port='%d'/><name>vms</name>%s"
           "</source></pool>" % (port, "<auth type='ceph' username='libvirt'><secret usage='ceph-key'/></auth>"
                                 if auth else ''))
    return etree.fromstring(xml.encode())


def test_start_hint_no_monitor_listens():
    sock = _listener()
    port = sock.getsockname()[1]
    sock.close()
    hint = RbdBackend({'name': 'p'}).start_failure_hint(_pool_on(port), CONNECT_FAILED, True)
    assert 'no Ceph monitor accepts connections at 127.0.0.1:%d' % port in hint


def test_start_hint_monitor_listens_so_auth_failed():
    sock = _listener()
    try:
        hint = RbdBackend({'name': 'p'}).start_failure_hint(_pool_on(sock.getsockname()[1]), CONNECT_FAILED, True)
        no_auth = RbdBackend({'name': 'p'}).start_failure_hint(_pool_on(sock.getsockname()[1], auth=False),
                                                               CONNECT_FAILED, True)
    finally:
        sock.close()
    assert 'refused the client' in hint and "auth_username 'libvirt'" in hint and "secret_usage 'ceph-key'" in hint
    assert 'no auth' in no_auth


def test_start_hint_only_for_connect_failures_on_the_local_host():
    backend = RbdBackend({'name': 'p'})
    assert backend.start_failure_hint(_pool_on(1), "failed to create the RBD IoCTX. Does the pool 'vms' exist?",
                                      True) is None
    assert backend.start_failure_hint(_pool_on(1), CONNECT_FAILED, False) is None
