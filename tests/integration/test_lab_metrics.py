"""The storage_metrics role on the lab hypervisor VM (systemd, Debian's prometheus-node-exporter): the timer
installed and enabled, the service run once, and the metrics read back from node_exporter's HTTP endpoint in
the VM, and from a Prometheus server on this host (Debian's prometheus) that scrapes it through an SSH
tunnel and loads the role's alerting rules, with the figures virsh reports there."""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from helpers import REPO, run_playbook, sizes_of
# lab_vm: the autouse fixture of test_lab (skips the module when the VM is not running)
from test_lab import INVENTORY, lab, lab_virsh, lab_vm  # noqa: F401 pylint: disable=unused-import
from test_lab import LAB_KEY, LAB_PORT

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


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def wait_for(what, probe, seconds=60):
    """``probe()``'s first true answer within ``seconds``; the last error otherwise."""
    deadline, error = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        try:
            answer = probe()
            if answer:
                return answer
        except (OSError, ValueError) as exc:
            error = exc
        time.sleep(0.5)
    raise AssertionError('%s: no answer within %d s (%s)' % (what, seconds, error))


@pytest.fixture
def prometheus(tmp_path):
    """Prometheus on 127.0.0.1 scraping the VM's node_exporter every second through an SSH tunnel (the VM's
    port 9100 forwarded to a free loopback port here), with the role's alerting rules; yields a function that
    runs an instant query and returns {labels: value}."""
    if not shutil.which('prometheus'):
        pytest.fail('prometheus is not installed (scripts/setup.sh installs Debian\'s prometheus)')
    exporter, web = free_port(), free_port()
    tunnel = subprocess.Popen(
        ['ssh', '-i', LAB_KEY, '-p', LAB_PORT, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
         '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ExitOnForwardFailure=yes', '-o', 'LogLevel=ERROR', '-N',
         '-L', '127.0.0.1:%d:127.0.0.1:9100' % exporter, 'root@127.0.0.1'])
    config = tmp_path / 'prometheus.yml'
    config.write_text(json.dumps({
        'global': {'scrape_interval': '1s', 'evaluation_interval': '1s'},
        'rule_files': [os.path.join(REPO, 'roles', 'storage_metrics', 'files', 'alerts.yml')],
        'scrape_configs': [{'job_name': 'node', 'static_configs': [
            {'targets': ['127.0.0.1:%d' % exporter], 'labels': {'instance': 'lab'}}]}]}))
    log = open(str(tmp_path / 'prometheus.log'), 'w')
    server = subprocess.Popen(['prometheus', '--config.file=%s' % config, '--storage.tsdb.path=%s' % (tmp_path / 'data'),
                               '--web.listen-address=127.0.0.1:%d' % web], stdout=log, stderr=subprocess.STDOUT)
    api = 'http://127.0.0.1:%d' % web

    def get(path, **params):
        url = api + path + ('?' + urllib.parse.urlencode(params) if params else '')
        with urllib.request.urlopen(url, timeout=10) as answer:
            return json.loads(answer.read().decode())

    def query(expression):
        answer = get('/api/v1/query', query=expression)
        assert answer['status'] == 'success', answer
        return {frozenset(item['metric'].items()): float(item['value'][1]) for item in answer['data']['result']}

    query.get = get
    try:
        wait_for('prometheus at %s' % api, lambda: urllib.request.urlopen(api + '/-/ready', timeout=5).status == 200)
        yield query
    finally:
        for proc in (server, tunnel):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


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


def test_storage_metrics_role_through_node_exporter(metrics_pool, prometheus):  # pylint: disable=redefined-outer-name
    # the image has the collector's Python libraries (the package task costs 20 s in the emulated VM); the
    # role's second run changing nothing is tested on this host (test_metrics.py)
    role_vars = {'storage_metrics_install_packages': False}
    installed = ' '.join(['/etc/systemd/system/kvmops-storage-metrics.%s' % kind for kind in ('service', 'timer')]
                         + ['/usr/local/lib/kvmops-storage-metrics'])
    assert lab('ls -d %s 2>/dev/null; true' % installed) == '', 'the VM has the collector already'
    # check mode where nothing is installed: systemd knows no such unit, so the role predicts what it would do
    checked = run_playbook(metrics_pool, role_vars, check=True, inventory=INVENTORY)
    assert checked.rc == 0, checked.output
    assert lab('ls -d %s 2>/dev/null; true' % installed) == '', 'the check run installed something'
    run = run_playbook(metrics_pool, role_vars, inventory=INVENTORY)
    assert run.rc == 0, run.output
    assert checked.recap['lab']['changed'] == run.recap['lab']['changed'] > 0, (checked.recap, run.recap)
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

    # Prometheus scraped node_exporter and holds the same figures, with the labels the alerts and the dashboard
    # select on (instance from the scrape configuration)
    def stored(name, **labels):
        selector = ','.join('%s="%s"' % item for item in sorted(labels.items()))
        found = wait_for('%s{%s} in Prometheus' % (name, selector), lambda: prometheus('%s{%s}' % (name, selector)))
        assert len(found) == 1, found
        (series, number), = found.items()
        assert dict(series)['instance'] == 'lab' and dict(series)['job'] == 'node', series
        return number

    assert stored('libvirt_storage_pool_capacity_bytes', pool=TAG) == info['capacity']
    assert stored('libvirt_storage_pool_provisioned_bytes', pool=TAG) == provisioned
    assert stored('libvirt_storage_volume_capacity_bytes', pool=TAG, volume='full.raw') == 2 * 1024 * 1024
    assert stored('libvirt_storage_collector_success') == 1
    # the role's alerting rules loaded, evaluated without error, and none of them fires on this healthy pool
    groups = wait_for('rule evaluation', lambda: [
        group for group in prometheus.get('/api/v1/rules')['data']['groups']
        if all(rule.get('lastEvaluation', '').startswith('20') for rule in group['rules'])])
    rules = [rule for group in groups for rule in group['rules']]
    assert rules and all(rule['health'] == 'ok' for rule in rules), rules
    firing = [alert for alert in prometheus.get('/api/v1/alerts')['data']['alerts']
              if alert['labels'].get('pool') == TAG]
    assert firing == [], firing
