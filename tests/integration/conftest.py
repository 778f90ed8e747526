"""Fixtures for the integration tests (real libvirtd, real tgtd, loop devices)."""

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def pytest_configure(config):
    config.addinivalue_line('markers', 'libvirt: needs the real libvirtd')
    config.addinivalue_line('markers', 'tgtd: needs the tgtd iSCSI target on 127.0.0.1:3260')
    if os.geteuid() != 0:
        raise pytest.UsageError('the integration tests manage libvirt pools and loop devices: run them as root')


@pytest.fixture
def loopdev(tmp_path):
    """Factory: loopdev(size_mb) -> /dev/loopN backed by a sparse file; detached afterwards."""
    made = []

    def make(size_mb):
        image = tmp_path / ('loop%d.img' % len(made))
        with open(image, 'wb') as handle:
            handle.truncate(size_mb * 1024 * 1024)
        device = subprocess.run(['losetup', '-f', '--show', '-P', str(image)], stdout=subprocess.PIPE,
                                universal_newlines=True, check=True).stdout.strip()
        made.append(device)
        return device

    yield make
    for device in made:
        subprocess.run(['umount', device], stderr=subprocess.DEVNULL, check=False)
        subprocess.run(['losetup', '-d', device], check=False)
