"""rbd pools and volumes: exact image sizes, deletes that take libvirt's clone snapshots along,
and readable reasons for libvirt's misleading connect and delete errors."""

import base64
import hashlib
import io
import os
import socket
import struct
import subprocess

import libvirt
import pytest
from lxml import etree

from fake_libvirt import MIB, FakeConn, libvirt_error, rbd_pool_xml, volume_params, volume_xml
from ansible_collections.kvmops.storage.plugins.module_utils import engine
from ansible_collections.kvmops.storage.plugins.module_utils.backends import rbd as rbd_backend
from ansible_collections.kvmops.storage.plugins.module_utils.backends.rbd import RbdBackend, monitors
from ansible_collections.kvmops.storage.plugins.module_utils.errors import OperationError, RefusedError, UnsupportedError
from ansible_collections.kvmops.storage.plugins.module_utils.volume import VolumeManager

POOL = 'ceph-vms'
CONNECT_FAILED = 'failed to connect to the RADOS monitor on: 127.0.0.1:6789,: No such file or directory'


@pytest.fixture
def conn():
    return FakeConn()


@pytest.fixture
def pool(conn):
    return conn.add_pool(rbd_pool_xml(name=POOL), active=True)


def rbd_volume(name, capacity):
    return volume_xml(name, capacity, path='vms/%s' % name, vol_type='network', allocation=3 * 4 * MIB)


def plan_for(conn, **given):
    given.setdefault('pool', POOL)
    manager = VolumeManager(conn, volume_params(**given), True)
    return manager.plan(manager.read())


def test_image_of_odd_size_is_no_change(conn, pool):
    # RBD keeps the byte size asked for; the 4 MiB objects show only in the allocation
    pool.add(rbd_volume('img', 10000001))
    assert plan_for(conn, name='img', capacity='10000001').actions == []


def test_one_byte_less_than_the_image_is_a_shrink(conn, pool):
    pool.add(rbd_volume('img', 12 * MIB))
    with pytest.raises(RefusedError) as info:
        plan_for(conn, name='img', capacity=str(12 * MIB - 1))
    assert 'allow_shrink' in info.value.msg
    assert plan_for(conn, name='img', capacity='11M', allow_shrink=True).actions == ['shrink']


def test_one_byte_more_than_the_image_is_a_resize(conn, pool):
    pool.add(rbd_volume('img', 10 * MIB))
    assert plan_for(conn, name='img', capacity=str(10 * MIB + 1)).actions == ['resize']


SECRET_UUID = '2ec115d7-3a88-3ceb-bc12-0ac909a6fd87'
KEY = b'\x01\x00cephx-key-bytes-of-the-pool'


class FakeSecret:
    def __init__(self, value):
        self.stored = value

    def value(self, flags=0):
        if self.stored is None:
            raise libvirt_error('secret is private', libvirt.VIR_ERR_INVALID_SECRET)
        return self.stored


@pytest.fixture
def snapshots(monkeypatch, conn):
    """The snapshots rbd.list_snapshots reports, per image path; records the key and image it was asked for."""
    conn.secrets[SECRET_UUID] = FakeSecret(KEY)
    listed = {}
    asked = []

    def fake(definition, image, key):
        asked.append((image, key, [host for host, _port in rbd_backend.monitors(definition)]))
        found = listed.get(image)
        if isinstance(found, Exception):
            raise found
        return list(found or ())

    monkeypatch.setattr(rbd_backend, 'list_snapshots', fake)
    listed['asked'] = asked
    return listed


def test_delete_takes_the_snapshots_libvirt_made_for_clones(conn, pool, snapshots):
    pool.add(rbd_volume('img', 10 * MIB))
    snapshots['vms/img'] = ['libvirt-27969', 'libvirt-1']
    plan = plan_for(conn, name='img', state='absent')
    engine.apply(plan, False)
    assert conn.calls_of('vol.delete') == [('img', libvirt.VIR_STORAGE_VOL_DELETE_WITH_SNAPSHOTS)]
    assert snapshots['asked'] == [('vms/img', KEY, ['mon1.example.com', 'mon2.example.com'])]


def test_delete_of_an_image_without_snapshots_passes_no_flag(conn, pool, snapshots):
    pool.add(rbd_volume('img', 10 * MIB))
    engine.apply(plan_for(conn, name='img', state='absent'), False)
    assert conn.calls_of('vol.delete') == [('img', 0)]


def test_delete_of_an_image_with_other_snapshots_is_refused(conn, pool, snapshots):
    pool.add(rbd_volume('img', 10 * MIB))
    snapshots['vms/img'] = ['libvirt-27969', 'backup-2026-12-01', 'libvirt-x']
    for check in (True, False):
        with pytest.raises(RefusedError) as info:
            manager = VolumeManager(conn, volume_params(pool=POOL, name='img', state='absent'), True)
            plan = manager.plan(manager.read())
            engine.apply(plan, check)
        assert ('RBD image vms/img has snapshot(s) that libvirt did not make for a clone: backup-2026-12-01, '
                'libvirt-x;' in info.value.msg), info.value.msg
        assert info.value.details['snapshots'] == ['backup-2026-12-01', 'libvirt-x']
    assert conn.calls_of('vol.delete') == []
    forced = plan_for(conn, name='img', state='absent', force=True)
    engine.apply(forced, False)
    assert conn.calls_of('vol.delete') == [('img', libvirt.VIR_STORAGE_VOL_DELETE_WITH_SNAPSHOTS)]


def test_delete_when_snapshots_cannot_be_listed_keeps_them(conn, pool, snapshots):
    """A private secret (or no rbd tool): the delete goes without the flag, so librbd refuses an image with
    snapshots instead of removing them, and a warning says so."""
    pool.add(rbd_volume('img', 10 * MIB))
    conn.secrets[SECRET_UUID] = FakeSecret(None)
    plan = plan_for(conn, name='img', state='absent')
    assert len(plan.warnings) == 1
    assert plan.warnings[0].startswith('the snapshots of RBD image vms/img cannot be listed (the value of secret '
                                       '%s cannot be read: secret is private)' % SECRET_UUID), plan.warnings
    assert snapshots['asked'] == []
    engine.apply(plan, False)
    assert conn.calls_of('vol.delete') == [('img', 0)]


def test_list_snapshots_runs_rbd_with_a_key_file(monkeypatch, tmp_path):
    """The rbd command gets the monitors, the user and a key file (never the key on its command line)."""
    seen = {}

    def fake_run(argv, **kwargs):
        keyfile = argv[argv.index('--keyfile') + 1]
        with open(keyfile) as handle:
            seen['key'] = handle.read()
        seen['mode'] = oct(os.stat(keyfile).st_mode & 0o777)
        seen['argv'] = argv
        return subprocess.CompletedProcess(argv, 0, '[{"id":4,"name":"libvirt-17694","size":8388608}]', '')

    monkeypatch.setattr(rbd_backend.shutil, 'which', lambda name: '/usr/bin/rbd')
    monkeypatch.setattr(rbd_backend.subprocess, 'run', fake_run)
    definition = etree.fromstring(rbd_pool_xml().encode())
    assert rbd_backend.list_snapshots(definition, 'vms/img', KEY) == ['libvirt-17694']
    assert seen['key'] == base64.b64encode(KEY).decode() and seen['mode'] == '0o600'
    argv = seen['argv']
    assert argv[:4] == ['rbd', '--conf', '/dev/null', '-m'] and argv[4] == 'mon1.example.com:6789,mon2.example.com:6789'
    assert argv[argv.index('--id') + 1] == 'libvirt'
    assert argv[-5:] == ['snap', 'ls', '--format', 'json', 'vms/img']
    assert base64.b64encode(KEY).decode() not in ' '.join(argv)
    assert not os.path.exists(argv[argv.index('--keyfile') + 1]), 'the key file is removed'


def test_delete_of_a_clone_source_explains_libvirts_message(conn, pool, snapshots):
    pool.add(rbd_volume('golden', 10 * MIB))
    snapshots['vms/golden'] = ['libvirt-27969']
    conn.fail_on[('vol.delete', 'golden')] = libvirt_error(
        "failed to unprotect snapshot 'vms/golden@libvirt-27969': No such file or directory", 38)
    plan = plan_for(conn, name='golden', state='absent')
    with pytest.raises(OperationError) as info:
        engine.apply(plan, False)
    assert 'golden' in info.value.msg and 'delete those clones first' in info.value.msg


def test_monitors_default_port():
    definition = etree.fromstring(rbd_pool_xml().encode())
    definition.find('source/host').attrib.pop('port')
    assert monitors(definition) == [('mon1.example.com', 6789), ('mon2.example.com', 6789)]


def _listener():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(1)
    return sock


def _pool_on(port, auth=True):
    xml = ("<pool type='rbd'><name>p</name><source><host name='127.0.0.1' port='%d'/><name>vms</name>%s"
           "</source></pool>" % (port, "<auth type='ceph' username='libvirt'><secret usage='ceph-key'/></auth>"
                                 if auth else ''))
    return etree.fromstring(xml.encode())


def test_start_hint_no_monitor_listens():
    sock = _listener()
    port = sock.getsockname()[1]
    sock.close()
    hint = RbdBackend({'name': 'p'}).start_failure_hint(_pool_on(port), CONNECT_FAILED, True)
    assert 'no Ceph monitor accepts connections at 127.0.0.1:%d' % port in hint


def test_start_hint_monitor_listens_so_auth_failed():
    sock = _listener()
    try:
        hint = RbdBackend({'name': 'p'}).start_failure_hint(_pool_on(sock.getsockname()[1]), CONNECT_FAILED, True)
        no_auth = RbdBackend({'name': 'p'}).start_failure_hint(_pool_on(sock.getsockname()[1], auth=False),
                                                               CONNECT_FAILED, True)
    finally:
        sock.close()
    assert 'refused the client' in hint and "auth_username 'libvirt'" in hint and "secret_usage 'ceph-key'" in hint
    assert 'no auth' in no_auth


def test_start_hint_only_for_connect_failures_on_the_local_host():
    backend = RbdBackend({'name': 'p'})
    assert backend.start_failure_hint(_pool_on(1), "failed to create the RBD IoCTX. Does the pool 'vms' exist?",
                                      True) is None
    assert backend.start_failure_hint(_pool_on(1), CONNECT_FAILED, False) is None


# ---- the bytes of an image (rbd import-diff / rbd export) -------------------------------------

def parse_diff(data):
    """[(offset, bytes)] of the write records of an rbd diff v1 stream; asserts its header and end."""
    assert data.startswith(b'rbd diff v1\n')
    position, writes = len(b'rbd diff v1\n'), []
    while True:
        tag = data[position:position + 1]
        position += 1
        if tag == b'e':
            assert position == len(data), 'nothing after the end record'
            return writes
        assert tag == b'w', tag
        offset, length = struct.unpack('<QQ', data[position:position + 16])
        position += 16
        writes.append((offset, data[position:position + length]))
        position += length


def image_channel():
    definition = etree.fromstring(rbd_pool_xml(name=POOL).encode())
    return rbd_backend.RbdImage(definition, 'img', b'key')


def test_diff_writes_the_data_blocks_only_at_their_offsets():
    block = rbd_backend.stream.HOLE_BLOCK
    content = os.urandom(block) + bytes(3 * block) + os.urandom(block + 100)
    out = io.BytesIO()
    holes = image_channel()._write_diff(out, io.BytesIO(content).read, 0, 'src', None)
    writes = parse_diff(out.getvalue())
    assert writes == [(0, content[:block]), (4 * block, content[4 * block:])]
    assert holes == 3 * block
    image = bytearray(len(content))
    for offset, data in writes:
        image[offset:offset + len(data)] = data
    assert bytes(image) == content


def test_diff_records_stay_at_most_4_mib_and_skipped_holes_move_the_offset():
    block = rbd_backend.stream.HOLE_BLOCK
    content = os.urandom(5 * MIB)
    skips = [0, 7 * block]  # a file hole the source knows of, before its data

    def skip():
        return skips.pop() if skips else 0
    out = io.BytesIO()
    image_channel()._write_diff(out, io.BytesIO(content).read, 0, 'src', skip)
    writes = parse_diff(out.getvalue())
    assert [(offset, len(data)) for offset, data in writes] == [(7 * block, 4 * MIB), (7 * block + 4 * MIB, MIB)]
    assert b''.join(data for _offset, data in writes) == content


def test_diff_refuses_more_than_the_image_takes():
    with pytest.raises(OperationError) as failed:
        image_channel()._write_diff(io.BytesIO(), io.BytesIO(os.urandom(3 * MIB)).read, 2 * MIB, 'src.raw', None)
    assert 'src.raw holds more than the 2097152 bytes RBD image vms/img takes' in failed.value.msg


def test_image_bytes_go_through_rbd_with_a_key_file(monkeypatch, tmp_path):
    """send runs rbd import-diff with the key in a file (never on the command line), removed after."""
    seen = {}
    script = tmp_path / 'rbd'
    script.write_text('#!/bin/sh\necho "$@" > %s/argv\ncat > %s/stdin\n' % (tmp_path, tmp_path))
    script.chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (tmp_path, os.environ['PATH']))
    real_mkdtemp = rbd_backend.tempfile.mkdtemp

    def mkdtemp(**kwargs):
        seen['dir'] = real_mkdtemp(**kwargs)
        return seen['dir']
    monkeypatch.setattr(rbd_backend.tempfile, 'mkdtemp', mkdtemp)
    content = os.urandom(100)
    channel = RbdBackend({'name': POOL}).volume_channel(etree.fromstring(rbd_pool_xml(name=POOL).encode()), 'img',
                                                        lambda *args, **kwargs: b'secret-key')
    assert channel.send(io.BytesIO(content).read, 0, 'src') == 0
    argv = (tmp_path / 'argv').read_text().split()
    assert argv[-3:] == ['--no-progress', '-', 'vms/img'] and 'import-diff' in argv
    assert 'secret-key' not in ' '.join(argv) and base64.b64encode(b'secret-key').decode() not in ' '.join(argv)
    assert argv[argv.index('--keyfile') + 1].startswith(seen['dir']) and not os.path.exists(seen['dir'])
    assert parse_diff((tmp_path / 'stdin').read_bytes()) == [(0, content)]


def test_a_failed_rbd_command_is_an_operation_error_with_its_message(monkeypatch, tmp_path):
    script = tmp_path / 'rbd'
    script.write_text('#!/bin/sh\ncat > /dev/null\necho "rbd: import-diff failed: (2) No such file or directory" >&2\n'
                      'exit 2\n')
    script.chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (tmp_path, os.environ['PATH']))
    channel = image_channel()
    with pytest.raises(OperationError) as failed:
        channel.send(io.BytesIO(b'x' * 10).read, 0, 'src')
    assert failed.value.msg == ('rbd import-diff into vms/img failed: rbd: import-diff failed: (2) No such file or '
                                'directory')
    with pytest.raises(OperationError) as failed:
        channel.digest(10, 'sha256')
    assert 'rbd export of vms/img failed' in failed.value.msg


def test_a_failing_source_stops_rbd_by_closing_its_input_not_by_a_kill(monkeypatch, tmp_path):
    """rbd import-diff gets no end record and ends by itself (a killed client keeps a watch on the image, which
    then cannot be deleted); the source's error is what the task fails with, and no key file stays."""
    script = tmp_path / 'rbd'
    script.write_text('#!/bin/sh\ncat > %s/stdin\necho "rbd: import-diff failed: (74) Bad message" >&2\nexit 74\n'
                      % tmp_path)
    script.chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (tmp_path, os.environ['PATH']))
    killed = []
    real_popen = rbd_backend.subprocess.Popen

    class Popen(real_popen):
        def kill(self):
            killed.append(self.args)
            super().kill()
    monkeypatch.setattr(rbd_backend.subprocess, 'Popen', Popen)
    made = []
    real_mkdtemp = rbd_backend.tempfile.mkdtemp
    monkeypatch.setattr(rbd_backend.tempfile, 'mkdtemp', lambda **kw: made.append(real_mkdtemp(**kw)) or made[-1])
    block = rbd_backend.stream.HOLE_BLOCK
    reads = [os.urandom(block)]

    def read(nbytes):
        if reads:
            return reads.pop()
        raise OSError(5, 'Input/output error')
    with pytest.raises(OSError) as failed:
        image_channel().send(read, 0, 'src')
    assert failed.value.errno == 5 and killed == []
    written = (tmp_path / 'stdin').read_bytes()
    assert written.startswith(b'rbd diff v1\n') and not written.endswith(b'e'), 'no end record was sent'
    assert made and not any(os.path.exists(path) for path in made)


def test_a_digest_of_the_first_bytes_stops_rbd_export_once_read(monkeypatch, tmp_path):
    """rbd export of a large image is stopped after the bytes the digest needs, and that is no failure."""
    script = tmp_path / 'rbd'
    script.write_text('#!/bin/sh\nhead -c 1048576 /dev/urandom > %s/first\ncat %s/first\nexec cat /dev/zero\n'
                      % (tmp_path, tmp_path))
    script.chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (tmp_path, os.environ['PATH']))
    digest = image_channel().digest(MIB, 'sha256')
    assert digest == hashlib.sha256((tmp_path / 'first').read_bytes()).hexdigest()


def test_verified_clone_without_the_rbd_command_is_refused_before_the_clone(conn, pool, monkeypatch):
    pool.add(rbd_volume('golden', 8 * MIB))
    monkeypatch.setattr(rbd_backend.shutil, 'which', lambda name: None)
    with pytest.raises(UnsupportedError) as refused:
        plan_for(conn, name='copy', clone_from={'name': 'golden', 'verify': True})
    assert 'ceph-common' in refused.value.msg
    assert conn.calls_of('createXMLFrom') == []
