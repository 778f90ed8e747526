"""storage_pool against the real libvirtd and a tgtd iSCSI target on 127.0.0.1: iscsi-direct pools."""

import os

import pytest

from helpers import pool_defined, run_module, virsh

pytestmark = pytest.mark.tgtd

TARGET_IQN = os.environ.get('KVMOPS_TGT_IQN', 'iqn.2026-11.io.kvmops:test')
PORTAL = os.environ.get('KVMOPS_TGT_PORTAL', '127.0.0.1:3260')


@pytest.fixture
def pool_name():
    name = 'it-iscsid-%d' % os.getpid()
    yield name
    virsh('pool-destroy', name, check=False)
    virsh('pool-undefine', name, check=False)


@pytest.mark.pool_type('iscsi-direct')
def test_iscsi_direct_lifecycle(pool_name):
    args = {'name': pool_name, 'type': 'iscsi-direct', 'source_host': [PORTAL], 'source_dev': [TARGET_IQN],
            'source_initiator': 'iqn.2026-11.io.kvmops:hv1'}

    planned = run_module('storage_pool', args, check=True, diff=True)
    assert planned['actions'] == ['define', 'start'], 'iscsi-direct pools have no build'
    assert not pool_defined(pool_name)
    applied = run_module('storage_pool', args, diff=True)
    assert applied['actions'] == planned['actions']
    assert applied['pool']['state'] == 'active'
    # the two LUNs of the test target (64 MiB + 32 MiB, as the target rounds them) are the pool's volumes
    assert 95 * 1024 * 1024 < applied['pool']['capacity'] <= 96 * 1024 * 1024
    volumes = virsh('vol-list', pool_name)
    assert 'unit:0:0:1' in volumes and 'unit:0:0:2' in volumes
    assert applied['pool']['source']['hosts'] == [PORTAL]
    for result in (run_module('storage_pool', args, check=True, diff=True), run_module('storage_pool', args)):
        assert result['changed'] is False and result['actions'] == []

    # a changed option (the initiator IQN) shows in --diff and is applied with a restart
    change = dict(args, source_initiator='iqn.2026-11.io.kvmops:hv2')
    planned = run_module('storage_pool', change, check=True, diff=True)
    assert planned['actions'] == ['redefine', 'restart']
    assert 'iqn.2026-11.io.kvmops:hv1' in planned['diff']['before']
    assert 'iqn.2026-11.io.kvmops:hv2' in planned['diff']['after']
    done = run_module('storage_pool', change)
    assert done['actions'] == planned['actions']
    assert "iqn.2026-11.io.kvmops:hv2" in virsh('pool-dumpxml', pool_name)
    assert done['pool']['state'] == 'active'
    assert run_module('storage_pool', change)['changed'] is False

    # libvirt cannot delete an iSCSI target's storage: refused, definition kept
    refused = run_module('storage_pool', {'name': pool_name, 'state': 'deleted'})
    assert refused['failed'] is True and 'absent' in refused['msg']
    assert pool_defined(pool_name)

    removed = run_module('storage_pool', {'name': pool_name, 'state': 'absent'}, diff=True)
    assert removed['actions'] == ['stop', 'undefine']
    assert removed['diff']['after'] == ''
    assert not pool_defined(pool_name)


def test_iscsi_direct_wrong_target_rolls_back(pool_name):
    args = {'name': pool_name, 'type': 'iscsi-direct', 'source_host': [PORTAL],
            'source_dev': ['iqn.2026-11.io.kvmops:no-such-target'], 'source_initiator': 'iqn.2026-11.io.kvmops:hv1'}
    failed = run_module('storage_pool', args)
    assert failed['failed'] is True
    assert 'start' in failed['msg'] and 'rolled back: define' in failed['msg']
    assert not pool_defined(pool_name), 'a pool the task defined must be undefined again'
