# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stdout callback for the integration tests: one JSON line per task result."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: result_json
type: stdout
short_description: Print each task result as one JSON line (tests only)
description: Prints C(RESULT_JSON <json>) for every task result, for the integration tests to read.
'''

import json

from ansible.plugins.callback import CallbackBase

MARKER = 'RESULT_JSON '


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'result_json'

    def _emit(self, result, status):
        data = dict(result._result)
        data['_status'] = status
        data['_task'] = result._task.get_name()
        self._display.display(MARKER + json.dumps(data, default=str, sort_keys=True))

    def v2_runner_on_ok(self, result):
        self._emit(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._emit(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._emit(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._emit(result, 'unreachable')

    def v2_runner_item_on_ok(self, result):
        self._emit(result, 'ok')

    def v2_runner_item_on_failed(self, result):
        self._emit(result, 'failed')
