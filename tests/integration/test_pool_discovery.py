"""Pool source discovery (storage_facts discover) against the tgtd iSCSI target on 127.0.0.1: the entry
found defines an iscsi-direct pool that works."""

import os

import pytest

from helpers import four_calls, run_module, virsh

pytestmark = pytest.mark.tgtd

TARGET_IQN = os.environ.get('KVMOPS_TGT_IQN', 'iqn.2026-11.io.kvmops:test')
PORTAL = os.environ.get('KVMOPS_TGT_PORTAL', '127.0.0.1:3260')
INITIATOR = 'iqn.2026-11.io.kvmops:fs-hv1'


@pytest.fixture
def pool_name():
    name = 'fs-disc-%d' % os.getpid()
    yield name
    virsh('pool-destroy', name, check=False)
    virsh('pool-undefine', name, check=False)


def test_discover_iscsi_direct_targets_and_define_a_pool(pool_name):
    host, port = PORTAL.rsplit(':', 1)
    result = run_module('storage_facts', {'discover': {'type': 'iscsi-direct', 'host': host, 'port': int(port),
                                                       'initiator': INITIATOR}, 'pools': []})
    assert result['failed'] is False, result.get('msg')
    found = result['ansible_facts']['libvirt_storage']['discovered']
    assert found == [{'type': 'iscsi-direct', 'source_host': [PORTAL], 'source_dev': [TARGET_IQN],
                      'source_initiator': INITIATOR}]
    args = dict(found[0], name=pool_name, state='active')
    first_check, applied, second_check, second = four_calls('storage_pool', args)
    assert first_check['actions'] == applied['actions'] == ['define', 'start']
    assert not second_check['changed'] and not second['changed']
    assert 'unit:0:0:1' in virsh('vol-list', pool_name)


@pytest.mark.parametrize('discover, words', [
    ({'type': 'iscsi-direct', 'host': '127.0.0.1'}, ['discover.initiator is required for iscsi-direct']),
    ({'type': 'fs'}, ['fs', 'gluster, iscsi, iscsi-direct, logical, netfs']),
])
def test_bad_discover_fails_clearly(discover, words):
    result = run_module('storage_facts', {'discover': discover})
    assert result['failed'] is True
    for word in words:
        assert word in result['msg'], result['msg']


def test_unreachable_portal_fails_naming_discover():
    result = run_module('storage_facts', {'discover': {'type': 'iscsi-direct', 'host': '127.0.0.1', 'port': 1,
                                                       'initiator': INITIATOR}, 'timeout': 20})
    assert result['failed'] is True
    assert result['msg'].startswith('discover: discovering iscsi-direct pool sources on 127.0.0.1:1 failed'), \
        result['msg']
