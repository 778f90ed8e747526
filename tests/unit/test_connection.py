"""connection: local/remote URIs, libvirtError mapping, missing libraries, open/close."""

import libvirt
import pytest

from fake_libvirt import libvirt_error
from ansible_collections.kvmops.storage.plugins.module_utils import connection
from ansible_collections.kvmops.storage.plugins.module_utils.errors import (
    ConnectionFailedError,
    LibraryMissingError,
    OperationError,
)


@pytest.mark.parametrize('uri, local', [
    ('qemu:///system', True),
    ('qemu:///session', True),
    ('qemu+unix:///system', True),
    ('qemu://localhost/system', True),
    ('qemu+ssh://127.0.0.1/system', True),
    ('qemu+ssh://[::1]/system', True),
    ('qemu+ssh://root@hv2.example.com/system', False),
    ('qemu+tcp://hv2/system', False),
    ('test:///default', True),
])
def test_is_local_uri(uri, local):
    assert connection.is_local_uri(uri) is local
    assert connection.Connection(uri).is_local is local


def test_call_passes_result_through():
    assert connection.call('adding', lambda a, b: a + b, 1, 2) == 3


def test_call_maps_libvirt_error():
    def fail():
        raise libvirt_error('Storage pool not found', libvirt.VIR_ERR_NO_STORAGE_POOL)
    with pytest.raises(OperationError) as info:
        connection.call('starting pool x', fail)
    assert info.value.msg == 'starting pool x failed: Storage pool not found'
    assert info.value.details['libvirt_code'] == libvirt.VIR_ERR_NO_STORAGE_POOL


def test_call_leaves_other_errors_alone():
    def fail():
        raise KeyError('k')
    with pytest.raises(KeyError):
        connection.call('x', fail)


def test_error_code_and_message():
    exc = libvirt_error('boom', 38)
    assert connection.error_code(exc) == 38
    assert connection.error_message(exc) == 'boom'
    assert connection.is_libvirt_error(exc)
    assert connection.error_code(ValueError('x')) is None
    assert connection.error_message(ValueError('x')) == 'x'
    assert not connection.is_libvirt_error(ValueError('x'))


def test_error_message_without_libvirt_details():
    exc = libvirt.libvirtError('plain')
    exc.err = None
    assert connection.error_code(exc) is None
    assert connection.error_message(exc) == 'plain'


@pytest.mark.parametrize('flag, library', [('HAS_LIBVIRT', 'libvirt'), ('HAS_LXML', 'lxml')])
def test_missing_library_named_with_install_hint(monkeypatch, flag, library):
    monkeypatch.setattr(connection, flag, False)
    with pytest.raises(LibraryMissingError) as info:
        connection.require_libraries()
    assert '"%s"' % library in info.value.msg
    assert 'apt install' in info.value.msg and 'dnf install' in info.value.msg
    assert info.value.details['library'] == library


def test_open_failure_names_uri(monkeypatch):
    def refuse(uri):
        raise libvirt_error('Failed to connect socket: No such file or directory', libvirt.VIR_ERR_SYSTEM_ERROR)
    monkeypatch.setattr(connection.libvirt, 'open', refuse)
    with pytest.raises(ConnectionFailedError) as info:
        connection.Connection('qemu+ssh://hv9/system').open()
    assert 'uri=qemu+ssh://hv9/system' in info.value.msg
    assert 'No such file or directory' in info.value.msg
    assert info.value.details['uri'] == 'qemu+ssh://hv9/system'


def test_context_manager_opens_and_closes(monkeypatch):
    closed = []

    class Conn:
        def close(self):
            closed.append(True)
    monkeypatch.setattr(connection.libvirt, 'open', lambda uri: Conn())
    wrapper = connection.Connection('qemu:///system')
    with wrapper as conn:
        assert isinstance(conn, Conn)
    assert closed == [True]
    assert wrapper.conn is None
    wrapper.close()  # closing twice is harmless
    assert closed == [True]


def test_connection_argument_spec():
    assert connection.connection_argument_spec() == {'uri': {'type': 'str', 'default': 'qemu:///system'}}


BUSY = "internal error: pool 'images' has asynchronous jobs running."


def test_call_retrying_waits_while_the_pool_is_busy():
    answers = [libvirt_error(BUSY, libvirt.VIR_ERR_INTERNAL_ERROR)] * 2 + ['done']
    slept = []

    def refresh():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer
    assert connection.call_retrying('refreshing pool images', refresh, sleep=slept.append) == 'done'
    assert slept == list(connection.BUSY_DELAYS[:2])


def test_call_retrying_gives_up_with_a_clear_message():
    slept = []

    def refresh():
        raise libvirt_error(BUSY, libvirt.VIR_ERR_INTERNAL_ERROR)
    with pytest.raises(OperationError) as info:
        connection.call_retrying('refreshing pool images', refresh, delays=(1, 2), sleep=slept.append)
    assert slept == [1, 2]
    assert info.value.msg == ("refreshing pool images failed: %s; the pool was still busy with another job (a volume "
                              "being created or copied, by another run or e.g. virsh vol-clone) after 3 tries over "
                              "3 s: run the task again when that job has ended" % BUSY)
    assert info.value.details['pool_busy'] is True


@pytest.mark.parametrize('error', [
    libvirt_error('Storage pool not found', libvirt.VIR_ERR_NO_STORAGE_POOL),
    libvirt_error('internal error: something else', libvirt.VIR_ERR_INTERNAL_ERROR),
])
def test_call_retrying_does_not_retry_other_errors(error):
    calls = []

    def refresh():
        calls.append(1)
        raise error
    with pytest.raises(OperationError) as info:
        connection.call_retrying('refreshing pool images', refresh, sleep=calls.append)
    assert calls == [1]
    assert info.value.msg == 'refreshing pool images failed: %s' % error.get_error_message()


def test_code_table_is_libvirts():
    names = [name for name in dir(connection) if name.startswith('VIR_')]
    assert 'VIR_ERR_INTERNAL_ERROR' in names and 'VIR_STORAGE_VOL_RESIZE_SHRINK' in names
    assert 'VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA' in names
    for name in names:
        assert getattr(connection, name) == getattr(libvirt, name), name


def _raising(exc):
    def fail(*args):
        raise exc
    return fail


def test_lookup_passes_the_object_through():
    assert connection.lookup('looking up pool x', lambda name: 'pool ' + name, 'x') == 'pool x'


@pytest.mark.parametrize('code', [libvirt.VIR_ERR_NO_STORAGE_POOL, libvirt.VIR_ERR_NO_STORAGE_VOL,
                                  libvirt.VIR_ERR_NO_SECRET])
def test_lookup_missing_is_none(code):
    assert connection.lookup('looking up x', _raising(libvirt_error('not found', code))) is None


def test_lookup_missing_only_for_the_codes_given():
    error = libvirt_error('Storage volume not found', libvirt.VIR_ERR_NO_STORAGE_VOL)
    with pytest.raises(OperationError) as info:
        connection.lookup('looking up pool x', _raising(error), missing=(libvirt.VIR_ERR_NO_STORAGE_POOL,))
    assert info.value.msg == 'looking up pool x failed: Storage volume not found'
    assert info.value.details['libvirt_code'] == libvirt.VIR_ERR_NO_STORAGE_VOL


def test_lookup_reraises_the_codes_the_caller_words():
    error = libvirt_error('uuidstr must be a valid UUID', libvirt.VIR_ERR_INVALID_ARG)
    with pytest.raises(libvirt.libvirtError) as info:
        connection.lookup('looking up secret', _raising(error), reraise=(libvirt.VIR_ERR_INVALID_ARG,))
    assert info.value is error


def test_lookup_leaves_other_errors_alone():
    with pytest.raises(KeyError):
        connection.lookup('x', _raising(KeyError('k')))
