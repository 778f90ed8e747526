"""Check mode changes nothing, not even a pool refresh; volume tasks converge while the pool is busy.

libvirt stops a pool whose refresh fails, and refuses a refresh while it creates or copies a volume
in the pool ("pool ... has asynchronous jobs running").  Real libvirtd, dir pools under tmp_path.
"""

import os
import subprocess
import threading
import time

import pytest

from helpers import pool_state, remove_pool, run_module, run_playbook, virsh, virsh_dir_pool, volumes_of

pytestmark = pytest.mark.libvirt

MIB = 1024 * 1024
TAG = 'ck-%d' % os.getpid()


@pytest.fixture
def dir_pool(tmp_path):
    name = '%s-dir' % TAG
    path = str(tmp_path / 'pool')
    virsh_dir_pool(name, path)
    yield name, path
    remove_pool(name)


# ---- check mode makes no refresh ------------------------------------------------------------------

def test_check_mode_leaves_a_pool_whose_refresh_would_fail_running(dir_pool):
    """A dir pool whose directory was removed behind libvirt's back: a refresh would fail, and libvirt
    stops a pool whose refresh fails.  Check runs of volume and pool tasks must not try one."""
    name, path = dir_pool
    os.rmdir(path)
    created = run_module('storage_volume', {'pool': name, 'name': 'v.qcow2', 'capacity': '1GiB', 'format': 'qcow2'},
                         check=True)
    assert created['failed'] is False, created.get('msg')
    assert created['changed'] is True and created['actions'] == ['create']
    assert pool_state(name) == 'running'

    bulk = run_module('storage_volume', {'pool': name, 'capacity': '1MiB',
                                         'volumes': [{'name': 'a'}, {'name': 'b', 'state': 'absent'}]}, check=True)
    assert bulk['failed'] is False, bulk.get('msg')
    assert bulk['actions'] == ['create:a']
    assert pool_state(name) == 'running'

    deleted = run_module('storage_pool', {'name': name, 'state': 'deleted'}, check=True)
    assert deleted['failed'] is False, deleted.get('msg')
    assert deleted['actions'] == ['refresh', 'stop', 'delete', 'undefine']
    assert pool_state(name) == 'running'


def test_check_mode_of_a_volume_made_outside_libvirt(dir_pool):
    """A file copied into the pool's directory: the real run refreshes to adopt it, check mode only says so."""
    name, path = dir_pool
    with open(os.path.join(path, 'copied.raw'), 'wb') as handle:
        handle.truncate(4 * MIB)
    args = {'pool': name, 'name': 'copied.raw', 'capacity': '4MiB'}
    checked = run_module('storage_volume', args, check=True)
    assert checked['failed'] is False, checked.get('msg')
    assert checked['actions'] == ['refresh'] and checked['changed'] is False
    assert 'copied.raw' not in volumes_of(name), 'check mode refreshed the pool'
    applied = run_module('storage_volume', args)
    assert applied['failed'] is False, applied.get('msg')
    assert applied['actions'] == ['refresh'] and applied['changed'] is False
    assert applied['volume']['capacity'] == 4 * MIB
    again = run_module('storage_volume', args)
    assert again['actions'] == [] and again['changed'] is False


def test_check_mode_predicts_a_new_volume_without_a_refresh(dir_pool):
    name, _path = dir_pool
    args = {'pool': name, 'name': 'new.qcow2', 'capacity': '1GiB', 'format': 'qcow2'}
    checked = run_module('storage_volume', args, check=True)
    applied = run_module('storage_volume', args)
    assert (checked['changed'], checked['actions']) == (applied['changed'], applied['actions']) == (True, ['create'])


# ---- concurrency --------------------------------------------------------------------------------------

def write_random(path, mib):
    """Fill the first ``mib`` MiB of the file ``path`` with random bytes."""
    with open(path, 'r+b') as handle:
        handle.write(os.urandom(mib * MIB))


def _clone_in_background(pool_name, source, target):
    """Start `virsh vol-clone` and return once libvirt has registered the copy (the pool is then busy)."""
    proc = subprocess.Popen(['virsh', '-c', 'qemu:///system', 'vol-clone', '--pool', pool_name, source, target],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    deadline = time.time() + 30
    while time.time() < deadline and target not in volumes_of(pool_name):
        time.sleep(0.1)
    return proc


def test_volume_tasks_converge_while_vol_clone_copies(dir_pool):
    name, path = dir_pool
    virsh('vol-create-as', name, 'big.raw', '1G', '--format', 'raw')
    write_random(os.path.join(path, 'big.raw'), 384)  # real data, so that the copy takes seconds
    clone = _clone_in_background(name, 'big.raw', 'copy.raw')
    try:
        # the pool is busy now: a refresh is refused until the copy ends
        busy = subprocess.run(['virsh', '-c', 'qemu:///system', 'pool-refresh', name], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, check=False)
        assert busy.returncode != 0 and 'has asynchronous jobs running' in busy.stdout, (
            'the copy ended too soon to test anything: %s' % busy.stdout)
        single = run_module('storage_volume', {'pool': name, 'name': 'during.qcow2', 'capacity': '1GiB',
                                               'format': 'qcow2'})
        assert single['failed'] is False, single.get('msg')
        assert single['actions'] == ['create']
        bulk = run_module('storage_volume', {'pool': name, 'capacity': '16MiB',
                                             'volumes': [{'name': 'd%d' % i} for i in range(3)]})
        assert bulk['failed'] is False, bulk.get('msg')
        assert bulk['actions'] == ['create:d0', 'create:d1', 'create:d2']
        # a refresh the task asks for waits for the copy to end
        refreshed = run_module('storage_pool', {'name': name, 'type': 'dir', 'target': path, 'refresh': True})
        assert refreshed['failed'] is False, refreshed.get('msg')
        assert refreshed['actions'] == ['refresh'] and refreshed['changed'] is False
    finally:
        out, err = clone.communicate(timeout=300)
    assert clone.returncode == 0, out + err
    assert volumes_of(name) == ['big.raw', 'copy.raw', 'd0', 'd1', 'd2', 'during.qcow2']


def test_two_bulk_runs_at_once_on_one_pool(dir_pool, tmp_path):
    """Two playbooks making volumes in one pool at the same time both succeed: one clones a volume
    with real data (each copy takes seconds), the other creates volumes meanwhile, a few per task."""
    name, path = dir_pool
    virsh('vol-create-as', name, 'golden.raw', '256M', '--format', 'raw')
    write_random(os.path.join(path, 'golden.raw'), 256)
    playbook = tmp_path / 'bulk.yml'
    playbook.write_text("""---
- name: Volumes in a shared pool
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Make the volumes, a few at a time
      kvmops.storage.storage_volume:
        pool: "{{ pool }}"
        capacity: 64MiB
        volumes: "{{ item }}"
      loop: "{{ batches }}"
""")
    # the task's 64MiB would be less than the source: a clone item says the source's size
    clones = [[{'name': 'clone%d.raw' % i, 'clone_from': {'name': 'golden.raw'}, 'capacity': '256MiB'}
               for i in range(3)]]
    creates = [[{'name': 'new%d-%d.raw' % (batch, i)} for i in range(2)] for batch in range(5)]
    runs = {}

    def run(key, batches):
        runs[key] = run_playbook(str(playbook), {'pool': name, 'batches': batches})
    threads = [threading.Thread(target=run, args=('clones', clones))]
    threads[0].start()
    deadline = time.time() + 300
    while not any(v.startswith('clone') for v in volumes_of(name)):
        assert threads[0].is_alive(), 'the clone run ended before a clone appeared:\n%s' % runs['clones'].output
        assert time.time() < deadline, 'no clone appeared within 300 s'
        time.sleep(0.1)
    threads.append(threading.Thread(target=run, args=('creates', creates)))
    threads[1].start()
    for thread in threads:
        thread.join(timeout=600)
    for key in ('clones', 'creates'):
        assert runs[key].rc == 0, runs[key].output
        assert runs[key].recap['localhost']['changed'] == 1
    assert volumes_of(name) == sorted(['golden.raw'] + ['clone%d.raw' % i for i in range(3)]
                                      + ['new%d-%d.raw' % (b, i) for b in range(5) for i in range(2)])
