"""Kernel iSCSI with CHAP on the lab VM: a LIO target that asks every initiator for a CHAP user and password,
the password in a libvirt secret made by storage_secret, and an iscsi pool that logs in with it; driven from
this host over qemu+ssh. A wrong password leaves nothing behind; the password is in no output."""

import os

import pytest

from helpers import four_calls, run_module
# lab_vm: the autouse fixture of test_lab (skips the module when the VM is not running)
from test_lab import (  # noqa: F401 pylint: disable=unused-import
    MIB, REMOTE_URI, forget_pool, lab, lab_virsh, lab_vm, lun_capacity, targetcli)

pytestmark = pytest.mark.lab

REMOTE = {'uri': REMOTE_URI}
IQN = 'iqn.2026-11.io.kvmops:it-lab-chap'
USER, PASSWORD = 'it-lab-user', 'it-lab-Chap-pw-12'
POOL = 'it-lab-chap-%d' % os.getpid()
USAGE = 'it-lab-chap-secret-%d' % os.getpid()


@pytest.fixture(scope='module')
def chap_target():
    tpg = '/iscsi/%s/tpg1' % IQN
    try:
        targetcli('/backstores/fileio create name=it-lab-chap-lun file_or_dev=/var/lib/it-lab-chap-lun.img size=16M',
                  '/iscsi create %s' % IQN,
                  '%s/luns create /backstores/fileio/it-lab-chap-lun' % tpg,
                  '%s set attribute authentication=1 generate_node_acls=1 demo_mode_write_protect=0 '
                  'cache_dynamic_acls=1' % tpg,
                  '%s set auth userid=%s password=%s' % (tpg, USER, PASSWORD),
                  '%s/portals delete 0.0.0.0 3260' % tpg,
                  '%s/portals create 127.0.0.1 3260' % tpg)
        yield IQN
    finally:
        lab('iscsiadm -m node -T %s -u >/dev/null 2>&1; iscsiadm -m node -T %s -o delete >/dev/null 2>&1; true'
            % (IQN, IQN), check=False)
        targetcli('/iscsi delete %s' % IQN, '/backstores/fileio delete it-lab-chap-lun')
        lab('rm -f /var/lib/it-lab-chap-lun.img', check=False)


def secret(value):
    result = run_module('storage_secret', dict(REMOTE, usage='iscsi', usage_id=USAGE, value=value, private=True))
    assert result['failed'] is False, result.get('msg')
    return result


@pytest.fixture
def names(chap_target):  # pylint: disable=redefined-outer-name
    yield POOL, USAGE
    forget_pool(POOL)
    run_module('storage_secret', dict(REMOTE, usage='iscsi', usage_id=USAGE, state='absent'))


def pool_args():
    return dict(REMOTE, name=POOL, type='iscsi', source_host=['127.0.0.1:3260'], source_dev=[IQN],
                auth_type='chap', auth_username=USER, secret_usage=USAGE, state='active')


@pytest.mark.pool_type('iscsi')
def test_kernel_iscsi_with_chap_against_lio(names):  # pylint: disable=redefined-outer-name
    secret(PASSWORD)
    results = four_calls('storage_pool', pool_args())
    assert [r['actions'] for r in results] == [['define', 'start'], ['define', 'start'], [], []]
    assert results[1]['pool']['source']['auth'] == {'type': 'chap', 'username': USER, 'usage': USAGE}
    assert IQN in lab('iscsiadm -m session')
    assert lun_capacity(POOL, 16 * MIB) == 16 * MIB
    assert len(lab_virsh('vol-list', POOL).splitlines()[2:-1]) == 1
    for result in results:
        assert PASSWORD not in result.output


def test_kernel_iscsi_with_a_wrong_chap_password_leaves_nothing(names):  # pylint: disable=redefined-outer-name
    secret('not-the-password')
    failed = run_module('storage_pool', pool_args())
    assert failed['failed'] is True and 'start' in failed['msg'], failed.get('msg')
    assert POOL not in lab_virsh('pool-list', '--all'), 'the pool the task defined is rolled back'
    assert IQN not in lab('iscsiadm -m session 2>/dev/null; true', check=False)
    assert PASSWORD not in failed.output and 'not-the-password' not in failed.output
