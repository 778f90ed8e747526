"""The storage_metrics role and its collector against the real libvirtd: the role installs the collector (its
copy of the collection's module_utils included) into a directory of the test, the installed collector writes
the textfile, whose figures are those virsh pool-info/vol-info report and which promtool finds clean; the
role applied again changes nothing, and state absent removes what it installed.  (The systemd timer runs
in the lab VM: this host has no systemd, so the role runs here with storage_metrics_systemd false.)"""

import os
import re
import shutil
import subprocess
import sys

import pytest

from helpers import REPO, run_playbook, virsh, virsh_sizes
from test_facts import drop_pool

TAG = 'it-metrics-%d' % os.getpid()
MIB = 1024 * 1024
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')

PLAYBOOK = """---
- name: The storage_metrics collector, without systemd
  hosts: localhost
  gather_facts: false
  roles:
    - role: kvmops.storage.storage_metrics
"""


def parse(text):
    """{(name, frozenset of (label, value))}: value, label values unescaped."""
    samples = {}
    for line in text.splitlines():
        if line.startswith('#'):
            continue
        name, labels, value = SAMPLE.match(line).groups()
        pairs = re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', labels or '')
        pairs = [(key, re.sub(r'\\(.)', lambda m: {'n': '\n'}.get(m.group(1), m.group(1)), raw)) for key, raw in pairs]
        samples[(name, frozenset(pairs))] = float(value)
    return samples


@pytest.fixture
def pools(tmp_path):
    """A running dir pool with three volumes (one named with a double quote) and an autostart pool not running."""
    name, off = TAG, TAG + '-off'
    made = []
    try:
        virsh('pool-define-as', name, 'dir', '--target', str(tmp_path / 'pool'))
        made.append(name)
        virsh('pool-build', name)
        virsh('pool-start', name)
        virsh('vol-create-as', name, 'thin.qcow2', '64M', '--format', 'qcow2')
        virsh('vol-create-as', name, 'full.raw', '8M', '--allocation', '8M', '--format', 'raw')
        virsh('vol-create-as', name, 'say "hi".raw', '4M', '--format', 'raw')
        virsh('pool-define-as', off, 'dir', '--target', str(tmp_path / 'off'))
        made.append(off)
        virsh('pool-autostart', off)
        yield {'pool': name, 'off': off, 'volumes': ['thin.qcow2', 'full.raw', 'say "hi".raw']}
    finally:
        for pool in made:
            drop_pool(pool)


def role(tmp_path, check=False, **extra):
    playbook = tmp_path / 'storage_metrics.yml'
    playbook.write_text(PLAYBOOK)
    role_vars = {'storage_metrics_systemd': False, 'storage_metrics_install_packages': False,
                 'storage_metrics_lib_dir': str(tmp_path / 'lib'), 'storage_metrics_textfile_dir': str(tmp_path / 'tf')}
    role_vars.update(extra)
    run = run_playbook(str(playbook), role_vars, check=check)
    assert run.rc == 0, run.output
    return run


def test_role_in_check_mode_reports_the_changes_of_the_real_run_that_follows(tmp_path):
    """--check where nothing is installed, once installed, and once the collection's code changed: no failure,
    nothing written, and as many changed tasks as the real run after it."""
    source = tmp_path / 'copy'  # (a directory named module_utils beside the playbook would be Ansible's own)
    shutil.copytree(os.path.join(REPO, 'plugins', 'module_utils'), str(source),
                    ignore=shutil.ignore_patterns('__pycache__'))
    extra = {'storage_metrics_source_root': str(source)}
    installed = tmp_path / 'lib' / 'ansible_collections' / 'kvmops' / 'storage' / 'plugins' / 'module_utils' / 'metrics.py'

    def changed(run):
        return run.recap['localhost']['changed']

    checked = role(tmp_path, check=True, **extra)
    assert not (tmp_path / 'lib').exists() and not (tmp_path / 'tf').exists(), 'the check run wrote nothing'
    applied = role(tmp_path, **extra)
    assert (changed(checked), changed(applied)) == (2, 2), 'the two directories, the unpack'
    assert changed(role(tmp_path, check=True, **extra)) == 0

    (source / 'metrics.py').write_text((source / 'metrics.py').read_text() + '# a change\n')
    checked = role(tmp_path, check=True, **extra)
    assert not installed.read_text().endswith('# a change\n'), 'the check run unpacked nothing'
    applied = role(tmp_path, **extra)
    assert (changed(checked), changed(applied)) == (1, 1), 'the unpack'
    assert installed.read_text().endswith('# a change\n')


def test_collector_installed_by_the_role_reports_what_libvirt_reports(pools, tmp_path):
    first = role(tmp_path)
    assert first.recap['localhost']['changed'] > 0
    lib = tmp_path / 'lib'
    package = lib / 'ansible_collections' / 'kvmops' / 'storage' / 'plugins' / 'module_utils'
    assert (package / 'metrics.py').is_file() and (package / 'facts.py').is_file()
    assert (package / 'backends' / 'dir.py').is_file()
    assert not list(package.rglob('*.pyc')), 'the copy holds sources only'
    second = role(tmp_path)
    assert second.recap['localhost']['changed'] == 0, second.output

    # the installed collector, run as the timer runs it, with nothing of the checkout on its path
    output = tmp_path / 'tf' / 'kvmops_storage.prom'
    env = dict((key, value) for key, value in os.environ.items()
               if key not in ('PYTHONPATH', 'ANSIBLE_COLLECTIONS_PATH'))
    proc = subprocess.run([sys.executable, '-I', str(lib / 'kvmops_storage_metrics.py'), '--output', str(output),
                           '--volume-limit', '-1'], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'pool %s has autostart set but is not running' % pools['off'] in proc.stderr
    text = output.read_text()
    assert os.listdir(str(tmp_path / 'tf')) == ['kvmops_storage.prom']
    samples = parse(text)

    def value(name, **labels):
        return samples[('libvirt_storage_' + name, frozenset(labels.items()))]

    pool = pools['pool']
    info = virsh_sizes('pool-info', '--bytes', pool)
    assert value('pool_capacity_bytes', pool=pool) == info['capacity']
    assert value('pool_allocation_bytes', pool=pool) == info['allocation']
    assert value('pool_available_bytes', pool=pool) == info['available']
    assert value('pool_active', pool=pool) == 1 and value('pool_state', pool=pool, state='active') == 1
    provisioned = 0
    for name in pools['volumes']:
        vol = virsh_sizes('vol-info', '--bytes', '--pool', pool, name)
        physical = virsh_sizes('vol-info', '--bytes', '--physical', '--pool', pool, name)['physical']
        assert value('volume_capacity_bytes', pool=pool, volume=name) == vol['capacity'], name
        assert value('volume_allocation_bytes', pool=pool, volume=name) == vol['allocation'], name
        assert value('volume_physical_bytes', pool=pool, volume=name) == physical, name
        provisioned += vol['capacity']
    assert provisioned == 76 * MIB
    assert value('pool_provisioned_bytes', pool=pool) == provisioned
    assert value('pool_volumes', pool=pool) == 3
    assert value('pool_overcommit_ratio', pool=pool) == round(provisioned / info['capacity'], 3)
    assert value('volume_allocation_bytes', pool=pool, volume='full.raw') == 8 * MIB
    assert value('pool_autostart_not_running', pool=pools['off']) == 1
    assert value('pool_autostart_not_running', pool=pool) == 0
    assert value('collector_success') == 1 and value('collector_warnings') >= 1
    assert value('collector_volume_series') == 1
    assert value('collector_duration_seconds') > 0
    assert abs(value('collector_last_run_timestamp_seconds') - output.stat().st_mtime) < 300

    check = subprocess.run(['promtool', 'check', 'metrics'], input=text, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert check.returncode == 0 and check.stdout == '', check.stdout

    # state absent removes the collector and its file, the textfile directory stays
    role(tmp_path, storage_metrics_state='absent')
    assert not lib.exists() and not output.exists() and (tmp_path / 'tf').is_dir()


def test_collector_without_libvirtd_says_so_in_the_file(tmp_path):
    """A URI nobody answers: exit 1, an error on stderr, and the file holds collector_success 0."""
    output = tmp_path / 'm.prom'
    collector = os.path.join(REPO, 'roles', 'storage_metrics', 'files', 'kvmops_storage_metrics.py')
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, '.build', 'collections'))
    proc = subprocess.run([sys.executable, collector, '--uri', 'qemu+unix:///system?socket=%s' % (tmp_path / 'none'),
                           '--output', str(output)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False, timeout=120)
    assert proc.returncode == 1 and 'error: cannot connect to libvirt' in proc.stderr, proc.stderr
    samples = parse(output.read_text())
    assert samples[('libvirt_storage_collector_success', frozenset())] == 0
    assert not [name for name, _labels in samples if name.startswith('libvirt_storage_pool_')]
