# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Desired vs live -> plan of steps -> apply (or not, in check mode) -> result.

The engine knows no resource type.  A manager (pool.py, ...) reads the live
object, validates the request and returns a Plan; the engine applies it,
rolls back the steps it made when one fails, re-reads and reports.  What a
manager provides is declared by ``Manager`` (and ``ReadOnlyManager`` for one
that changes nothing, such as the facts).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import abc
import traceback

from ansible_collections.kvmops.storage.plugins.module_utils.connection import Connection
from ansible_collections.kvmops.storage.plugins.module_utils.errors import OperationError, StorageError


class Manager(abc.ABC):
    """A manager that changes something: ``manager_class(conn, params, is_local)`` builds it, with
    the request validated (a ValidationError before libvirt is asked anything); ``reconcile``
    then drives it.

    - ``read()`` returns the live state (the manager's own type; None when the object is missing)
      without changing anything;
    - ``plan(live)`` returns the Plan that makes the live state the desired one;
    - ``describe(live, plan)`` returns what the result reports under ``result_key``;
    - ``result_key`` names that entry of the result (``pool``, ``volume``, ...): a class attribute,
      or set by ``__init__`` when it depends on the request.
    """

    result_key = None
    #: whether this run is a check run (then read and plan change nothing)
    check_mode = False

    @abc.abstractmethod
    def read(self):
        """The live state, read without changing anything."""

    @abc.abstractmethod
    def plan(self, live):
        """The Plan from ``live`` to the desired state."""

    @abc.abstractmethod
    def describe(self, live, plan=None):
        """The result entry for ``live`` (the state after the plan, or before it in check mode)."""


class ReadOnlyManager(abc.ABC):
    """A manager that changes nothing, such as the facts: ``run(check_mode)`` returns the whole
    result (``changed`` false; ``warnings``, a list, go to module.warn)."""

    @abc.abstractmethod
    def run(self, check_mode=False):
        """The module's result; a check run is the same run, as nothing is changed."""


class Step:
    """One libvirt operation of a plan.

    ``action`` is what the result lists (``define``, ``build``, ``start``...);
    ``run`` does it; ``undo`` reverts it when a later step fails (None when the
    step cannot or must not be reverted); ``changes`` is False for steps that
    alter nothing persistent (a refresh); ``subject`` names the object the step
    works on when one plan handles several (the volumes of a bulk task).
    """

    def __init__(self, action, run, undo=None, changes=True, subject=None):
        self.action = action
        self.run = run
        self.undo = undo
        self.changes = changes
        self.subject = subject
        self.owner = subject

    @property
    def label(self):
        """``action``, or ``action:subject`` when the step has a subject."""
        return self.action if self.subject is None else '%s:%s' % (self.action, self.subject)

    def __repr__(self):
        return 'Step(%r)' % self.action


class Plan:
    """The ordered steps to reach the desired state, plus the diff and warnings.

    A failed step undoes the steps done before it.  With ``per_subject`` only
    the steps of the failed step's subject are undone: objects completed
    earlier in the same plan are whole and stay; actions are then reported as
    ``action:subject``.
    """

    def __init__(self, per_subject=False):
        self.steps = []
        self.diff = None
        self.warnings = []
        self.per_subject = per_subject
        #: entries of the result besides the manager's record, filled by planning and by the steps as they run
        self.outputs = {}

    def add(self, action, run, undo=None, changes=True, subject=None):
        self.steps.append(Step(action, run, undo, changes, subject if self.per_subject else None))
        self.steps[-1].owner = subject

    def keep(self, subject):
        """Past the point of no return for ``subject``: the steps of it added so far are not undone when a later
        step fails (a step calls this once it has done what cannot be taken back, such as deleting a source whose
        copy an undo would delete too)."""
        for step in self.steps:
            if step.owner == subject:
                step.undo = None

    @property
    def actions(self):
        return [step.label for step in self.steps]

    @property
    def changed(self):
        return any(step.changes for step in self.steps)

    def actions_of(self, subject):
        return [step.action for step in self.steps if step.owner == subject]

    def changed_of(self, subject):
        return any(step.changes for step in self.steps if step.owner == subject)


def apply(plan, check_mode):
    """Run the plan's steps in order; on failure undo the steps already done, newest first."""
    if check_mode:
        return
    done = []
    for step in plan.steps:
        try:
            step.run()
        except Exception as exc:  # pylint: disable=broad-except
            undoable = [s for s in done if s.subject == step.subject] if plan.per_subject else done
            rolled_back, rollback_failed = _undo(undoable)
            msg = getattr(exc, 'msg', None) or '%s failed: %s' % (step.label, exc)
            if done:
                msg += '; steps done before it: %s' % ', '.join(s.label for s in done)
            if rolled_back:
                msg += '; rolled back: %s' % ', '.join(rolled_back)
            if rollback_failed:
                msg += '; could not roll back: %s' % '; '.join(rollback_failed)
            raise OperationError(msg, failed_action=step.label, actions_done=[s.label for s in done],
                                 rolled_back=rolled_back, **_extra(exc))
        done.append(step)


def _extra(exc):
    return dict((key, value) for key, value in getattr(exc, 'details', {}).items()
                if key not in ('failed_action', 'actions_done', 'rolled_back'))


def _undo(done):
    rolled_back, failed = [], []
    for step in reversed(done):
        if step.undo is None:
            continue
        try:
            step.undo()
            rolled_back.append(step.label)
        except Exception as exc:  # pylint: disable=broad-except
            failed.append('%s (%s)' % (step.label, getattr(exc, 'msg', None) or exc))
    return rolled_back, failed


def reconcile(manager, check_mode, diff_mode):
    """Drive one manager through read -> plan -> apply -> re-read; returns the result dict."""
    # a manager reads and plans without changing anything in check mode (not even a pool refresh)
    manager.check_mode = check_mode
    live = manager.read()
    plan = manager.plan(live)
    apply(plan, check_mode)
    after = live if check_mode or not plan.steps else manager.read()
    result = {
        'changed': plan.changed,
        'actions': plan.actions,
        manager.result_key: manager.describe(after, plan),
    }
    if diff_mode and plan.diff is not None:
        result['diff'] = plan.diff
    result.update(plan.outputs)
    if plan.warnings:
        result['warnings'] = plan.warnings
    return result


def run_module(module, manager_class):
    """The one place where our exceptions become ``fail_json``.

    ``module`` is an AnsibleModule whose params include ``uri``;
    ``manager_class(conn, params, is_local)`` builds the manager: a
    ReadOnlyManager returns its result itself, a Manager goes through
    ``reconcile``.
    """
    connection = Connection(module.params['uri'])
    try:
        try:
            conn = connection.open()
            manager = manager_class(conn, module.params, connection.is_local)
            if isinstance(manager, ReadOnlyManager):
                result = manager.run(module.check_mode)
            elif isinstance(manager, Manager):
                result = reconcile(manager, module.check_mode, module._diff)
            else:
                raise TypeError('%s is neither a Manager nor a ReadOnlyManager' % type(manager).__name__)
        finally:
            connection.close()
    except StorageError as exc:
        details = dict((key, value) for key, value in exc.details.items() if value is not None)
        module.fail_json(msg=exc.msg, error=type(exc).__name__, **details)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='unexpected error: %s' % exc, exception=traceback.format_exc())
    for warning in result.pop('warnings', []):
        module.warn(warning)
    module.exit_json(**result)
