"""engine: Plan/Step, apply with rollback, reconcile, run_module."""

import pytest

from ansible_collections.kvmops.storage.plugins.module_utils import engine
from ansible_collections.kvmops.storage.plugins.module_utils.engine import (
    Manager,
    Plan,
    ReadOnlyManager,
    Step,
    apply,
    reconcile,
)
from ansible_collections.kvmops.storage.plugins.module_utils.facts import FactsManager
from ansible_collections.kvmops.storage.plugins.module_utils.pool import PoolManager
from ansible_collections.kvmops.storage.plugins.module_utils.secret import SecretManager
from ansible_collections.kvmops.storage.plugins.module_utils.volume import VolumeManager
from ansible_collections.kvmops.storage.plugins.module_utils.errors import (
    ConnectionFailedError,
    OperationError,
    RefusedError,
    ValidationError,
)


class Recorder:
    """Steps that append to one shared log; ``fail`` names the actions that raise."""

    def __init__(self, fail=(), fail_undo=()):
        self.log = []
        self.fail = set(fail)
        self.fail_undo = set(fail_undo)

    def run(self, action):
        def run():
            self.log.append(action)
            if action in self.fail:
                raise OperationError('%s failed: boom' % action, libvirt_code=38)
        return run

    def undo(self, action):
        def undo():
            self.log.append('undo ' + action)
            if action in self.fail_undo:
                raise OperationError('undoing %s failed: stuck' % action)
        return undo

    def plan(self, actions, no_undo=(), no_change=()):
        plan = Plan()
        for action in actions:
            plan.add(action, self.run(action), undo=None if action in no_undo else self.undo(action),
                     changes=action not in no_change)
        return plan


# ---- Plan / Step ------------------------------------------------------------------------------

def test_empty_plan():
    plan = Plan()
    assert plan.steps == [] and plan.actions == []
    assert plan.changed is False
    assert plan.diff is None and plan.warnings == []


def test_plan_actions_in_order_and_changed():
    rec = Recorder()
    plan = rec.plan(['define', 'build', 'start'])
    assert plan.actions == ['define', 'build', 'start']
    assert plan.changed is True
    assert all(isinstance(step, Step) for step in plan.steps)
    assert repr(plan.steps[0]) == "Step('define')"


def test_steps_without_changes_do_not_make_changed():
    rec = Recorder()
    plan = rec.plan(['refresh'], no_change=('refresh',))
    assert plan.actions == ['refresh']
    assert plan.changed is False
    plan.add('autostart', rec.run('autostart'))
    assert plan.changed is True


def test_step_defaults():
    step = Step('x', lambda: None)
    assert step.undo is None and step.changes is True


# ---- apply --------------------------------------------------------------------------------------

def test_check_mode_runs_nothing():
    rec = Recorder(fail=('start',))
    plan = rec.plan(['define', 'build', 'start'])
    assert apply(plan, True) is None
    assert rec.log == []


def test_apply_runs_steps_in_order():
    rec = Recorder()
    apply(rec.plan(['define', 'build', 'start']), False)
    assert rec.log == ['define', 'build', 'start']


def test_apply_empty_plan():
    rec = Recorder(fail=('define',))
    for plan in (rec.plan([]), Plan(per_subject=True)):
        assert apply(plan, False) is None
        assert plan.actions == [] and plan.changed is False
    assert rec.log == []


def test_failure_rolls_back_done_steps_newest_first():
    rec = Recorder(fail=('autostart',))
    plan = rec.plan(['define', 'build', 'start', 'autostart', 'never'], no_undo=('build',))
    with pytest.raises(OperationError) as info:
        apply(plan, False)
    assert rec.log == ['define', 'build', 'start', 'autostart', 'undo start', 'undo define']
    err = info.value
    assert err.msg.startswith('autostart failed: boom')
    assert 'steps done before it: define, build, start' in err.msg
    assert 'rolled back: start, define' in err.msg
    assert 'could not roll back' not in err.msg
    assert err.details['failed_action'] == 'autostart'
    assert err.details['actions_done'] == ['define', 'build', 'start']
    assert err.details['rolled_back'] == ['start', 'define']
    # details of the original error are kept
    assert err.details['libvirt_code'] == 38


def test_failing_first_step_rolls_back_nothing():
    rec = Recorder(fail=('define',))
    with pytest.raises(OperationError) as info:
        apply(rec.plan(['define', 'start']), False)
    assert rec.log == ['define']
    assert info.value.msg == 'define failed: boom'
    assert info.value.details['rolled_back'] == []
    assert info.value.details['actions_done'] == []


def test_failed_step_itself_is_not_undone():
    rec = Recorder(fail=('start',))
    with pytest.raises(OperationError):
        apply(rec.plan(['define', 'start']), False)
    assert 'undo start' not in rec.log
    assert rec.log[-1] == 'undo define'


def test_rollback_failure_is_reported_and_rollback_goes_on():
    rec = Recorder(fail=('c',), fail_undo=('b',))
    with pytest.raises(OperationError) as info:
        apply(rec.plan(['a', 'b', 'c']), False)
    assert rec.log == ['a', 'b', 'c', 'undo b', 'undo a']
    assert 'rolled back: a' in info.value.msg
    assert 'could not roll back: b (undoing b failed: stuck)' in info.value.msg
    assert info.value.details['rolled_back'] == ['a']


def test_non_storage_exception_becomes_operation_error():
    plan = Plan()
    done = []
    plan.add('define', lambda: done.append('define'), undo=lambda: done.append('undefine'))

    def explode():
        raise RuntimeError('kaputt')
    plan.add('start', explode)
    with pytest.raises(OperationError) as info:
        apply(plan, False)
    assert info.value.msg.startswith('start failed: kaputt')
    assert 'rolled back: define' in info.value.msg
    assert done == ['define', 'undefine']


def test_storage_error_message_kept_and_details_merged():
    plan = Plan()

    def refuse():
        raise RefusedError('not allowed', volumes=['a'], failed_action='ignored')
    plan.add('delete', refuse)
    with pytest.raises(OperationError) as info:
        apply(plan, False)
    assert info.value.msg == 'not allowed'
    assert info.value.details['volumes'] == ['a']
    assert info.value.details['failed_action'] == 'delete'


# ---- reconcile ------------------------------------------------------------------------------------

class FakeManager(Manager):
    result_key = 'thing'

    def __init__(self, steps=(), diff=None, warnings=(), fail=()):
        self.rec = Recorder(fail=fail)
        self.steps = list(steps)
        self.diff = diff
        self.warnings = list(warnings)
        self.reads = 0
        self.described = []

    def read(self):
        self.reads += 1
        return 'live-%d' % self.reads

    def plan(self, live):
        assert live == 'live-1'
        plan = self.rec.plan(self.steps, no_change=('refresh',))
        plan.diff = self.diff
        plan.warnings.extend(self.warnings)
        return plan

    def describe(self, live, plan=None):
        self.described.append(live)
        return {'seen': live}


def test_reconcile_applies_and_rereads():
    manager = FakeManager(steps=['define', 'start'], diff={'before': '', 'after': 'x'})
    result = reconcile(manager, check_mode=False, diff_mode=True)
    assert manager.rec.log == ['define', 'start']
    assert manager.reads == 2
    assert result == {'changed': True, 'actions': ['define', 'start'], 'thing': {'seen': 'live-2'},
                      'diff': {'before': '', 'after': 'x'}}


def test_reconcile_check_mode_changes_nothing_and_describes_current():
    manager = FakeManager(steps=['define', 'start'], diff={'before': '', 'after': 'x'})
    result = reconcile(manager, check_mode=True, diff_mode=True)
    assert manager.rec.log == []
    assert manager.reads == 1
    assert result['changed'] is True
    assert result['actions'] == ['define', 'start']
    assert result['thing'] == {'seen': 'live-1'}
    assert result['diff'] == {'before': '', 'after': 'x'}


def test_reconcile_nothing_to_do():
    manager = FakeManager(diff={'before': 'x', 'after': 'x'})
    result = reconcile(manager, check_mode=False, diff_mode=False)
    assert result == {'changed': False, 'actions': [], 'thing': {'seen': 'live-1'}}
    assert manager.reads == 1


def test_reconcile_refresh_only_is_not_a_change():
    manager = FakeManager(steps=['refresh'])
    result = reconcile(manager, check_mode=False, diff_mode=False)
    assert result['changed'] is False
    assert result['actions'] == ['refresh']
    assert manager.rec.log == ['refresh']


def test_reconcile_diff_only_in_diff_mode_and_warnings():
    manager = FakeManager(steps=['redefine'], diff={'before': 'a', 'after': 'b'}, warnings=['keeps running'])
    result = reconcile(manager, check_mode=False, diff_mode=False)
    assert 'diff' not in result
    assert result['warnings'] == ['keeps running']


def test_reconcile_no_diff_key_when_plan_has_none():
    result = reconcile(FakeManager(steps=['x']), check_mode=True, diff_mode=True)
    assert 'diff' not in result and 'warnings' not in result


def test_reconcile_failure_propagates_after_rollback():
    manager = FakeManager(steps=['define', 'start'], fail=('start',))
    with pytest.raises(OperationError) as info:
        reconcile(manager, check_mode=False, diff_mode=False)
    assert manager.rec.log == ['define', 'start', 'undo define']
    assert 'rolled back: define' in info.value.msg


# ---- the manager contract -------------------------------------------------------------------------

def test_the_managers_declare_the_contract():
    for cls in (PoolManager, VolumeManager, SecretManager):
        assert issubclass(cls, Manager) and not issubclass(cls, ReadOnlyManager), cls
        assert not getattr(cls, '__abstractmethods__', None), cls
    assert issubclass(FactsManager, ReadOnlyManager) and not issubclass(FactsManager, Manager)
    assert not FactsManager.__abstractmethods__


@pytest.mark.parametrize('missing', ['read', 'plan', 'describe'])
def test_a_manager_without_a_contract_method_cannot_be_built(missing):
    methods = dict((name, lambda self, *args: None) for name in ('read', 'plan', 'describe') if name != missing)
    incomplete = type('Incomplete', (Manager,), methods)
    with pytest.raises(TypeError) as info:
        incomplete()  # pylint: disable=abstract-class-instantiated
    assert missing in str(info.value)
    with pytest.raises(TypeError):
        type('NoRun', (ReadOnlyManager,), {})()  # pylint: disable=abstract-class-instantiated


# ---- run_module ----------------------------------------------------------------------------------------

class ModuleExit(Exception):
    pass


class FakeModule:
    def __init__(self, check_mode=False, diff=False):
        self.params = {'uri': 'qemu+ssh://hv1/system', 'name': 'x'}
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []
        self.result = None

    def warn(self, text):
        self.warnings.append(text)

    def exit_json(self, **result):
        self.result = ('exit', result)
        raise ModuleExit()

    def fail_json(self, **result):
        self.result = ('fail', result)
        raise ModuleExit()


class FakeConnection:
    instances = []
    fail_open = None

    def __init__(self, uri):
        self.uri = uri
        self.closed = False
        self.is_local = False
        FakeConnection.instances.append(self)

    def open(self):
        if FakeConnection.fail_open is not None:
            raise FakeConnection.fail_open  # pylint: disable=raising-bad-type
        return 'conn'

    def close(self):
        self.closed = True


@pytest.fixture
def fake_connection(monkeypatch):
    FakeConnection.instances = []
    FakeConnection.fail_open = None
    monkeypatch.setattr(engine, 'Connection', FakeConnection)
    return FakeConnection


def manager_factory(**kwargs):
    made = []

    def factory(conn, params, is_local):
        assert conn == 'conn' and params['name'] == 'x' and is_local is False
        manager = FakeManager(**kwargs)
        made.append(manager)
        return manager
    factory.made = made
    return factory


def test_run_module_success(fake_connection):
    module = FakeModule(diff=True)
    factory = manager_factory(steps=['define'], warnings=['w1'], diff={'before': '', 'after': 'a'})
    with pytest.raises(ModuleExit):
        engine.run_module(module, factory)
    kind, result = module.result
    assert kind == 'exit'
    assert result['changed'] is True and result['actions'] == ['define']
    assert 'warnings' not in result
    assert module.warnings == ['w1']
    assert fake_connection.instances[0].uri == 'qemu+ssh://hv1/system'
    assert fake_connection.instances[0].closed


class FakeFacts(ReadOnlyManager):
    def __init__(self, conn, params, is_local):
        self.seen = []

    def run(self, check_mode=False):
        self.seen.append(check_mode)
        return {'changed': False, 'ansible_facts': {'x': 1}, 'warnings': ['w']}

    def read(self):  # pragma: no cover - a read-only manager is not reconciled
        raise AssertionError('reconciled')


def test_run_module_read_only_manager_reports_by_itself(fake_connection):
    module = FakeModule(check_mode=True, diff=True)
    made = []

    def factory(conn, params, is_local):
        made.append(FakeFacts(conn, params, is_local))
        return made[-1]
    with pytest.raises(ModuleExit):
        engine.run_module(module, factory)
    assert module.result == ('exit', {'changed': False, 'ansible_facts': {'x': 1}})
    assert module.warnings == ['w'] and made[0].seen == [True]


def test_run_module_refuses_an_object_that_is_no_manager(fake_connection):
    class Loose:  # has the methods, not the contract
        result_key = 'thing'

        def read(self):
            raise AssertionError('read')

    module = FakeModule()
    with pytest.raises(ModuleExit):
        engine.run_module(module, lambda conn, params, is_local: Loose())
    kind, result = module.result
    assert kind == 'fail'
    assert result['msg'] == 'unexpected error: Loose is neither a Manager nor a ReadOnlyManager'
    assert fake_connection.instances[0].closed


def test_run_module_storage_error_becomes_fail_json(fake_connection):
    module = FakeModule()

    def factory(conn, params, is_local):
        raise ValidationError('target', 'target must be absolute', extra=None)
    with pytest.raises(ModuleExit):
        engine.run_module(module, factory)
    kind, result = module.result
    assert kind == 'fail'
    assert result == {'msg': 'target must be absolute', 'error': 'ValidationError', 'option': 'target'}
    assert fake_connection.instances[0].closed


def test_run_module_connection_failure(fake_connection):
    fake_connection.fail_open = ConnectionFailedError('cannot connect', uri='qemu:///system')
    module = FakeModule()
    with pytest.raises(ModuleExit):
        engine.run_module(module, manager_factory())
    assert module.result == ('fail', {'msg': 'cannot connect', 'error': 'ConnectionFailedError', 'uri': 'qemu:///system'})


def test_run_module_unexpected_error(fake_connection):
    module = FakeModule()

    def factory(conn, params, is_local):
        raise KeyError('oops')
    with pytest.raises(ModuleExit):
        engine.run_module(module, factory)
    kind, result = module.result
    assert kind == 'fail'
    assert result['msg'].startswith('unexpected error')
    assert 'Traceback' in result['exception']
    assert fake_connection.instances[0].closed


def test_run_module_apply_failure_reports_rollback(fake_connection):
    module = FakeModule()
    with pytest.raises(ModuleExit):
        engine.run_module(module, manager_factory(steps=['define', 'start'], fail=('start',)))
    kind, result = module.result
    assert kind == 'fail'
    assert result['error'] == 'OperationError'
    assert result['failed_action'] == 'start'
    assert result['rolled_back'] == ['define']
    assert 'rolled back: define' in result['msg']
