"""storage_volume content.url and compressed content on the real libvirtd: images built with dd and
qemu-img, compressed with gzip, bzip2, xz and zstd, served by an HTTP server on 127.0.0.1 that the
tests start (and stop); imported into a dir pool and compared with the source; a wrong checksum, an
HTTP 404 and a server that closes the connection mid-transfer leave nothing behind."""

import hashlib
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import four_calls, run_module, same_image, volumes_of

pytestmark = pytest.mark.libvirt
# the pool fixture of conftest.py names its pool after this
POOL_PREFIX = 'it-imp'

MIB = 1024 * 1024
COMPRESS = {'gz': ['gzip', '-k', '-1'], 'bz2': ['bzip2', '-k', '-1'], 'xz': ['xz', '-k', '-0', '-T1'],
            'zst': ['zstd', '-q', '-1']}


def has_zstandard():
    try:
        import zstandard  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
    except ImportError:
        return False
    return True


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    """raw (8 MiB: random data at 0 and at 5 MiB, holes between) and qcow2 made from it, each also
    compressed: {name: path}."""
    where = tmp_path_factory.mktemp('images')
    raw = str(where / 'disk.raw')
    subprocess.run(['dd', 'if=/dev/urandom', 'of=%s' % raw, 'bs=64K', 'count=16', 'status=none'], check=True)
    subprocess.run(['dd', 'if=/dev/urandom', 'of=%s' % raw, 'bs=64K', 'count=8', 'seek=80', 'conv=notrunc',
                    'status=none'], check=True)
    os.truncate(raw, 8 * MIB)
    qcow = str(where / 'disk.qcow2')
    subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, qcow], check=True)
    made = {'disk.raw': raw, 'disk.qcow2': qcow}
    for base in (raw, qcow):
        for ext, command in COMPRESS.items():
            if shutil.which(command[0]) is None:
                continue
            subprocess.run(command + [base] + (['-o', '%s.%s' % (base, ext)] if ext == 'zst' else []), check=True)
            made[os.path.basename(base) + '.' + ext] = '%s.%s' % (base, ext)
    return made


class _Handler(BaseHTTPRequestHandler):
    """GET /NAME serves images[NAME]; /cut/NAME announces the whole file and closes after half of it."""

    images = {}
    protocol_version = 'HTTP/1.1'

    def do_GET(self):  # noqa: N802 (http.server's name)
        cut = self.path.startswith('/cut/')
        name = self.path[len('/cut/'):] if cut else self.path.lstrip('/')
        path = self.images.get(name.split('?')[0])
        if path is None:
            self.send_error(404, 'Not Found')
            return
        with open(path, 'rb') as handle:
            body = handle.read()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Content-Type', 'application/octet-stream')
        self.end_headers()
        self.wfile.write(body[:len(body) // 2] if cut else body)
        if cut:
            self.wfile.flush()
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def http(images):
    """Base URL of an HTTP server on a free port of 127.0.0.1 serving ``images``; stopped after the module."""
    _Handler.images = images
    server = ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()
    server.server_close()


def digest(path, algorithm='sha256'):
    with open(path, 'rb') as handle:
        return '%s:%s' % (algorithm, hashlib.new(algorithm, handle.read()).hexdigest())


def files_in(path):
    return sorted(os.listdir(path))


def test_url_gzip_raw_four_calls(pool, images, http):
    name, path = pool
    content = {'url': http + '/disk.raw.gz', 'checksum': digest(images['disk.raw.gz'], 'sha512')}
    args = {'pool': name, 'name': 'u.raw', 'content': content}
    first_check, applied, second_check, second = four_calls('storage_volume', args)
    assert first_check['failed'] is False, first_check.get('msg')
    assert first_check['actions'] == ['create', 'upload'] and first_check['changed'] is True
    assert 'source: %s/disk.raw.gz' % http in first_check['diff']['after']
    assert applied['failed'] is False, applied.get('msg')
    assert applied['actions'] == first_check['actions'] and applied['diff'] == first_check['diff']
    with open(images['disk.raw'], 'rb') as want, open(os.path.join(path, 'u.raw'), 'rb') as got:
        assert got.read() == want.read()
    assert applied['volume']['capacity'] == 8 * MIB and applied['volume']['format'] == 'raw'
    for result in (second_check, second):
        assert result['failed'] is False and result['changed'] is False and result['actions'] == []


def test_force_and_compare_import_again(pool, images, http):
    name, path = pool
    volume = os.path.join(path, 'a.raw')
    args = {'pool': name, 'name': 'a.raw', 'content': {'url': http + '/disk.raw', 'checksum': digest(images['disk.raw'])}}
    assert run_module('storage_volume', args)['actions'] == ['create', 'upload']
    compare = dict(args, content=dict(args['content'], compare=True))
    assert run_module('storage_volume', compare)['actions'] == [], 'the volume holds the image'
    with open(volume, 'r+b') as handle:  # the guest wrote to it
        handle.seek(4096)
        handle.write(b'changed')
    planned = run_module('storage_volume', compare, check=True)
    assert planned['actions'] == ['delete', 'create', 'upload'], planned.get('msg')
    done = run_module('storage_volume', compare)
    assert done['actions'] == planned['actions'], done.get('msg')
    with open(images['disk.raw'], 'rb') as want, open(volume, 'rb') as got:
        assert got.read() == want.read()
    forced = dict(args, content=dict(args['content'], force=True))
    assert run_module('storage_volume', forced)['actions'] == ['delete', 'create', 'upload']
    assert volumes_of(name) == ['a.raw']


def test_holes_are_not_written(pool, images, http):
    """A raw image with 1.5 MiB of data in 8 MiB (zeros between and after), from a file and from a gzip
    URL (its size known only at the end): the volume holds the same bytes and takes the space of the
    data (the trailing zeros but the last 64 KiB block a hole), not 8 MiB."""
    name, path = pool
    sources = {'f.raw': {'src': images['disk.raw']}, 'g.raw': {'url': http + '/disk.raw.gz'}}
    for volume, content in sources.items():
        done = run_module('storage_volume', {'pool': name, 'name': volume, 'content': content})
        assert done['failed'] is False and done['actions'] == ['create', 'upload'], done.get('msg')
        held = os.path.join(path, volume)
        with open(images['disk.raw'], 'rb') as want, open(held, 'rb') as got:
            assert got.read() == want.read(), volume
        allocated = os.stat(held).st_blocks * 512
        assert allocated <= 2 * MIB, '%s takes %d bytes for 1.5 MiB of data' % (volume, allocated)
        assert done['volume']['allocation'] == allocated, 'libvirt reports what the file takes'


CASES = [('disk.qcow2.xz', 'url'), ('disk.raw.bz2', 'src'), ('disk.qcow2.gz', 'src'), ('disk.qcow2', 'url')]


def test_compressed_and_plain_images_from_url_and_file(pool, images, http):
    """One task (volumes) imports each case; check mode predicts it, the volumes hold the images."""
    name, path = pool
    cases = CASES + ([('disk.qcow2.zst', 'url')] if has_zstandard() else [])
    items = []
    for index, (image, where) in enumerate(cases):
        given = http + '/' + image if where == 'url' else images[image]
        items.append({'name': 'v%d.img' % index, 'content': {where: given, 'checksum': digest(images[image])}})
    args = {'pool': name, 'capacity': '12M', 'volumes': items}
    planned = run_module('storage_volume', args, check=True, diff=True)
    assert planned['failed'] is False, planned.get('msg')
    assert volumes_of(name) == [], 'check mode made something'
    done = run_module('storage_volume', args, diff=True)
    assert done['failed'] is False, done.get('msg')
    assert done['actions'] == planned['actions'] and done['diff'] == planned['diff']
    for index, (image, _where) in enumerate(cases):
        plain = images[image.rsplit('.', 1)[0] if image.count('.') == 2 else image]
        volume = os.path.join(path, 'v%d.img' % index)
        got = done['volumes'][index]
        assert got['capacity'] == 12 * MIB, got
        if '.qcow2' in image:
            # 8 MiB image grown to 12 MiB after the upload (compare reads the 4 MiB more as zeroes)
            assert got['format'] == 'qcow2' and got['actions'] == ['create', 'upload', 'resize'], got
            assert same_image(plain, volume), image
        else:
            # a raw image whose size is known only after the transfer: made at capacity, the image at its start
            assert got['format'] == 'raw' and got['actions'] == ['create', 'upload'], got
            with open(plain, 'rb') as want, open(volume, 'rb') as held:
                assert held.read(8 * MIB) == want.read() and held.read() == b'\0' * (4 * MIB)
    again = run_module('storage_volume', args)
    assert again['changed'] is False and again['actions'] == [], again.get('msg')


def test_wrong_checksum_from_url_leaves_nothing(pool, images, http):
    name, path = pool
    wrong = 'sha256:' + '0' * 64
    args = {'pool': name, 'name': 'bad.qcow2', 'content': {'url': http + '/disk.qcow2.xz', 'checksum': wrong}}
    result = run_module('storage_volume', args)
    assert result['failed'] is True
    actual = digest(images['disk.qcow2.xz']).split(':')[1]
    assert ('content.checksum: %s/disk.qcow2.xz has sha256 %s, not the %s expected' % (http, actual, '0' * 64)
            in result['msg']), result['msg']
    assert 'rolled back: create' in result['msg']
    assert volumes_of(name) == [] and files_in(path) == []


def test_http_404_and_connection_closed_mid_transfer_leave_nothing(pool, http):
    name, path = pool
    missing = {'pool': name, 'name': 'm.raw', 'content': {'url': http + '/nope.raw?token=t0ken',
                                                          'url_username': 'user', 'url_password': 's3cret'}}
    for check in (True, False):
        result = run_module('storage_volume', missing, check=check, verbosity=3)
        assert result['failed'] is True
        assert result['msg'] == 'content.url %s/nope.raw?...: HTTP 404 Not Found' % http
        assert 's3cret' not in result.output
    # credentials written into the URL are not in the message (the task's own arguments show them)
    inline = dict(missing, content={'url': http.replace('//', '//user:s3cret@') + '/nope.raw'})
    result = run_module('storage_volume', inline)
    assert result['msg'] == 'content.url %s/nope.raw: HTTP 404 Not Found' % http
    cut = {'pool': name, 'name': 'c.raw', 'content': {'url': http + '/cut/disk.raw', 'timeout': 5}}
    result = run_module('storage_volume', cut)
    assert result['failed'] is True
    assert 'reading content.url %s/cut/disk.raw stopped after' % http in result['msg'], result['msg']
    assert 'of %d' % (8 * MIB) in result['msg'] and 'rolled back: create' in result['msg']
    # compressed: the decompressor sees the end missing
    cut_xz = {'pool': name, 'name': 'c.qcow2', 'content': {'url': http + '/cut/disk.qcow2.xz'}}
    result = run_module('storage_volume', cut_xz)
    assert result['failed'] is True and 'rolled back: create' in result['msg'], result['msg']
    assert volumes_of(name) == [] and files_in(path) == []


def test_capacity_below_a_raw_image_known_after_the_transfer(pool, images, http):
    name, path = pool
    args = {'pool': name, 'name': 's.raw', 'capacity': '4M', 'content': {'url': http + '/disk.raw.xz'}}
    planned = run_module('storage_volume', args, check=True)
    assert planned['actions'] == ['create', 'upload'], planned.get('msg')
    result = run_module('storage_volume', args)
    assert result['failed'] is True
    assert ('capacity 4 MiB (4194304 bytes) is less than the 8388608 bytes of the image in content.url %s/disk.raw.xz'
            % http) in result['msg'], result['msg']
    assert volumes_of(name) == [] and files_in(path) == []
