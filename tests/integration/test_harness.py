"""Checks of the test harness itself (helpers.py, conftest.py, the result_json callback)."""

import os
import subprocess

from helpers import run_module, run_playbook, virsh


def test_run_module_returns_the_result_and_the_output():
    result = run_module('ansible.builtin.ping', {'data': 'harness'})
    assert result['ping'] == 'harness'
    assert result['failed'] is False and result['changed'] is False
    assert result['_status'] == 'ok' and result['_host'] == 'localhost'
    assert result.rc == 0
    assert 'RESULT_JSON ' in result.output


def test_run_module_keeps_json_types():
    # -a takes a JSON dict: numbers, booleans and lists reach the module as such
    result = run_module('ansible.builtin.set_fact', {'n': 3, 'flag': True, 'items': ['a', 1]})
    assert result['ansible_facts'] == {'n': 3, 'flag': True, 'items': ['a', 1]}


def test_run_module_reports_failure():
    result = run_module('ansible.builtin.fail', {'msg': 'on purpose'})
    assert result['failed'] is True and result['_status'] == 'failed'
    assert result['msg'] == 'on purpose'
    assert result.rc != 0


def test_run_module_check_and_diff(tmp_path):
    path = tmp_path / 'file.txt'
    args = {'dest': str(path), 'content': 'new\n'}
    planned = run_module('ansible.builtin.copy', args, check=True, diff=True)
    assert planned['changed'] is True and not path.exists()
    assert planned['diff'][0]['after'] == 'new\n'
    assert run_module('ansible.builtin.copy', args)['changed'] is True
    assert run_module('ansible.builtin.copy', args)['changed'] is False


def test_run_module_finds_the_collection():
    # the collection is found through ANSIBLE_COLLECTIONS_PATH: a wrong option is the module's own error
    result = run_module('storage_pool', {'name': 'harness-unused', 'no_such_option': 1})
    assert result['failed'] is True
    assert 'no_such_option' in result['msg']
    assert 'resolve' not in result['msg']


def test_run_playbook_gives_tasks_and_recap(tmp_path):
    playbook = tmp_path / 'play.yml'
    playbook.write_text('''
- hosts: localhost
  gather_facts: false
  tasks:
    - name: first
      ansible.builtin.debug:
        msg: "{{ greeting }}"
    - name: second
      ansible.builtin.command: /bin/false
      ignore_errors: true
      changed_when: false
    - name: third
      ansible.builtin.debug:
        msg: skipped
      when: false
''')
    run = run_playbook(str(playbook), extra_vars={'greeting': 'hello'})
    assert run.rc == 0, run.output
    statuses = [(task['_task'], task['_status']) for task in run.tasks]
    assert statuses == [('first', 'ok'), ('second', 'failed'), ('third', 'skipped')]
    assert run.tasks[0]['msg'] == 'hello'
    assert run.tasks[1]['_ignored'] is True
    assert run.recap['localhost']['ok'] == 2 and run.recap['localhost']['ignored'] == 1
    assert run.recap['localhost']['skipped'] == 1


def test_virsh_answers():
    assert virsh('uri').strip() == 'qemu:///system'


def test_loopdev_attaches_and_detaches(loopdev):
    device = loopdev(8)
    assert device.startswith('/dev/loop')
    size = subprocess.run(['blockdev', '--getsize64', device], stdout=subprocess.PIPE,
                          universal_newlines=True, check=True).stdout.strip()
    assert int(size) == 8 * 1024 * 1024
    backing = subprocess.run(['losetup', '-n', '-O', 'BACK-FILE', device], stdout=subprocess.PIPE,
                             universal_newlines=True, check=True).stdout.strip()
    assert os.path.basename(backing) == 'loop0.img'
