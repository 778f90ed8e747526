"""module_utils/stream.py over the fake libvirt: what goes into a volume, what is read back, abort on failure."""

import hashlib
import io

import libvirt
import pytest

from fake_libvirt import FakeConn, dir_pool_xml, libvirt_error, volume_xml
from ansible_collections.kvmops.storage.plugins.module_utils import stream
from ansible_collections.kvmops.storage.plugins.module_utils.errors import OperationError


@pytest.fixture
def conn():
    return FakeConn()


@pytest.fixture
def vol(conn):
    pool = conn.add_pool(dir_pool_xml(), active=True)
    return pool.add(volume_xml('v', 1 << 20))


def test_send_writes_what_the_reader_gives_and_counts_it(conn, vol):
    data = bytes(range(256)) * 5000
    assert stream.send(conn, vol, io.BytesIO(data).read, len(data), 'src') == len(data)
    assert vol.content == data
    assert conn.calls_of('upload') == [('v', 0, len(data), 0)]
    assert ('stream.finish', ()) in conn.calls and ('stream.abort', ()) not in conn.calls


def test_send_aborts_the_stream_when_the_reader_fails(conn, vol):
    def broken(_nbytes):
        raise OSError('connection reset')
    with pytest.raises(OSError):
        stream.send(conn, vol, broken, 0, 'src')
    assert ('stream.abort', ()) in conn.calls and ('stream.finish', ()) not in conn.calls


def test_send_aborts_the_stream_when_libvirt_fails(conn, vol):
    conn.fail_on[('sendAll', 'v')] = libvirt_error('stream broke', libvirt.VIR_ERR_INTERNAL_ERROR)
    with pytest.raises(OperationError) as info:
        stream.send(conn, vol, io.BytesIO(b'x').read, 1, '/srv/x.img')
    assert 'uploading /srv/x.img into volume v' in info.value.msg
    assert ('stream.abort', ()) in conn.calls


def test_volume_digest_hashes_what_the_volume_holds(conn, vol):
    vol.content = b'held bytes'
    assert stream.volume_digest(conn, vol, 10, 'sha256') == hashlib.sha256(b'held bytes').hexdigest()
    assert conn.calls_of('download') == [('v', 0, 10, 0)]


def test_file_digest(tmp_path):
    path = tmp_path / 'f'
    path.write_bytes(b'a' * (3 * stream.CHUNK + 7))
    assert stream.file_digest(str(path), 'sha512') == hashlib.sha512(b'a' * (3 * stream.CHUNK + 7)).hexdigest()
