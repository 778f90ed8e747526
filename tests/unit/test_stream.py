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


def test_send_writes_what_the_reader_gives(conn, vol):
    data = bytes(range(256)) * 5000
    assert stream.send(conn, vol, io.BytesIO(data).read, len(data), 'src') == 0, 'no hole in a plain upload'
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


def _dribble(data, sizes=(1, 7, 4096, 65535, 65536, 100000)):
    """A reader over ``data`` that returns fewer bytes than asked, in changing amounts (a socket, a
    decompressor)."""
    handle = io.BytesIO(data)
    turn = [0]

    def read(nbytes):
        turn[0] += 1
        return handle.read(min(nbytes, sizes[turn[0] % len(sizes)]))
    return read


BLOCK = stream.HOLE_BLOCK


@pytest.mark.parametrize('layout, holes', [
    # (kind, blocks): d = data, z = zeros; the holes expected as (offset in blocks, length in blocks)
    ([('d', 3), ('z', 5), ('d', 1), ('z', 2), ('d', 2)], [(3, 5), (9, 2)]),
    ([('z', 4), ('d', 1)], [(0, 4)]),
    # trailing zeros: all but the last block a hole, so that the file reaches its full length
    ([('d', 1), ('z', 6)], [(1, 5)]),
    ([('z', 3)], [(0, 2)]),
    ([('z', 1)], []),
    ([('d', 40)], []),  # more than one data section
    ([('d', 2), ('z', 1), ('d', 2)], [(2, 1)]),
])
def test_sparse_send_leaves_whole_zero_blocks_as_holes(conn, vol, layout, holes):
    data = b''.join((bytes([(i % 251) + 1]) * BLOCK if kind == 'd' else bytes(BLOCK))
                    for kind, count in layout for i in range(count))
    skipped = stream.send(conn, vol, _dribble(data), len(data), 'src', sparse=True)
    assert vol.content == data
    assert vol.holes == [(offset * BLOCK, length * BLOCK) for offset, length in holes]
    assert skipped == sum(length for _offset, length in holes) * BLOCK
    assert conn.calls_of('upload') == [('v', 0, len(data), 1)], 'the upload asks for a sparse stream'


def test_sparse_send_keeps_zeros_that_are_not_a_whole_aligned_block(conn, vol):
    # zeros across a block boundary, and a short zero tail: no whole aligned block of zeros
    data = b'x' * (BLOCK // 2) + bytes(BLOCK) + b'y' * (BLOCK // 2) + bytes(BLOCK // 3)
    assert stream.send(conn, vol, _dribble(data), len(data), 'src', sparse=True) == 0
    assert vol.content == data and vol.holes == []


def test_sparse_send_of_nothing_sends_nothing(conn, vol):
    assert stream.send(conn, vol, io.BytesIO(b'').read, 0, 'src', sparse=True) == 0
    assert vol.content == b'' and vol.holes == []


@pytest.mark.parametrize('tail', [b'd', bytes(BLOCK), bytes(BLOCK // 3)])
def test_sparse_send_into_a_larger_file_ends_in_a_hole_to_its_size(conn, vol, tail):
    # libvirt truncates the file at the end of each hole: a source shorter than the file the volume
    # was made at (a raw image of unknown size into a volume made at capacity) ends in a hole to that size
    data = b'x' * BLOCK + bytes(2 * BLOCK) + tail
    size = 8 * BLOCK
    skipped = stream.send(conn, vol, _dribble(data), 0, 'src', sparse=True, size=size)
    assert vol.content == data + bytes(size - len(data))
    assert vol.holes[0] == (BLOCK, 2 * BLOCK) and vol.holes[-1] == (len(data), size - len(data))
    assert skipped == 2 * BLOCK + size - len(data)


def test_sparse_send_beyond_the_size_sends_no_hole_at_the_end(conn, vol):
    data = b'x' * (3 * BLOCK)
    assert stream.send(conn, vol, _dribble(data), 0, 'src', sparse=True, size=BLOCK) == 0
    assert vol.content == data and vol.holes == []


def test_sparse_send_aborts_the_stream_when_the_reader_fails(conn, vol):
    def broken(_nbytes):
        raise OSError('connection reset')
    with pytest.raises(OSError):
        stream.send(conn, vol, broken, 0, 'src', sparse=True)
    assert ('stream.abort', ()) in conn.calls and ('stream.finish', ()) not in conn.calls


def test_sparse_send_takes_the_holes_the_source_skips(conn, vol):
    """A source that skips a hole (a file's SEEK_DATA) gives it to libvirt as a hole, unread (but for the
    block read after a data section, which finds the hole)."""
    block = stream.HOLE_BLOCK
    parts = [['data', block], ['hole', 8 * block], ['data', block]]
    reads = []

    def read(nbytes):
        if not parts:
            return b''
        kind, left = parts[0]
        piece = min(nbytes, left)
        parts[0][1] -= piece
        if not parts[0][1]:
            parts.pop(0)
        reads.append(piece)
        return b'x' * piece if kind == 'data' else bytes(piece)

    def skip():
        if parts and parts[0][0] == 'hole':
            return parts.pop(0)[1]
        return 0
    holes = stream.send(conn, vol, read, 0, 'src', sparse=True, skip=skip)
    assert holes == 8 * block
    assert vol.content == b'x' * block + bytes(8 * block) + b'x' * block
    assert sum(reads) == 3 * block, 'of the hole only its first block was read'
