"""Fixtures for the integration tests (real libvirtd, real tgtd, loop devices); helpers are in helpers.py.

Run through scripts/test.sh, which starts the servers (scripts/servers.sh) and sets PATH and
ANSIBLE_COLLECTIONS_PATH; by hand: `scripts/servers.sh start all`, then
`.venv/bin/python -m pytest tests/integration`.
"""

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from helpers import mounts_of, remove_pool, run_module, virsh, virsh_dir_pool  # noqa: E402  pylint: disable=wrong-import-position


def pytest_configure(config):
    config.addinivalue_line('markers', 'libvirt: needs the real libvirtd')
    config.addinivalue_line('markers', 'tgtd: needs the tgtd iSCSI target on 127.0.0.1:3260')
    config.addinivalue_line('markers', 'ceph: needs the one-node Ceph cluster of scripts/servers.sh on 127.0.0.1:6789')
    config.addinivalue_line('markers', 'lab: needs the lab hypervisor VM (tests/lab/lab.sh start)')
    config.addinivalue_line('markers', 'pool_type(name): runs a pool of that type for real (docs/pool_types.md lists '
                                       'these tests, scripts/pool_types_doc.py reads the marks)')
    if os.geteuid() != 0:
        raise pytest.UsageError('the integration tests manage libvirt pools and loop devices: run them as root')


@pytest.fixture
def loopdev(tmp_path):
    """Factory: ``loopdev(size_mb)`` -> ``/dev/loopN`` over a new sparse file, with partition
    scanning on (``/dev/loopNp1``... after partitioning). At teardown whatever is still mounted
    from the device or its partitions is unmounted and that device is detached."""
    made = []

    def make(size_mb):
        image = tmp_path / ('loop%d.img' % len(made))
        with open(str(image), 'wb') as handle:
            handle.truncate(int(size_mb) * 1024 * 1024)
        device = subprocess.run(['losetup', '-f', '--show', '-P', str(image)], stdout=subprocess.PIPE,
                                universal_newlines=True, check=True).stdout.strip()
        made.append(device)
        return device

    yield make
    for device in reversed(made):
        for target in mounts_of(device):
            subprocess.run(['umount', target], check=False)
        subprocess.run(['losetup', '-d', device], check=False)


@pytest.fixture
def pool(request, tmp_path):
    """A running dir pool made with virsh in a new directory: ``(pool name, directory)``; removed at teardown.
    Its name is the test module's POOL_PREFIX and this process's PID."""
    name = '%s-%d' % (request.module.POOL_PREFIX, os.getpid())
    path = str(tmp_path / 'pool')
    virsh_dir_pool(name, path)
    yield name, path
    remove_pool(name)


@pytest.fixture
def pool2(request, tmp_path):
    """A second running dir pool like ``pool`` (named POOL_PREFIX-2-PID): ``(pool name, directory)``."""
    name = '%s-2-%d' % (request.module.POOL_PREFIX, os.getpid())
    path = str(tmp_path / 'pool2')
    virsh_dir_pool(name, path)
    yield name, path
    remove_pool(name)


@pytest.fixture
def disk_pool(loopdev):
    """A running gpt disk pool on a new 96 MiB loop device: ``(pool name, device)``; removed at teardown."""
    device = loopdev(96)
    name = 'it-disk-%d' % os.getpid()
    built = run_module('storage_pool', {'name': name, 'type': 'disk', 'source_dev': [device],
                                        'source_format': 'gpt', 'target': '/dev'})
    assert built['failed'] is False, built.get('msg')
    yield name, device
    virsh('pool-destroy', name, check=False)
    virsh('pool-undefine', name, check=False)
