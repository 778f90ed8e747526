"""Helpers for the integration tests: run modules through Ansible, call virsh."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MARKER = 'RESULT_JSON '
URI = os.environ.get('KVMOPS_URI', 'qemu:///system')


def _env():
    env = dict(os.environ)
    env.update({
        'ANSIBLE_STDOUT_CALLBACK': 'result_json',
        'ANSIBLE_CALLBACK_PLUGINS': os.path.join(HERE, 'callback_plugins'),
        'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1',
        'ANSIBLE_LOCALHOST_WARNING': 'false',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
    })
    return env


def _results(output):
    return [json.loads(line[len(MARKER):]) for line in output.splitlines() if line.startswith(MARKER)]


def run_module(module, args, check=False, diff=False, verbosity=0, raw=False):
    """Run kvmops.storage.<module> ad hoc on localhost; returns its result dict
    (with ``_output``: everything Ansible printed, when ``raw``)."""
    argv = ['ansible', 'localhost', '-c', 'local', '-i', 'localhost,', '-m', 'kvmops.storage.%s' % module,
            '-a', json.dumps(args)]
    if check:
        argv.append('--check')
    if diff:
        argv.append('--diff')
    if verbosity:
        argv.append('-' + 'v' * verbosity)
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          env=_env(), check=False, timeout=600)
    results = _results(proc.stdout)
    if len(results) != 1:
        raise AssertionError('expected one result from %s, got:\n%s' % (' '.join(argv), proc.stdout))
    result = results[0]
    result['failed'] = bool(result.get('failed')) or result['_status'] == 'failed'
    if raw:
        result['_output'] = proc.stdout
    return result


def run_playbook(path, extra_vars=None, check=False, diff=False):
    """Run a playbook on localhost; returns (results in task order, output text, exit code)."""
    argv = ['ansible-playbook', '-c', 'local', '-i', 'localhost,', path]
    if extra_vars:
        argv += ['-e', json.dumps(extra_vars)]
    if check:
        argv.append('--check')
    if diff:
        argv.append('--diff')
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          env=_env(), check=False, timeout=1200)
    return _results(proc.stdout), proc.stdout, proc.returncode


def virsh(*args, check=True):
    proc = subprocess.run(['virsh', '-c', URI] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError('virsh %s failed: %s' % (' '.join(args), proc.stderr))
    return proc.stdout


def pool_defined(name):
    return subprocess.run(['virsh', '-c', URI, 'pool-info', name], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False).returncode == 0
