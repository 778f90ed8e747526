"""Helpers for the integration tests: run modules and playbooks through Ansible, call virsh.

Modules run the way users run them: `ansible localhost -c local -i localhost, -m FQCN -a JSON`
and `ansible-playbook`, with the collection found through ANSIBLE_COLLECTIONS_PATH
(.build/collections, made by scripts/setup.sh) and the task results read as JSON from the
stdout callback in callback_plugins/result_json.py.
"""

import collections
import hashlib
import json
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
URI = os.environ.get('KVMOPS_URI', 'qemu:///system')

RESULT_MARKER = 'RESULT_JSON '
RECAP_MARKER = 'RECAP_JSON '
TASK_START_MARKER = 'TASK_START_JSON '


class ModuleResult(dict):
    """A module's result dict, plus what the `ansible` command printed.

    ``output`` is stdout followed by stderr, ``stdout``/``stderr`` each alone, ``rc`` the exit
    status and ``command`` the argv.
    """

    output = stdout = stderr = ''
    rc = None
    command = ()


PlaybookRun = collections.namedtuple('PlaybookRun', 'tasks recap output rc task_starts')
PlaybookRun.__doc__ = """One ansible-playbook run: ``tasks`` (the results in the order they came, each
with _status, _host, _task and _action keys), ``recap`` ({host: {ok, changed, failures,
unreachable, skipped, rescued, ignored}}), ``output`` (stdout then stderr), ``rc`` and
``task_starts`` ([(task name, time.time() when it started)...], then (None, the end of the run))."""


def ansible_env(extra=None):
    """The environment the ansible commands run with."""
    env = dict(os.environ)
    env.setdefault('ANSIBLE_COLLECTIONS_PATH', os.path.join(REPO, '.build', 'collections'))
    env.update({
        'ANSIBLE_STDOUT_CALLBACK': 'result_json',
        'ANSIBLE_CALLBACK_PLUGINS': os.path.join(HERE, 'callback_plugins'),
        # the ad hoc command ignores the stdout callback setting without this
        'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1',
        'ANSIBLE_LOCALHOST_WARNING': 'false',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': 'false',
        # the modules need the virtualenv's libvirt-python and lxml
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
        'PATH': os.path.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', os.defpath),
    })
    env.update(extra or {})
    return env


def _run(argv, timeout, env=None):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env=ansible_env(env), check=False, timeout=timeout)


def _marked(stdout, marker):
    return [json.loads(line[len(marker):]) for line in stdout.splitlines() if line.startswith(marker)]


def _options(check, diff, verbosity):
    options = []
    if check:
        options.append('--check')
    if diff:
        options.append('--diff')
    if verbosity:
        options.append('-' + 'v' * verbosity)
    return options


def _target(inventory):
    """(inventory and connection argv, env) for localhost or the hosts of an inventory file."""
    if inventory is None:
        return ['-c', 'local', '-i', 'localhost,'], {}
    # the inventory says which Python runs the modules on its hosts
    return ['-i', inventory], {'ANSIBLE_PYTHON_INTERPRETER': 'auto_silent', 'ANSIBLE_HOST_KEY_CHECKING': 'false'}


def run_module(module, args, check=False, diff=False, verbosity=0, raw=False, env=None, timeout=600,
               inventory=None, host=None):
    """Run a module ad hoc on localhost and return its result (a ModuleResult).

    With ``inventory`` (an inventory file) it runs on ``host`` of that inventory instead, over
    the connection the inventory gives (e.g. SSH to the lab VM).

    ``module`` is a short name in kvmops.storage (``storage_pool``) or a full name
    (``ansible.builtin.ping``); ``args`` a dict, passed as JSON so types survive. ``failed`` is
    always set (True for a failed or unreachable result). With ``raw`` the result also carries
    the command's output under ``_output``.
    """
    name = module if '.' in module else 'kvmops.storage.%s' % module
    target, target_env = _target(inventory)
    pattern = 'localhost' if inventory is None else host or 'all'
    argv = ['ansible', pattern] + target + ['-m', name, '-a', json.dumps(args or {})] + _options(check, diff, verbosity)
    proc = _run(argv, timeout, dict(target_env, **(env or {})))
    output = proc.stdout + proc.stderr
    results = _marked(proc.stdout, RESULT_MARKER)
    if len(results) != 1:
        raise AssertionError('expected one result from %s (exit %d), got %d:\n%s'
                             % (' '.join(argv), proc.returncode, len(results), output))
    result = ModuleResult(results[0])
    result['failed'] = bool(result.get('failed')) or result['_status'] in ('failed', 'unreachable')
    if raw:
        result['_output'] = output
    result.output, result.stdout, result.stderr = output, proc.stdout, proc.stderr
    result.rc, result.command = proc.returncode, tuple(argv)
    return result


def four_calls(module, args, **target):
    """check -> apply -> check again -> apply again, all with --diff; returns the four results.

    ``target``: ``inventory`` and ``host`` as for run_module."""
    first_check = run_module(module, args, check=True, diff=True, **target)
    applied = run_module(module, args, diff=True, **target)
    second_check = run_module(module, args, check=True, diff=True, **target)
    second = run_module(module, args, diff=True, **target)
    return first_check, applied, second_check, second


def run_playbook(path, extra_vars=None, check=False, diff=False, verbosity=0, env=None, timeout=1800,
                 inventory=None):
    """Run a playbook on localhost (``-c local -i localhost,``), or with ``inventory`` (an
    inventory file) on the hosts the playbook names from it; returns a PlaybookRun."""
    target, target_env = _target(inventory)
    argv = ['ansible-playbook'] + target + [path] + _options(check, diff, verbosity)
    if extra_vars:
        argv += ['-e', json.dumps(extra_vars)]
    proc = _run(argv, timeout, dict(target_env, **(env or {})))
    recaps = _marked(proc.stdout, RECAP_MARKER)
    return PlaybookRun(tasks=_marked(proc.stdout, RESULT_MARKER), recap=recaps[-1] if recaps else {},
                       output=proc.stdout + proc.stderr, rc=proc.returncode,
                       task_starts=[(t['task'], t['time']) for t in _marked(proc.stdout, TASK_START_MARKER)])


def virsh(*args, check=True, timeout=300):
    """Run ``virsh -c URI ARGS...`` and return its stdout; raise AssertionError on failure when ``check``."""
    proc = subprocess.run(['virsh', '-c', URI] + [str(arg) for arg in args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError('virsh %s failed (exit %d): %s' % (' '.join(map(str, args)), proc.returncode,
                                                                proc.stderr.strip()))
    return proc.stdout


def virsh_dir_pool(name, path):
    """A dir pool made the virsh way: pool-define-as, pool-build, pool-start."""
    virsh('pool-define-as', name, 'dir', '--target', path)
    virsh('pool-build', name)
    virsh('pool-start', name)


def remove_pool(name):
    """pool-destroy and pool-undefine, whatever state the pool is in (the storage stays)."""
    virsh('pool-destroy', name, check=False)
    virsh('pool-undefine', name, check=False)


def pool_state(name):
    """The State line of virsh pool-info: running, inactive..."""
    return re.search(r'State:\s+(\S+)', virsh('pool-info', name)).group(1)


def volumes_of(pool):
    """The sorted names virsh vol-list shows for pool."""
    return sorted(line.split()[0] for line in virsh('vol-list', pool).splitlines()[2:] if line.strip())


def sizes_of(text):
    """The sizes a virsh -info command prints with --bytes (``Capacity: N bytes`` for volumes, a bare
    ``Capacity: N`` for pools in virsh 9), as {key in lowercase: N}."""
    sizes = {}
    for line in text.splitlines():
        key, _sep, value = line.partition(':')
        words = value.split()
        if words and words[0].isdigit() and words[1:] in ([], ['bytes']):
            sizes[key.strip().lower()] = int(words[0])
    return sizes


def virsh_sizes(*args):
    """sizes_of what virsh prints for ``args`` (e.g. ``'pool-info', '--bytes', NAME``)."""
    return sizes_of(virsh(*args))


def pool_defined(name):
    """True when libvirt knows a pool of that name (active or not)."""
    return subprocess.run(['virsh', '-c', URI, 'pool-info', name], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False).returncode == 0


def mounts_of(device):
    """Mount points of ``device`` and its partitions (``/dev/loop3``, ``/dev/loop3p1``...), innermost first."""
    found = []
    with open('/proc/self/mounts') as handle:
        for line in handle:
            source, target = line.split()[:2]
            if source == device or (source.startswith(device + 'p') and source[len(device) + 1:].isdigit()):
                found.append(target.replace('\\040', ' '))
    return list(reversed(found))


_DOMAIN_XML = """<domain type='qemu'>
  <name>%s</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='%s'/>
      <source file='%s'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
"""


def define_domain(name, disk_path, disk_format, workdir):
    """Define (not start) a small QEMU domain ``name`` whose one disk is the file ``disk_path``;
    its XML is written to ``workdir``. The caller undefines it."""
    path = os.path.join(str(workdir), '%s.xml' % name)
    with open(path, 'w') as handle:
        handle.write(_DOMAIN_XML % (name, disk_format, disk_path))
    virsh('define', path)
    return name


# ---- the Ceph test cluster of scripts/servers.sh ----------------------------------------------

CEPH_DIR = os.path.join(REPO, '.build', 'ceph')


def read_testbed():
    """What servers.sh wrote about the cluster: conf, monitor, RADOS pool, client and its key."""
    path = os.path.join(CEPH_DIR, 'testbed.env')
    if not os.path.exists(path):
        pytest.fail('no Ceph test cluster (%s is missing): run scripts/servers.sh start ceph' % path)
    with open(path) as handle:
        env = dict(line.strip().split('=', 1) for line in handle if '=' in line)
    with open(env['CEPH_KEY_FILE']) as handle:
        env['KEY'] = handle.read().strip()
    return env


def rbd(ceph, *args, check=True):
    proc = subprocess.run(['rbd', '-c', ceph['CEPH_CONF'], '--id', 'admin'] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError('rbd %s failed: %s' % (' '.join(args), proc.stderr))
    return proc.stdout


# ---- images ----------------------------------------------------------------------------------

MIB = 1024 * 1024


def sparse_image(path, size_mib, data_at_mib=None):
    """A raw image of ``size_mib`` MiB at ``path`` holding 1 MiB of random data at each offset of
    ``data_at_mib`` (MiB; by default 0 and the middle), holes between; returns the path."""
    with open(str(path), 'wb') as handle:
        for offset in (data_at_mib if data_at_mib is not None else (0, size_mib // 2)):
            handle.seek(offset * MIB)
            handle.write(os.urandom(MIB))
        handle.truncate(size_mib * MIB)
    return str(path)


def same_image(left, right):
    """qemu-img compare: the same guest-visible content (the format read from each file)."""
    return subprocess.run(['qemu-img', 'compare', '-q', str(left), str(right)], check=False).returncode == 0


def image_info(path):
    """qemu-img info of ``path`` (a dict), read without taking its lock."""
    out = subprocess.run(['qemu-img', 'info', '--output=json', '-U', str(path)], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    return json.loads(out)


def sha256_of(path):
    """The SHA-256 hex digest of the file ``path``."""
    digest = hashlib.sha256()
    with open(str(path), 'rb') as handle:
        for chunk in iter(lambda: handle.read(MIB), b''):
            digest.update(chunk)
    return digest.hexdigest()
