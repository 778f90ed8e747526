"""module_utils/source.py: compressed files recognized by their bytes, decompressed in bounded chunks,
hashed as given, truncation and HTTP failures reported; an HTTP server on 127.0.0.1 for open_http."""

import bz2
import gzip
import hashlib
import io
import lzma
import os
import struct
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.kvmops.storage.plugins.module_utils import source
from ansible_collections.kvmops.storage.plugins.module_utils.errors import OperationError, ValidationError

try:
    import zstandard
except ImportError:
    zstandard = None

DATA = os.urandom(300000) + b'\0' * (3 * source.CHUNK) + os.urandom(5000)


def compress(kind, data):
    if kind == 'gzip':
        return gzip.compress(data)
    if kind == 'bzip2':
        return bz2.compress(data)
    if kind == 'xz':
        return lzma.compress(data, format=lzma.FORMAT_XZ)
    if kind == 'zstd':
        return zstandard.ZstdCompressor().compress(data)
    return data


KINDS = ['gzip', 'bzip2', 'xz', pytest.param('zstd', marks=pytest.mark.skipif(zstandard is None,
                                                                              reason='zstandard not installed'))]


def over(data, algorithm=None, length=None):
    return source.Source(io.BytesIO(data).read, 'test image', length=length, algorithm=algorithm)


def read_all(src, nbytes=source.CHUNK):
    out = []
    while True:
        chunk = src.read(nbytes)
        if not chunk:
            return b''.join(out)
        assert len(chunk) <= nbytes
        out.append(chunk)


@pytest.mark.parametrize('kind', KINDS)
def test_compressed_data_is_recognized_by_its_bytes_and_decompressed(kind):
    given = compress(kind, DATA)
    src = over(given, 'sha256', len(given))
    assert src.compression == kind
    assert src.head == DATA[:source.HEAD]
    assert read_all(src, 65536) == DATA
    src.finish()
    assert src.digest == hashlib.sha256(given).hexdigest()  # the file as given
    assert src.image_digest == hashlib.sha256(DATA).hexdigest()  # what goes into the volume
    assert src.given == len(given) and src.out == len(DATA)


def test_plain_data_passes_as_it_is():
    src = over(DATA, 'sha512', len(DATA))
    assert src.compression is None
    assert read_all(src) == DATA
    src.finish()
    assert src.digest == src.image_digest == hashlib.sha512(DATA).hexdigest()


@pytest.mark.parametrize('kind', KINDS)
def test_concatenated_members_are_one_image(kind):
    given = compress(kind, b'first part ') + compress(kind, b'second part')
    assert read_all(over(given)) == b'first part second part'


def test_xz_stream_padding_is_skipped():
    given = compress('xz', b'padded') + b'\0' * 8
    assert read_all(over(given)) == b'padded'


def test_other_data_after_the_compressed_data_is_refused():
    with pytest.raises(OperationError) as info:
        read_all(over(compress('gzip', b'image') + b'garbage!'))
    assert 'are not gzip data' in info.value.msg


@pytest.mark.parametrize('kind', KINDS)
def test_truncated_compressed_data_is_refused(kind):
    given = compress(kind, DATA)
    src = over(given[:len(given) - 7])
    with pytest.raises(OperationError) as info:
        read_all(src)
    assert 'ends in the middle of its %s data' % kind in info.value.msg


def test_corrupt_compressed_data_is_refused():
    given = bytearray(compress('xz', DATA))
    given[200:260] = b'\xff' * 60
    with pytest.raises(OperationError) as info:
        read_all(over(bytes(given)))
    assert 'its xz data is corrupt' in info.value.msg


def test_a_long_zero_run_comes_out_in_bounded_chunks():
    zeros = b'\0' * (64 * source.CHUNK)
    for kind in ('gzip', 'xz', 'bzip2') + (('zstd',) if zstandard else ()):
        src = over(compress(kind, zeros))
        sizes = []
        while True:
            chunk = src.read(source.CHUNK)
            if not chunk:
                break
            sizes.append(len(chunk))
            assert len(src._buffer) <= 64 * source.CHUNK // 2, kind  # pylint: disable=protected-access
        assert sum(sizes) == len(zeros) and max(sizes) <= source.CHUNK


def test_zstd_without_the_library_names_what_to_install(monkeypatch):
    monkeypatch.setattr(source, 'zstandard', None)
    with pytest.raises(OperationError) as info:
        over(b'\x28\xb5\x2f\xfd' + b'\0' * 20)
    assert 'python3-zstandard' in info.value.msg and 'pip install zstandard' in info.value.msg


def test_a_short_transfer_is_refused():
    src = over(DATA[:1000], length=len(DATA))
    read_all(src)
    with pytest.raises(OperationError) as info:
        src.finish()
    assert 'stopped after 1000 bytes of %d' % len(DATA) in info.value.msg


def test_a_qcow2_header_inside_a_compressed_file_gives_the_format():
    header = b'QFI\xfb' + struct.pack('>I', 3) + b'\0' * 16 + struct.pack('>Q', 7 << 30) + b'\0' * 1000
    src = over(compress('xz', header))
    assert source.image_of(src.head, None) == ('qcow2', 7 << 30)
    assert source.image_of(b'\x01' * 600, 600) == ('raw', 600)


@pytest.mark.parametrize('value, algorithm', [
    ('sha256:' + 'a' * 64, 'sha256'), ('SHA512:' + 'B' * 128, 'sha512'), ('sha3-256:' + 'c' * 64, 'sha3_256'),
    ('blake2b:' + 'd' * 128, 'blake2b'), ('md5:' + 'e' * 32, 'md5')])
def test_checksum_algorithms(value, algorithm):
    assert source.parse_checksum(value, 'content.checksum')[0] == algorithm


@pytest.mark.parametrize('value, words', [
    ('abc', 'write it as ALGORITHM:HEXDIGEST'), ('crc32:1234', "unknown algorithm 'crc32'; accepted: blake2b"),
    ('sha256:abc', 'is not a sha256 hex digest'), ('shake_128:' + 'a' * 32, "unknown algorithm 'shake_128'")])
def test_bad_checksums_name_the_option(value, words):
    with pytest.raises(ValidationError) as info:
        source.parse_checksum(value, 'volumes[1].content.checksum')
    assert info.value.option == 'volumes[1].content.checksum' and words in info.value.msg


def test_shown_url_has_no_credentials():
    assert source.shown_url('https://user:secret@example.com:8443/a/b.qcow2?X-Sig=token#x') == \
        'https://example.com:8443/a/b.qcow2?...'
    assert source.shown_url('http://[::1]/i.img') == 'http://[::1]/i.img'


@pytest.mark.parametrize('url', ['ftp://example.com/i.img', 'file:///etc/passwd', 'http:///i.img', 'example.com/i'])
def test_only_http_urls(url):
    with pytest.raises(ValidationError) as info:
        source.validate_url(url, 'content.url')
    assert info.value.option == 'content.url' and 'http:// or https://' in info.value.msg


def test_a_missing_or_empty_file_is_refused(tmp_path):
    with pytest.raises(ValidationError) as info:
        source.open_file(str(tmp_path / 'nope'), 'content.src')
    assert 'no such file on the host running the module' in info.value.msg
    (tmp_path / 'empty').write_bytes(b'')
    with pytest.raises(ValidationError) as info:
        source.open_file(str(tmp_path / 'empty'), 'content.src')
    assert 'is empty' in info.value.msg


# ---- HTTP -----------------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    routes = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        route = self.routes.get(self.path.split('?')[0])
        if route is None:
            self.send_error(404, 'Not Found')
            return
        body, cut = route[:2]
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        for header in route[2:]:
            self.send_header(*header)
        self.end_headers()
        self.wfile.write(body[:cut] if cut is not None else body)
        if cut is not None:
            self.close_connection = True

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def http():
    server = HTTPServer(('127.0.0.1', 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1], _Handler.routes
    server.shutdown()
    server.server_close()
    _Handler.routes.clear()


def test_http_body_is_streamed(http):
    base, routes = http
    given = compress('gzip', DATA)
    routes['/i.img.gz'] = (given, None)
    src = source.open_http(base + '/i.img.gz', 'content.url', timeout=5, algorithm='sha256')
    assert src.length == len(given) and src.compression == 'gzip'
    assert read_all(src) == DATA
    src.finish()
    assert src.digest == hashlib.sha256(given).hexdigest()
    src.close()


def test_http_error_names_status_and_url_without_credentials(http):
    base, _routes = http
    url = base.replace('http://', 'http://me:hunter2@') + '/missing.img?token=abc'
    with pytest.raises(OperationError) as info:
        source.open_http(url, 'content.url', timeout=5)
    assert info.value.msg == 'content.url %s/missing.img?...: HTTP 404 Not Found' % base
    assert 'hunter2' not in info.value.msg and 'abc' not in info.value.msg


def test_http_connection_closed_mid_transfer(http):
    base, routes = http
    routes['/cut.img'] = (DATA, len(DATA) // 2)
    src = source.open_http(base + '/cut.img', 'content.url', timeout=5)
    with pytest.raises(OperationError) as info:
        read_all(src)  # http.client gives the bytes it got, then b''
        src.finish()
    assert 'content.url %s/cut.img' % base in info.value.msg and 'of %d' % len(DATA) in info.value.msg


def test_http_refused_connection():
    with pytest.raises(OperationError) as info:
        source.open_http('http://127.0.0.1:9/x.img', 'content.url', timeout=2)
    assert info.value.msg.startswith('content.url http://127.0.0.1:9/x.img: ')


def test_http_body_sent_with_a_content_encoding_is_refused(http):
    base, routes = http
    routes['/i.img'] = (gzip.compress(DATA), None, ('Content-Encoding', 'gzip'))
    with pytest.raises(OperationError) as info:
        source.open_http(base + '/i.img', 'content.url', timeout=5)
    assert 'Content-Encoding gzip' in info.value.msg


def test_http_server_that_stops_sending_times_out():
    import socket  # pylint: disable=import-outside-toplevel
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)

    def serve():
        conn, _addr = listener.accept()
        conn.recv(65536)
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 4000000\r\n\r\n' + b'x' * 1000)
        threading.Event().wait(3)
        conn.close()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    src = None
    with pytest.raises(OperationError) as info:
        src = source.open_http('http://127.0.0.1:%d/slow.img' % listener.getsockname()[1], 'content.url', timeout=0.5)
        read_all(src)
    assert 'slow.img stopped after' in info.value.msg and 'of 4000000: timed out' in info.value.msg
    listener.close()


def test_a_url_that_cannot_be_parsed_is_refused_naming_the_option():
    with pytest.raises(ValidationError) as failure:
        source.validate_url('http://[::1/x', 'content.url')
    assert str(failure.value).startswith('content.url ') and 'give an http:// or https:// URL' in str(failure.value)


def _sparse_file(path):
    """3 MiB + 100 bytes: 1 MiB + 100 of data, a 1 MiB hole, 1 MiB of data, then the file ends in a hole."""
    head, tail = os.urandom(source.CHUNK + 100), os.urandom(source.CHUNK)
    with open(str(path), 'wb') as handle:
        handle.write(head)
        handle.seek(2 * source.CHUNK + 100)
        handle.write(tail)
        handle.truncate(4 * source.CHUNK)
    return head + bytes(source.CHUNK) + tail + bytes(4 * source.CHUNK - (3 * source.CHUNK + 100))


def test_file_holes_are_skipped_and_hashed_as_zeros(tmp_path):
    path = tmp_path / 'sparse.raw'
    content = _sparse_file(path)
    opened = source.open_file(str(path), 'content.src', 'sha256')
    got, skipped = [], 0
    while True:
        hole = opened.skip_hole()
        if hole:
            assert hole % source.HOLE_BLOCK == 0
            got.append(bytes(hole))
            skipped += hole
            continue
        data = opened.read(source.HOLE_BLOCK)
        if not data:
            break
        got.append(data)
    opened.finish()
    opened.close()
    assert b''.join(got) == content
    # the hole inside (less the part of a block that holds data) and the end but its last block
    assert skipped >= 4 * source.CHUNK - 2 * source.CHUNK - 100 - 2 * source.HOLE_BLOCK - source.HOLE_BLOCK
    assert opened.digest == opened.image_digest == hashlib.sha256(content).hexdigest()
    assert opened.given == opened.out == len(content)


def test_no_hole_is_skipped_in_compressed_data(tmp_path):
    path = tmp_path / 'zeros.gz'
    path.write_bytes(gzip.compress(bytes(4 * source.CHUNK)))
    opened = source.open_file(str(path), 'content.src')
    assert opened.skip_hole() == 0
    opened.close()
