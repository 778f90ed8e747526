# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stdout callback for the integration tests: task results and the recap as JSON lines."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: result_json
type: stdout
short_description: Print each task result and the play recap as one JSON line (integration tests)
description:
  - Prints C(RESULT_JSON <json>) for each task result, with the keys C(_status) (ok, failed,
    skipped, unreachable), C(_host), C(_task) and C(_action) added to what the task returned.
  - Prints C(RECAP_JSON <json>) at the end of a playbook, a mapping of host to its counts.
  - Prints C(TASK_START_JSON <json>) when a task starts, an object with the keys C(task) (its name)
    and C(time) (seconds since the epoch), and once more with C(task) null before the recap.
  - ansible-core ships no JSON stdout callback (C(json) is in ansible.posix), and the ad hoc
    C(ansible) command uses a stdout callback only with C(ANSIBLE_LOAD_CALLBACK_PLUGINS=1).
'''

import json
import time

from ansible.plugins.callback import CallbackBase

RESULT_MARKER = 'RESULT_JSON '
RECAP_MARKER = 'RECAP_JSON '
TASK_START_MARKER = 'TASK_START_JSON '


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'result_json'

    def _emit(self, result, status, **extra):
        data = dict(result.result)
        data.update(extra)
        data['_status'] = status
        data['_host'] = result.host.get_name()
        data['_task'] = result.task.get_name()
        data['_action'] = result.task.action
        self._display.display(RESULT_MARKER + json.dumps(data, sort_keys=True, default=str))

    def v2_runner_on_ok(self, result):
        self._emit(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._emit(result, 'failed', _ignored=bool(ignore_errors))

    def v2_runner_on_skipped(self, result):
        self._emit(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._emit(result, 'unreachable')

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._display.display(TASK_START_MARKER + json.dumps({'task': task.get_name(), 'time': time.time()}))

    # loop items are not printed on their own: the task's result holds them under `results`

    def v2_playbook_on_stats(self, stats):
        self._display.display(TASK_START_MARKER + json.dumps({'task': None, 'time': time.time()}))
        recap = dict((host, stats.summarize(host)) for host in sorted(stats.processed))
        self._display.display(RECAP_MARKER + json.dumps(recap, sort_keys=True, default=str))
