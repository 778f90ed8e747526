"""The kvmops.storage.ceph_pool role against the real libvirtd and the one-node Ceph cluster of
scripts/servers.sh: applied twice (the second run changes nothing), its image seen by rbd."""

import json
import os
import re

import pytest

from helpers import pool_defined, run_playbook, virsh
from test_pool_rbd import images, rbd, read_testbed, undefine_secrets

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
    # a check run on a host without the secret: it would make the secret, and leaves the pool (whose
    # secret does not exist yet) and its images to the real run instead of failing on them
    checked = run_playbook(str(playbook), role_vars, check=True)
    assert checked.rc == 0, checked.output
    assert checked.recap['localhost']['changed'] == 1, checked.recap  # secret
    assert checked.recap['localhost']['failures'] == 0
    assert ceph['KEY'] not in checked.output
    assert not pool_defined(names['pool'])

    first = run_playbook(str(playbook), role_vars)
    assert first.rc == 0, first.output
    assert first.recap['localhost']['changed'] == 3, first.recap  # secret, pool, image
    assert ceph['KEY'] not in first.output
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
    assert json.dumps(run.recap)  # the run got as far as the recap


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
