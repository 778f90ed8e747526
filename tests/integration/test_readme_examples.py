"""`--check` of the README's playbook examples on a host that has none of their objects yet: no
failure, per task the `changed` of the real run that follows; a second real run changes nothing.
The playbooks are in playbooks/ (the NFS pool of the README's example is left out: the host
cannot mount NFS); the image of the import snippet is served by an HTTP server on 127.0.0.1 that the
test starts and stops."""

import base64
import functools
import hashlib
import os
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import HERE, pool_defined, read_testbed, remove_pool, run_playbook, virsh, virsh_dir_pool, volumes_of
from test_pool_rbd import undefine_secrets

TAG = 'ck-readme-%d' % os.getpid()
PLAYBOOKS = os.path.join(HERE, 'playbooks')
GIB = 1024 ** 3


def changed_per_task(run):
    return [(task['_task'], bool(task.get('changed'))) for task in run.tasks]


def assert_ok(run):
    assert run.rc == 0, run.output
    assert all(task['_status'] == 'ok' for task in run.tasks), run.output


def assuming_tasks(run):
    return [task['_task'] for task in run.tasks
            if any('check mode assumes that an earlier task' in warning for warning in task.get('warnings', []))]


def check_then_apply_twice(playbook, extra_vars, made_nothing):
    """check, apply, apply; ``made_nothing()`` asserts after the check run that it changed nothing."""
    checked = run_playbook(os.path.join(PLAYBOOKS, playbook), extra_vars, check=True)
    assert_ok(checked)
    made_nothing()
    first = run_playbook(os.path.join(PLAYBOOKS, playbook), extra_vars)
    assert_ok(first)
    assert changed_per_task(checked) == changed_per_task(first)
    second = run_playbook(os.path.join(PLAYBOOKS, playbook), extra_vars)
    assert_ok(second)
    assert [changed for _task, changed in changed_per_task(second)] == [False] * len(second.tasks), second.output
    return checked, first, second


@pytest.mark.libvirt
def test_readme_playbook_example(tmp_path):
    name = '%s-images' % TAG
    images_dir = str(tmp_path / 'images')
    # the images directory as Debian's libvirt package makes it, with the golden image web3 is made
    # over in it already; the pool is not defined
    os.mkdir(images_dir)
    os.chmod(images_dir, 0o711)
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', os.path.join(images_dir, 'golden.qcow2'), '2G'],
                   check=True)
    try:
        def made_nothing():
            assert not pool_defined(name)
            assert os.listdir(images_dir) == ['golden.qcow2']
        checked, first, _second = check_then_apply_twice('readme_playbook.yml',
                                                         {'pool_name': name, 'images_dir': images_dir}, made_nothing)
        assert [task['actions'] for task in checked.tasks] == [task['actions'] for task in first.tasks] == [
            ['define', 'start', 'autostart'], ['create:web1.qcow2', 'create:web2.qcow2', 'create:web3.qcow2']]
        assert assuming_tasks(checked) == ['Disks of the web tier, in one task']
        volumes = dict((v['name'], v) for v in first.tasks[1]['volumes'])
        assert volumes['web1.qcow2']['capacity'] == 40 * GIB
        assert volumes['web3.qcow2']['capacity'] == 2 * GIB
        assert volumes['web3.qcow2']['backing_store']['path'] == os.path.join(images_dir, 'golden.qcow2')
        assert sorted(os.listdir(images_dir)) == ['golden.qcow2', 'web1.qcow2', 'web2.qcow2', 'web3.qcow2']
    finally:
        for vol in ('web1.qcow2', 'web2.qcow2', 'web3.qcow2'):
            virsh('vol-delete', '--pool', name, vol, check=False)
        virsh('pool-destroy', name, check=False)
        virsh('pool-undefine', name, check=False)


@pytest.mark.ceph
def test_readme_ceph_example():
    ceph = read_testbed()
    name = '%s-rbd' % TAG
    usage_id = '%s client.%s secret' % (TAG, ceph['CEPH_CLIENT'])
    extra_vars = {'pool_name': name, 'secret_usage_id': usage_id, 'ceph_client_libvirt_key': ceph['KEY'],
                  'monitors': [ceph['CEPH_MON_HOST']], 'rados_pool': ceph['CEPH_POOL'],
                  'ceph_client': ceph['CEPH_CLIENT']}
    try:
        def made_nothing():
            assert not pool_defined(name)
            assert TAG not in virsh('secret-list')
        checked, first, second = check_then_apply_twice('readme_ceph.yml', extra_vars, made_nothing)
        assert [changed for _task, changed in changed_per_task(checked)] == [True, True]
        assert assuming_tasks(checked) == ['The RADOS pool as a libvirt pool']
        assert [task['actions'] for task in checked.tasks] == [task['actions'] for task in first.tasks]
        assert first.tasks[1]['actions'] == ['define', 'start', 'autostart']
        assert first.tasks[1]['pool']['active'] is True
        for run in (checked, first, second):
            assert ceph['KEY'] not in run.output
    finally:
        virsh('pool-destroy', name, check=False)
        virsh('pool-undefine', name, check=False)
        undefine_secrets(TAG)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.libvirt
def test_readme_import_secrets_and_facts_snippets(tmp_path):
    served = tmp_path / 'www'
    served.mkdir()
    image = served / 'cloud.qcow2'
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', str(image), '16M'], check=True)
    subprocess.run(['xz', '-0', '-T1', str(image)], check=True)
    xz_file = served / 'cloud.qcow2.xz'
    server = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_QuietHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pool = '%s-import' % TAG
    virsh_dir_pool(pool, str(tmp_path / 'images'))
    ceph_key = base64.b64encode(os.urandom(16)).decode()
    backup = tmp_path / 'backup'
    backup.mkdir()
    extra_vars = {'pool_name': pool, 'image_capacity': '20MiB', 'backup_dir': str(backup),
                  'image_url': 'http://127.0.0.1:%d/cloud.qcow2.xz' % server.server_address[1],
                  'vendor_sha512_of_the_xz_file': hashlib.sha512(xz_file.read_bytes()).hexdigest(),
                  'ceph_usage_id': '%s client.libvirt secret' % TAG, 'ceph_key': ceph_key,
                  'chap_usage_id': '%s-san1-chap' % TAG, 'chap_password': 'ck-%s' % TAG}
    playbook = os.path.join(PLAYBOOKS, 'readme_import_secrets_facts.yml')
    try:
        checked = run_playbook(playbook, extra_vars, check=True)
        assert checked.rc == 0, checked.output
        assert volumes_of(pool) == [] and TAG not in virsh('secret-list'), 'the check run made nothing'
        assert os.listdir(str(backup)) == []
        # the backup of the volume the import task before it makes
        assert assuming_tasks(checked) == ['Back up a volume before a change, as compressed qcow2']
        first = run_playbook(playbook, extra_vars)
        assert first.rc == 0, first.output
        assert changed_per_task(checked) == changed_per_task(first)
        assert [changed for _task, changed in changed_per_task(first)][:3] == [True, True, True]
        assert checked.tasks[0]['actions'] == first.tasks[0]['actions']
        assert first.tasks[0]['volume']['format'] == 'qcow2' and first.tasks[0]['volume']['capacity'] == 20 * 1024 ** 2
        assert first.tasks[1]['export']['checksum'].startswith('sha256:')
        assert sorted(os.listdir(str(backup))) == ['debian-12.qcow2.zst', 'debian-12.qcow2.zst.sha256']
        second = run_playbook(playbook, extra_vars)
        assert second.rc == 0, second.output
        assert not any(changed for _task, changed in changed_per_task(second)), second.output
        facts_task = [task for task in first.tasks if task['_task'] == 'Gather the pools and their volumes'][0]
        assert os.path.join(str(tmp_path / 'images'), 'debian-12.qcow2') in facts_task['query_result']
        for run in (checked, first, second):
            assert ceph_key not in run.output and extra_vars['chap_password'] not in run.output
    finally:
        server.shutdown()
        server.server_close()
        virsh('vol-delete', '--pool', pool, 'debian-12.qcow2', check=False)
        remove_pool(pool)
        undefine_secrets(TAG)
