"""The storage_metrics role on the lab hypervisor VM (systemd, Debian's prometheus-node-exporter): the timer
installed and enabled, the service run once, and the metrics read back from node_exporter's HTTP endpoint in
the VM with the figures virsh reports there."""

import os
import re

import pytest

from helpers import run_playbook, sizes_of
# lab_vm: the autouse fixture of test_lab (skips the module when the VM is not running)
from test_lab import INVENTORY, lab, lab_virsh, lab_vm  # noqa: F401 pylint: disable=unused-import

pytestmark = pytest.mark.lab

TAG = 'it-lab-metrics-%d' % os.getpid()
POOL_DIR = '/var/lib/libvirt/%s' % TAG
PLAYBOOK = """---
- name: Storage metrics on the lab hypervisor
  hosts: lab
  gather_facts: false
  roles:
    - role: kvmops.storage.storage_metrics
"""
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')
# node_exporter's page, read with the VM's Python (the image has no curl)
SCRAPE = ("python3 -c 'import urllib.request; "
          "print(urllib.request.urlopen(\"http://127.0.0.1:9100/metrics\", timeout=60).read().decode())'")


def scrape():
    samples = {}
    for line in lab(SCRAPE).splitlines():
        if line.startswith('#') or not line.strip():
            continue
        name, labels, value = SAMPLE.match(line).groups()
        samples[(name, frozenset(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', labels or '')))] = float(value)
    return samples


def sizes(*args):
    return sizes_of(lab_virsh(*args))


@pytest.fixture
def metrics_pool(tmp_path):
    playbook = tmp_path / 'storage_metrics.yml'
    playbook.write_text(PLAYBOOK)
    lab_virsh('pool-define-as', TAG, 'dir', '--target', POOL_DIR)
    try:
        lab_virsh('pool-build', TAG)
        lab_virsh('pool-start', TAG)
        lab_virsh('vol-create-as', TAG, 'disk.qcow2', '32M', '--format', 'qcow2')
        lab_virsh('vol-create-as', TAG, 'full.raw', '2M', '--allocation', '2M', '--format', 'raw')
        yield str(playbook)
    finally:
        run_playbook(str(playbook), {'storage_metrics_state': 'absent'}, inventory=INVENTORY)
        lab_virsh('pool-destroy', TAG, check=False)
        lab_virsh('pool-delete', TAG, check=False)
        lab_virsh('pool-undefine', TAG, check=False)


def test_storage_metrics_role_through_node_exporter(metrics_pool):
    # the image has the collector's Python libraries (the package task costs 20 s in the emulated VM); the
    # role's second run changing nothing is tested on this host (test_metrics.py)
    run = run_playbook(metrics_pool, {'storage_metrics_install_packages': False}, inventory=INVENTORY)
    assert run.rc == 0, run.output
    # the handler ran the collector once already
    assert [(task['_status'], task.get('changed')) for task in run.tasks
            if task['_task'].endswith(': Run the storage metrics collector')] == [('ok', True)]
    assert lab('systemctl is-enabled kvmops-storage-metrics.timer; systemctl is-active kvmops-storage-metrics.timer'
               ).split() == ['enabled', 'active']
    # the timer's service run once more, as the timer runs it
    lab('systemctl start kvmops-storage-metrics.service')
    assert lab('systemctl show -p Result --value kvmops-storage-metrics.service').strip() == 'success'
    prom = '/var/lib/prometheus/node-exporter/kvmops_storage.prom'
    assert lab('ls -a /var/lib/prometheus/node-exporter').split() == ['.', '..', 'kvmops_storage.prom']
    samples = scrape()

    def value(name, **labels):
        return samples[(name, frozenset(labels.items()))]

    # node_exporter read the file without complaint
    assert value('node_textfile_scrape_error') == 0
    assert ('node_textfile_mtime_seconds', frozenset({('file', prom)})) in samples
    info = sizes('pool-info', '--bytes', TAG)
    assert value('libvirt_storage_pool_capacity_bytes', pool=TAG) == info['capacity']
    assert value('libvirt_storage_pool_allocation_bytes', pool=TAG) == info['allocation']
    assert value('libvirt_storage_pool_available_bytes', pool=TAG) == info['available']
    provisioned = 0
    for name in ('disk.qcow2', 'full.raw'):
        vol = sizes('vol-info', '--bytes', '--pool', TAG, name)
        assert value('libvirt_storage_volume_capacity_bytes', pool=TAG, volume=name) == vol['capacity']
        assert value('libvirt_storage_volume_allocation_bytes', pool=TAG, volume=name) == vol['allocation']
        provisioned += vol['capacity']
    assert value('libvirt_storage_pool_provisioned_bytes', pool=TAG) == provisioned == 34 * 1024 * 1024
    assert value('libvirt_storage_collector_success') == 1
    ran_at = float(lab('date +%s.%N'))
    assert 0 <= ran_at - value('libvirt_storage_collector_last_run_timestamp_seconds') < 300
