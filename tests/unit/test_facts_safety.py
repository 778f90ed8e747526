"""Unit tests: storage_facts never stops a pool and never hangs (refresh only after a probe that cannot
stop the pool; a pool that does not answer is a warning within ``timeout``)."""

import subprocess
import sys
import textwrap
import threading
import time

import libvirt
import pytest

from fake_libvirt import GIB, MIB, FakeConn, libvirt_error, volume_xml
from test_facts import CAPS_XML, add_pool, params
from ansible_collections.kvmops.storage.plugins.module_utils import deadline
from ansible_collections.kvmops.storage.plugins.module_utils import facts as factsu
from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError


@pytest.fixture
def conn():
    conn = FakeConn()
    conn.caps = CAPS_XML
    for name in ('images', 'nfs'):
        pool = add_pool(conn, name, type_name='dir' if name == 'images' else 'netfs')
        for vol in ('a.raw', 'b.raw'):
            pool.add(volume_xml(vol, GIB, path='%s/%s' % (pool.target_path(), vol), allocation=MIB))
    return conn


@pytest.fixture
def release():
    """An event that blocked fake calls wait on; set at the end of the test so their threads end."""
    event = threading.Event()
    yield event
    event.set()


def hang(obj, method, event, calls=None):
    """``obj.method`` blocks until ``event`` is set, as a call on a hard NFS mount whose server is gone."""
    real = getattr(obj, method)

    def blocked(*args):
        if calls is not None:
            calls.append(method)
        event.wait(60)
        return real(*args)
    setattr(obj, method, blocked)


def directories(monkeypatch, problems):
    monkeypatch.setattr(factsu, 'directory_problem', lambda path: problems.get(path.rsplit('/', 1)[-1]))


def test_removed_directory_is_not_refreshed(conn, monkeypatch):
    directories(monkeypatch, {'nfs': 'directory /var/lib/libvirt/images/nfs does not exist'})
    result = factsu.FactsManager(conn, params(gather=['volumes'], refresh=True)).run()
    assert conn.calls_of('refresh') == [('images', 0)], 'only the pool whose directory answers is refreshed'
    warning, = result['warnings']
    assert warning.startswith('pool nfs: directory /var/lib/libvirt/images/nfs does not exist: not refreshed')
    assert 'its volumes are not read' in warning
    pools = result['ansible_facts']['libvirt_storage']['pools']
    assert pools['nfs']['state'] == 'active' and pools['nfs']['volumes'] == {}
    assert len(pools['images']['volumes']) == 2
    assert ('listAllVolumes', ('nfs',)) not in conn.calls


def test_remote_refresh_after_a_volume_answered(conn):
    result = factsu.FactsManager(conn, params(gather=['pools'], refresh=True), is_local=False).run()
    assert 'warnings' not in result
    assert sorted(conn.calls_of('refresh')) == [('images', 0), ('nfs', 0)]  # (pools are read in parallel)
    methods = [method for method, _args in conn.calls if method in ('vol.XMLDesc', 'refresh')]
    assert methods[0] == 'vol.XMLDesc', 'a volume of the pool answered before it was refreshed'


def test_remote_pool_whose_volumes_fail_is_not_refreshed(conn):
    error = libvirt_error("cannot stat file '/var/lib/libvirt/images/nfs/a.raw': No such file or directory",
                          libvirt.VIR_ERR_INTERNAL_ERROR)
    conn.fail_on[('vol.XMLDesc', 'a.raw')] = [error, error, error]
    conn.fail_on[('vol.XMLDesc', 'b.raw')] = [error, error, error]
    manager = factsu.FactsManager(conn, params(pools=['nfs'], refresh=True), is_local=False)
    manager.run()
    assert conn.calls_of('refresh') == []
    assert manager.warnings[0].startswith('pool nfs: reading volume b.raw failed: cannot stat file')
    assert 'not refreshed (libvirt would stop the pool)' in manager.warnings[0]


def test_remote_pool_without_volumes_is_not_refreshed():
    conn = FakeConn()
    add_pool(conn, 'empty')
    manager = factsu.FactsManager(conn, params(refresh=True), is_local=False)
    manager.run()
    assert conn.calls_of('refresh') == []
    assert manager.warnings == ["pool empty is not refreshed: libvirt stops a pool whose refresh fails, and the pool "
                                "lists no volume whose reading would show first that its storage answers; its "
                                "figures are those of libvirt's last refresh"]


@pytest.mark.parametrize('is_local', [True, False])
def test_type_without_a_probe_is_not_refreshed_but_read(is_local):
    conn = FakeConn()
    pool = add_pool(conn, 'lun', type_name='iscsi')
    pool.add(volume_xml('unit:0:0:1', GIB, path='/dev/disk/by-path/lun-1', vol_type='block'))
    result = factsu.FactsManager(conn, params(gather=['volumes'], refresh=True), is_local=is_local).run()
    assert conn.calls_of('refresh') == []
    assert 'pool lun is not refreshed: libvirt stops a pool whose refresh fails' in result['warnings'][0]
    assert 'iscsi pools' in result['warnings'][0]
    assert list(result['ansible_facts']['libvirt_storage']['pools']['lun']['volumes']) == ['unit:0:0:1']


def test_local_backend_probe_decides(monkeypatch):
    """A logical pool on the hypervisor: refreshed when vgs finds its volume group, not when it is gone."""
    from ansible_collections.kvmops.storage.plugins.module_utils.backends import logical
    conn = FakeConn()
    add_pool(conn, 'vg0', type_name='logical', source='<name>vg0</name><format type="lvm2"/>')
    monkeypatch.setattr(logical, 'run_probe', lambda argv: (0, 'vg0'))
    factsu.FactsManager(conn, params(refresh=True)).run()
    assert conn.calls_of('refresh') == [('vg0', 0)]
    del conn.calls[:]
    monkeypatch.setattr(logical, 'run_probe', lambda argv: (5, ''))
    manager = factsu.FactsManager(conn, params(refresh=True))
    manager.run()
    assert conn.calls_of('refresh') == []
    assert manager.warnings[0].startswith('pool vg0: ') and 'not refreshed (libvirt would stop the pool)' in \
        manager.warnings[0]


def test_refresh_that_fails_anyway_says_libvirt_stopped_the_pool(conn, monkeypatch):
    directories(monkeypatch, {})
    images = conn.pools['images']
    conn.fail_on[('refresh', 'images')] = libvirt_error('cannot open directory: Input/output error',
                                                        libvirt.VIR_ERR_INTERNAL_ERROR)
    real_refresh = images.refresh

    def refresh(flags=0):
        try:
            real_refresh(flags)
        finally:
            images.active = False
    images.refresh = refresh
    manager = factsu.FactsManager(conn, params(gather=['volumes'], pools=['images'], refresh=True))
    facts = manager.facts()
    assert facts['pools']['images']['state'] == 'inactive'
    assert manager.warnings == ['pool images: refreshing pool images failed: cannot open directory: Input/output '
                                'error; libvirt stopped the pool']


def test_storage_that_does_not_answer_is_a_warning_within_the_timeout(conn, monkeypatch, release):
    """A hard NFS mount whose server is gone: statvfs blocks.  The pool is reported from libvirt's figures,
    the other pool with its volumes, within the timeout."""
    def problem(path):
        if path.endswith('/nfs'):
            release.wait(60)
        return None
    monkeypatch.setattr(factsu, 'directory_problem', problem)
    started = time.monotonic()
    result = factsu.FactsManager(conn, params(gather=['volumes'], refresh=True, timeout=0.5)).run()
    took = time.monotonic() - started
    assert 0.5 <= took < 2, took
    warning, = result['warnings']
    assert warning == ("pool nfs: its storage did not answer within timeout=0.5 s (looking at its directory "
                       "/var/lib/libvirt/images/nfs): the figures are libvirt's from before, its volumes are not read")
    pools = result['ansible_facts']['libvirt_storage']['pools']
    assert pools['nfs']['state'] == 'active' and pools['nfs']['volumes'] == {}
    assert pools['nfs']['capacity'] == 100 * GIB
    assert len(pools['images']['volumes']) == 2
    assert conn.calls_of('refresh') == [('images', 0)]


def test_libvirt_call_that_does_not_answer(conn, release):
    """libvirtd waits on the storage: the pool's definition does not come; the pool is left out."""
    hang(conn.pools['nfs'], 'XMLDesc', release)
    started = time.monotonic()
    result = factsu.FactsManager(conn, params(gather=['volumes'], timeout=0.3), is_local=False).run()
    assert time.monotonic() - started < 1.5
    assert result['warnings'] == ['pool nfs did not answer within timeout=0.3 s (reading its definition): it is left out']
    assert list(result['ansible_facts']['libvirt_storage']['pools']) == ['images']


def test_volumes_that_stop_answering(conn, release, monkeypatch):
    directories(monkeypatch, {})
    vol = conn.pools['nfs'].volumes['b.raw']
    hang(vol, 'XMLDesc', release)
    result = factsu.FactsManager(conn, params(gather=['volumes'], timeout=0.3)).run()
    assert result['warnings'] == ['pool nfs: its volumes did not answer within timeout=0.3 s (reading the XML of '
                                  'its volumes): they are left out']
    pools = result['ansible_facts']['libvirt_storage']['pools']
    assert pools['nfs']['volumes'] == {} and len(pools['images']['volumes']) == 2


def test_after_four_calls_left_behind_no_more_are_made(release):
    """libvirtd serves 5 calls of a connection at once: after 4 left behind the other pools are not asked."""
    conn = FakeConn()
    asked = []
    for index in range(6):
        pool = add_pool(conn, 'p%d' % index)
        hang(pool, 'XMLDesc', release, asked)
    started = time.monotonic()
    result = factsu.FactsManager(conn, params(timeout=0.3)).run()
    assert time.monotonic() - started < 1.5
    assert len(asked) == 4
    assert result['warnings'][:4] == ['pool p%d did not answer within timeout=0.3 s (reading its definition): it is '
                                      'left out' % index for index in range(4)]
    assert result['warnings'][4:] == ['pool p%d did not answer within timeout=0.3 s (not asked: 4 calls to libvirt '
                                      'had not answered): it is left out' % index for index in (4, 5)]


@pytest.mark.parametrize('value', [0, -1, 'soon', float('nan'), float('inf')])
def test_bad_timeout_is_refused_before_libvirt_is_asked(value):
    conn = FakeConn()
    with pytest.raises(ValidationError) as info:
        factsu.FactsManager(conn, params(timeout=value))
    assert info.value.option == 'timeout' and 'positive number of seconds' in info.value.msg
    assert conn.calls == []


def test_timeout_default():
    assert factsu.facts_argument_spec()['timeout'] == {'type': 'float', 'default': factsu.DEFAULT_TIMEOUT}
    assert factsu.FactsManager(FakeConn(), params(timeout=None)).timeout == factsu.DEFAULT_TIMEOUT


def test_a_call_left_behind_does_not_keep_the_process_from_ending():
    """Daemon threads: the interpreter exits with a call still blocked (a ThreadPoolExecutor would join it)."""
    script = textwrap.dedent('''
        import sys, threading, time
        sys.path[:0] = %r
        from ansible_collections.kvmops.storage.plugins.module_utils import deadline
        runner = deadline.Runner(0.2)
        try:
            runner.call('waiting', threading.Event().wait)
        except deadline.NoAnswer as exc:
            print(exc)
    ''' % (sys.path[:2],))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, '-c', script], stdout=subprocess.PIPE, universal_newlines=True,
                          timeout=20, check=True)
    assert proc.stdout.strip() == 'no answer within 0.2 s (waiting)'
    assert time.monotonic() - started < 10


def test_runner_keeps_order_and_progress():
    runner = deadline.Runner(0.3)

    def slow_but_moving(job):
        for step in range(6):
            job.step('moving %d' % step)
            time.sleep(0.1)
        return 'moved'
    jobs = list(runner.run([slow_but_moving, lambda job: 'quick', lambda job: 1 / 0], 2))
    assert jobs[0].get() == 'moved', 'a job that makes progress is not left behind'
    assert jobs[1].get() == 'quick'
    with pytest.raises(ZeroDivisionError):
        jobs[2].get()
    assert runner.stuck == 0


def test_reading_volumes_alone_runs_no_backend_probe(monkeypatch):
    """vgs and the like run only before a refresh: libvirt reads no storage of a logical pool for its volumes."""
    from ansible_collections.kvmops.storage.plugins.module_utils.backends import logical

    def refuse(argv):
        raise AssertionError('probe run: %r' % (argv,))
    monkeypatch.setattr(logical, 'run_probe', refuse)
    conn = FakeConn()
    pool = add_pool(conn, 'vg0', type_name='logical', source='<name>vg0</name><format type="lvm2"/>')
    pool.add(volume_xml('lv1', GIB, path='/dev/vg0/lv1', vol_type='block'))
    result = factsu.FactsManager(conn, params(gather=['volumes'], refresh=False)).run()
    assert 'warnings' not in result
    assert list(result['ansible_facts']['libvirt_storage']['pools']['vg0']['volumes']) == ['lv1']
