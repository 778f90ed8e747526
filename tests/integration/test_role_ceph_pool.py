"""The kvmops.storage.ceph_pool role against the real libvirtd and the one-node Ceph cluster of
scripts/servers.sh: applied twice (the second run changes nothing), its image seen by rbd."""

import os
import re

import pytest

from helpers import pool_defined, rbd, read_testbed, run_playbook, virsh
from test_pool_rbd import images, undefine_secrets

TAG = 'it-rbd-role-%d' % os.getpid()
pytestmark = pytest.mark.ceph

PLAYBOOK = """---
- name: A libvirt rbd pool with the ceph_pool role
  hosts: localhost
  gather_facts: false
  roles:
    - role: kvmops.storage.ceph_pool
"""


@pytest.fixture
def role_names():
    ceph = read_testbed()
    names = {'pool': TAG, 'usage': '%s client.%s secret' % (TAG, ceph['CEPH_CLIENT']), 'image': '%s-disk' % TAG}
    yield ceph, names
    virsh('pool-destroy', names['pool'], check=False)
    virsh('pool-undefine', names['pool'], check=False)
    undefine_secrets(TAG)
    rbd(ceph, 'rm', '--no-progress', '%s/%s' % (ceph['CEPH_POOL'], names['image']), check=False)


def changed_per_task(run):
    """(task name, changed) of each task that ran, in order (skipped ones left out)."""
    return [(task['_task'], bool(task.get('changed'))) for task in run.tasks if task['_status'] != 'skipped']


def actions_per_task(run):
    return [(task['_task'], task.get('actions')) for task in run.tasks if task.get('actions') is not None]


def assuming_tasks(run):
    """Names of the tasks that warned that check mode assumes an earlier task's work."""
    return [task['_task'] for task in run.tasks
            if any('check mode assumes that an earlier task' in warning for warning in task.get('warnings', []))]


def test_ceph_pool_role_twice(role_names, tmp_path):
    ceph, names = role_names
    playbook = tmp_path / 'ceph_pool.yml'
    playbook.write_text(PLAYBOOK)
    role_vars = {
        'ceph_pool_name': names['pool'],
        'ceph_pool_monitors': [ceph['CEPH_MON_HOST']],
        'ceph_pool_rados_pool': ceph['CEPH_POOL'],
        'ceph_pool_client': ceph['CEPH_CLIENT'],
        'ceph_pool_key': ceph['KEY'],
        'ceph_pool_secret_usage': names['usage'],
        'ceph_pool_volumes': [{'name': names['image'], 'capacity': '16MiB'}],
    }
    # a check run on a host without the secret: it predicts the secret, the pool (assuming that secret)
    # and the image (assuming that pool), each task as the real run that follows does it
    checked = run_playbook(str(playbook), role_vars, check=True)
    assert checked.rc == 0, checked.output
    assert checked.recap['localhost']['changed'] == 3, checked.recap  # secret, pool, image
    assert checked.recap['localhost']['failures'] == 0
    assert ceph['KEY'] not in checked.output
    assert not pool_defined(names['pool'])
    assert names['image'] not in images(ceph)

    first = run_playbook(str(playbook), role_vars)
    assert first.rc == 0, first.output
    assert first.recap['localhost']['changed'] == 3, first.recap  # secret, pool, image
    assert ceph['KEY'] not in first.output
    assert changed_per_task(checked) == changed_per_task(first)
    assert [name.split(' : ', 1)[1] for name, changed in changed_per_task(first) if changed] == [
        'Define the libvirt secret holding the client\'s key', 'Define, start and autostart the rbd pool',
        'Create the RBD images']
    # the pool and image tasks assumed what the task before would make; the secret task knew
    assumed = assuming_tasks(checked)
    assert [name.split(' : ', 1)[1] for name in assumed] == [
        'Define, start and autostart the rbd pool', 'Create the RBD images']
    # (the secret task's result is hidden: no_log) the pool's steps are known; an image task on a pool
    # not defined yet cannot tell whether the real run refreshes the pool first (rbd: it does)
    assert actions_per_task(checked) == [
        (assumed[0], ['define', 'start', 'autostart']), (assumed[1], ['create:%s' % names['image']])]
    assert actions_per_task(first) == [
        (assumed[0], ['define', 'start', 'autostart']), (assumed[1], ['refresh', 'create:%s' % names['image']])]
    info = virsh('pool-info', names['pool'])
    assert re.search(r'State:\s+running', info) and re.search(r'Autostart:\s+yes', info), info
    assert images(ceph)[names['image']] == 16 * 1024 * 1024

    # the second run reads the key from the keyring file on the host instead: same key, no change
    again = dict(role_vars, ceph_pool_key='', ceph_pool_keyring=ceph['CEPH_KEYRING'])
    second = run_playbook(str(playbook), again)
    assert second.rc == 0, second.output
    assert second.recap['localhost']['changed'] == 0, second.recap
    assert second.recap['localhost']['failures'] == 0
    assert ceph['KEY'] not in second.output
    assert names['image'] in rbd(ceph, 'ls', ceph['CEPH_POOL']).split()

    removed = run_playbook(str(playbook), dict(role_vars, ceph_pool_state='absent'))
    assert removed.rc == 0, removed.output
    assert not pool_defined(names['pool'])
    assert names['image'] in images(ceph), 'absent leaves the images'


def test_ceph_pool_role_needs_monitors(tmp_path):
    playbook = tmp_path / 'ceph_pool.yml'
    playbook.write_text(PLAYBOOK)
    run = run_playbook(str(playbook), {'ceph_pool_name': TAG, 'ceph_pool_rados_pool': 'x', 'ceph_pool_key': 'QUFB'})
    assert run.rc != 0
    assert 'ceph_pool_monitors, ceph_pool_rados_pool and ceph_pool_key or ceph_pool_keyring are required' in run.output
    assert not pool_defined(TAG)
    # the role's input check fails the play right after the argument spec, before any libvirt task ran
    assert run.recap['localhost'] == {'ok': 1, 'changed': 0, 'failures': 1, 'unreachable': 0, 'skipped': 0,
                                      'rescued': 0, 'ignored': 0}, run.recap
    assert [(task['_task'].split(' : ', 1)[1], task['_status']) for task in run.tasks] == [
        ("Validating arguments against arg spec 'main' - A libvirt rbd pool on a Ceph RADOS pool, with its cephx "
         "secret and RBD images", 'ok'),
        ("Check the role's input", 'failed')]


def test_ceph_pool_role_keyring_without_the_client(tmp_path):
    ceph = read_testbed()
    playbook = tmp_path / 'ceph_pool.yml'
    playbook.write_text(PLAYBOOK)
    run = run_playbook(str(playbook), {'ceph_pool_name': TAG, 'ceph_pool_monitors': [ceph['CEPH_MON_HOST']],
                                       'ceph_pool_rados_pool': ceph['CEPH_POOL'], 'ceph_pool_client': 'nobody',
                                       'ceph_pool_keyring': ceph['CEPH_KEYRING']})
    assert run.rc != 0
    assert '%s has no key for client.nobody' % ceph['CEPH_KEYRING'] in run.output
    assert ceph['KEY'] not in run.output
    assert not pool_defined(TAG)
