"""iscsi-direct pools with CHAP against tgtd on 127.0.0.1: the password in a storage_secret, wrong passwords,
secrets that do not exist or are of another usage."""

import os
import re
import subprocess

import pytest

from helpers import four_calls, pool_defined, run_module, virsh

pytestmark = pytest.mark.tgtd

PREFIX = 'it-sec-%d' % os.getpid()
IQN = 'iqn.2026-11.io.kvmops:chap'
PORTAL = os.environ.get('KVMOPS_TGT_PORTAL', '127.0.0.1:3260')
INITIATOR = 'iqn.2026-11.io.kvmops:hv1'
USER = PREFIX + '-user'
PASSWORD = 'it-sec-chap-%s' % os.urandom(6).hex()
LUN_MIB = 32


def tgtadm(*args, check=True):
    proc = subprocess.run(['tgtadm', '--lld', 'iscsi'] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError('tgtadm %s: %s' % (' '.join(args), proc.stderr.strip()))
    return proc.stdout


@pytest.fixture(scope='module')
def chap_target(tmp_path_factory):
    """A second tgtd target (a free tid from 7 up) with one 32 MiB sparse LUN and a CHAP account, for all
    initiators; target and account are deleted afterwards."""
    shown = tgtadm('--op', 'show', '--mode', 'target')
    if IQN in shown:
        pytest.fail('tgtd already has a target %s (left by an earlier run?)' % IQN)
    used = set(int(tid) for tid in re.findall(r'^Target (\d+):', shown, re.M))
    tid = str(min(set(range(7, 100)) - used))
    lun = tmp_path_factory.mktemp(PREFIX) / 'chap-lun.img'
    with open(str(lun), 'wb') as handle:
        handle.truncate(LUN_MIB * 1024 * 1024)
    try:
        tgtadm('--op', 'new', '--mode', 'target', '--tid', tid, '-T', IQN)
        tgtadm('--op', 'new', '--mode', 'logicalunit', '--tid', tid, '--lun', '1', '-b', str(lun))
        tgtadm('--op', 'bind', '--mode', 'target', '--tid', tid, '-I', 'ALL')
        tgtadm('--op', 'new', '--mode', 'account', '--user', USER, '--password', PASSWORD)
        tgtadm('--op', 'bind', '--mode', 'account', '--tid', tid, '--user', USER)
        yield tid
    finally:
        tgtadm('--op', 'delete', '--mode', 'target', '--tid', tid, '--force', check=False)
        tgtadm('--op', 'delete', '--mode', 'account', '--user', USER, check=False)


def _cleanup_secrets():
    for line in virsh('secret-list').splitlines()[2:]:
        if PREFIX in line:
            virsh('secret-undefine', line.split()[0], check=False)


@pytest.fixture
def names(chap_target):
    """(pool name, secret usage id) for one test; the pool and this run's secrets are removed afterwards."""
    pool = PREFIX + '-chap'
    yield pool, PREFIX + '-chap-secret'
    virsh('pool-destroy', pool, check=False)
    virsh('pool-undefine', pool, check=False)
    _cleanup_secrets()


def definition(pool):
    """The persistent definition without the sizes libvirt computes."""
    return re.sub(r'<(capacity|allocation|available)\b[^>]*>\d+</\1>', '', virsh('pool-dumpxml', '--inactive', pool))


def pool_args(pool, secret_usage):
    return {'name': pool, 'type': 'iscsi-direct', 'source_host': [PORTAL], 'source_dev': [IQN],
            'source_initiator': INITIATOR, 'auth_type': 'chap', 'auth_username': USER, 'secret_usage': secret_usage}


def secret(usage_id, value, usage='iscsi'):
    result = run_module('storage_secret', {'usage': usage, 'usage_id': usage_id, 'value': value, 'private': True})
    assert result['changed'] and not result['failed'], result.get('msg')
    return result['secret']['uuid']


@pytest.mark.pool_type('iscsi-direct')
def test_chap_pool_four_calls(names):
    pool, usage_id = names
    secret(usage_id, PASSWORD)
    results = four_calls('storage_pool', pool_args(pool, usage_id))
    assert [r['actions'] for r in results] == [['define', 'start'], ['define', 'start'], [], []]
    assert [r['changed'] for r in results] == [True, True, False, False]
    assert results[1]['pool']['source']['auth'] == {'type': 'chap', 'username': USER, 'usage': usage_id}
    assert "<secret usage='%s'/>" % usage_id in virsh('pool-dumpxml', pool)
    # the LUN behind CHAP is a volume of the pool
    assert 'unit:0:0:1' in virsh('vol-list', pool)
    assert (LUN_MIB - 1) * 1024 * 1024 < results[1]['pool']['capacity'] <= LUN_MIB * 1024 * 1024
    for result in results:
        assert PASSWORD not in result.output

    # by uuid: the same pool, with the secret named by uuid
    uuid = virsh('secret-list').split(usage_id)[0].split()[-2]
    by_uuid = dict(pool_args(pool, None), secret_uuid=uuid)
    del by_uuid['secret_usage']
    changed = run_module('storage_pool', by_uuid)
    assert changed['actions'] == ['redefine', 'restart'] and changed['pool']['state'] == 'active'
    assert run_module('storage_pool', by_uuid)['changed'] is False


def test_wrong_password_keeps_the_running_definition(names):
    pool, usage_id = names
    secret(usage_id, PASSWORD)
    assert run_module('storage_pool', pool_args(pool, usage_id))['pool']['state'] == 'active'
    before = definition(pool)
    wrong = usage_id + '-wrong'
    secret(wrong, 'not-the-password')
    failed = run_module('storage_pool', pool_args(pool, wrong))
    assert failed['failed'] is True
    assert 'Authentication failure' in failed['msg'] and 'previous definition was restored' in failed['msg']
    assert 'not-the-password' not in failed.output and PASSWORD not in failed.output
    assert definition(pool) == before and "<secret usage='%s'/>" % usage_id in before
    assert 'running' in virsh('pool-info', pool)


def test_wrong_password_for_a_new_pool_leaves_nothing(names):
    pool, usage_id = names
    secret(usage_id, 'not-the-password')
    failed = run_module('storage_pool', pool_args(pool, usage_id))
    assert failed['failed'] is True and failed['failed_action'] == 'start'
    assert 'Authentication failure' in failed['msg'] and 'rolled back: define' in failed['msg']
    assert not pool_defined(pool)


def test_missing_secret_refused_before_define(names):
    pool, usage_id = names
    # check mode assumes an earlier task of the run defines the secret, and says so
    predicted = run_module('storage_pool', pool_args(pool, usage_id + '-missing'), check=True)
    assert predicted['failed'] is False and predicted['actions'] == ['define', 'start'], predicted.get('msg')
    assert len(predicted['warnings']) == 1 and usage_id + '-missing' in predicted['warnings'][0]
    assert 'check mode assumes' in predicted['warnings'][0]
    assert not pool_defined(pool)
    refused = run_module('storage_pool', pool_args(pool, usage_id + '-missing'))
    assert refused['failed'] is True and refused['option'] == 'secret_usage'
    assert usage_id + '-missing' in refused['msg'] and 'usage iscsi' in refused['msg']
    assert not pool_defined(pool)
    missing_uuid = dict(pool_args(pool, None), secret_uuid='0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01')
    del missing_uuid['secret_usage']
    refused = run_module('storage_pool', missing_uuid)
    assert refused['failed'] is True and '0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01' in refused['msg']
    assert not pool_defined(pool)


def test_secret_of_another_usage_refused_before_define(names):
    pool, usage_id = names
    uuid = secret(usage_id, PASSWORD, usage='ceph')
    refused = run_module('storage_pool', pool_args(pool, usage_id))
    assert refused['failed'] is True and 'usage iscsi' in refused['msg'] and 'but usage ceph' in refused['msg']
    assert uuid in refused['msg']
    by_uuid = dict(pool_args(pool, None), secret_uuid=uuid)
    del by_uuid['secret_usage']
    refused = run_module('storage_pool', by_uuid)
    assert refused['failed'] is True and 'usage ceph' in refused['msg'] and 'usage iscsi' in refused['msg']
    assert not pool_defined(pool)


def test_secret_without_value_fails_at_start_and_leaves_nothing(names):
    pool, usage_id = names
    made = run_module('storage_secret', {'usage': 'iscsi', 'usage_id': usage_id, 'private': True})
    assert made['actions'] == ['define'] and made['secret']['value_set'] is False
    failed = run_module('storage_pool', pool_args(pool, usage_id))
    assert failed['failed'] is True and failed['failed_action'] == 'start', failed['msg']
    assert 'rolled back: define' in failed['msg']
    assert not pool_defined(pool)
    # libvirt cannot tell beforehand whether a private secret has a value; it says so when the pool starts
    assert 'does not have a value' in failed['msg'] and made['secret']['uuid'] in failed['msg']
