"""module_utils/export.py and storage_volume's export over the fake libvirt: what the file holds, the
sidecar, when an export is current, and that a failure leaves nothing behind."""

import bz2
import gzip
import hashlib
import lzma
import os

import libvirt
import pytest

from fake_libvirt import MIB, FakeConn, dir_pool_xml, libvirt_error, rbd_pool_xml, volume_params, volume_xml
from ansible_collections.kvmops.storage.plugins.module_utils import engine, export, source, stream
from ansible_collections.kvmops.storage.plugins.module_utils.backends import rbd as rbd_backend
from ansible_collections.kvmops.storage.plugins.module_utils.errors import (
    OperationError,
    RefusedError,
    UnsupportedError,
    ValidationError,
)
from ansible_collections.kvmops.storage.plugins.module_utils.volume import VolumeManager

POOL = 'images'
DIR = '/var/lib/libvirt/images'
BLOCK = 64 * 1024
MTIME = '1796400000.123456789'


def content_with_holes():
    """2 MiB: data, a hole of 1 MiB (sent as a hole), data with a zero block inside, trailing zeros."""
    data = os.urandom(BLOCK * 3) + bytes(BLOCK) + os.urandom(BLOCK)
    body = data + bytes(MIB) + data
    return body + bytes(2 * MIB - len(body)), [(len(data), MIB)]


@pytest.fixture
def conn():
    return FakeConn()


@pytest.fixture
def vol(conn):
    pool = conn.add_pool(dir_pool_xml(name=POOL, path=DIR), active=True)
    made = pool.add(volume_xml('v.raw', 2 * MIB, mtime=MTIME))
    made.content, made.holes = content_with_holes()
    return made


def run(conn, check_mode=False, **given):
    given.setdefault('pool', POOL)
    manager = VolumeManager(conn, volume_params(**given), True)
    return engine.reconcile(manager, check_mode, True)


def leftovers(directory):
    return sorted(name for name in os.listdir(str(directory)) if name.startswith('.'))


def write_with_hole(path, content, compression=None, source_algorithm=None):
    """content_with_holes() through a Sink into ``path``, its 1 MiB hole given as a hole; returns the sink."""
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT)
    try:
        sink = export.Sink(fd, 'sha256', compression, source_algorithm)
        sink.data(content[:BLOCK * 5])
        sink.hole(MIB)
        sink.data(content[BLOCK * 5 + MIB:])
        sink.close()
    finally:
        os.close(fd)
    return sink


# ---- the sink ----------------------------------------------------------------------------------

def test_plain_sink_leaves_zero_blocks_as_holes(tmp_path):
    content, _holes = content_with_holes()
    path = tmp_path / 'out'
    sink = write_with_hole(path, content)
    assert path.read_bytes() == content
    assert sink.digest.hexdigest() == hashlib.sha256(content).hexdigest()
    # data blocks are 7 of 32: a file that had its zeros written would take all 2 MiB
    assert os.stat(str(path)).st_blocks * 512 <= 8 * BLOCK


def test_plain_sink_finds_zero_blocks_across_pieces_of_any_size(tmp_path):
    """libvirt's stream messages are 262120 bytes: zero blocks are found at the file's offsets."""
    content = (os.urandom(1000) + bytes(8 * BLOCK)) * 4
    path = tmp_path / 'out'
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT)
    try:
        sink = export.Sink(fd, 'sha256')
        for offset in range(0, len(content), 262120):
            sink.data(content[offset:offset + 262120])
        sink.close()
    finally:
        os.close(fd)
    assert path.read_bytes() == content
    # each run of zeros has 7 whole aligned blocks at least: 4 data blocks of 36 are written
    assert os.stat(str(path)).st_blocks * 512 <= 5 * BLOCK


def test_plain_sink_ending_in_a_hole_has_its_full_length(tmp_path):
    path = tmp_path / 'out'
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT)
    try:
        sink = export.Sink(fd, 'sha256')
        sink.data(b'x' * 100)
        sink.hole(MIB)
        sink.close()
    finally:
        os.close(fd)
    assert path.read_bytes() == b'x' * 100 + bytes(MIB)


@pytest.mark.parametrize('compression, decompress', [
    ('gzip', gzip.decompress), ('bzip2', bz2.decompress), ('xz', lzma.decompress),
    ('zstd', lambda data: source.zstandard.ZstdDecompressor().decompressobj().decompress(data))])
def test_compressed_sink(tmp_path, compression, decompress):
    if compression == 'zstd' and source.zstandard is None:
        pytest.skip('python zstandard is not installed')
    content, _holes = content_with_holes()
    path = tmp_path / 'out'
    sink = write_with_hole(path, content, compression, 'sha256')
    written = path.read_bytes()
    assert decompress(written) == content
    assert sink.digest.hexdigest() == hashlib.sha256(written).hexdigest(), 'the checksum is of the file as written'
    assert sink.source.hexdigest() == hashlib.sha256(content).hexdigest(), 'the mark is of the volume as read'


# ---- the module's export ---------------------------------------------------------------------------

def test_export_writes_the_volume_and_a_sidecar_sha256sum_reads(conn, vol, tmp_path):
    dest = tmp_path / 'v.raw'
    result = run(conn, name='v.raw', export={'dest': str(dest)})
    assert result['changed'] and result['actions'] == ['export']
    assert dest.read_bytes() == vol.content
    digest = hashlib.sha256(vol.content).hexdigest()
    assert result['export'] == {'dest': str(dest), 'sidecar': str(dest) + '.sha256', 'format': 'raw',
                                'compress': None, 'checksum': 'sha256:' + digest, 'size': 2 * MIB,
                                'written': True, 'reason': 'there is no export at %s yet' % dest}
    sidecar = (tmp_path / 'v.raw.sha256').read_text().splitlines()
    assert sidecar[-1] == '%s  v.raw' % digest
    assert all(line.startswith('# ') for line in sidecar[:-1])
    assert '# source: capacity=%d mtime=%s' % (2 * MIB, MTIME) in sidecar
    assert oct(os.stat(str(dest)).st_mode & 0o777) == '0o600'
    assert leftovers(tmp_path) == []
    assert conn.calls_of('download') == [('v.raw', 0, 0, 1)], 'one sparse download'


def test_second_run_sees_a_current_export(conn, vol, tmp_path):
    dest = str(tmp_path / 'v.raw')
    first = run(conn, name='v.raw', export={'dest': dest})
    calls = len(conn.calls_of('download'))
    for check_mode in (True, False):
        again = run(conn, check_mode, name='v.raw', export={'dest': dest})
        assert not again['changed'] and again['actions'] == []
        assert again['export']['written'] is False and again['export']['checksum'] == first['export']['checksum']
        assert again['export']['size'] == 2 * MIB
    assert len(conn.calls_of('download')) == calls, 'a volume with an mtime is not read to tell'


@pytest.mark.parametrize('change, reason', [
    ('volume', 'the volume changed since the export'),
    ('file', 'changed after the export was written'),
    ('sidecar', 'no sidecar file'),
    ('format', 'the export holds compress none, not gzip'),
    ('force', 'export.force is set'),
])
def test_stale_export_is_written_again(conn, vol, tmp_path, change, reason):
    dest = tmp_path / 'v.raw'
    run(conn, name='v.raw', export={'dest': str(dest)})
    given = {'dest': str(dest)}
    if change == 'volume':
        vol.xml = vol.xml.replace(MTIME, '1796400001.0')
    elif change == 'file':
        with open(str(dest), 'r+b') as handle:
            handle.write(b'changed')
    elif change == 'sidecar':
        os.unlink(str(dest) + '.sha256')
    elif change == 'format':
        given['compress'] = 'gzip'
    else:
        given['force'] = True
    predicted = run(conn, True, name='v.raw', export=given)
    assert predicted['changed'] and predicted['actions'] == ['export'] and reason in predicted['export']['reason']
    assert predicted['export']['checksum'] is None
    real = run(conn, name='v.raw', export=given)
    assert real['actions'] == ['export'] and reason in real['export']['reason']
    if change != 'format':
        assert dest.read_bytes() == vol.content


@pytest.mark.parametrize('mtime', [None, MTIME])
def test_block_volume_is_marked_by_its_digest(conn, tmp_path, mtime):
    """libvirt reports the timestamps of a device node too, which a write to the device leaves as they are."""
    pool = conn.add_pool(dir_pool_xml(name=POOL, path=DIR), active=True)
    made = pool.add(volume_xml('b', 2 * MIB, fmt=None, vol_type='block', path='/dev/vg/b', mtime=mtime))
    made.content, made.holes = content_with_holes()
    dest = str(tmp_path / 'b.raw')
    run(conn, name='b', export={'dest': dest})
    sidecar = export.read_sidecar(dest + '.sha256')
    assert sidecar['source'] == 'digest=sha256:%s' % hashlib.sha256(made.content).hexdigest()
    assert not run(conn, name='b', export={'dest': dest})['changed']
    made.content = made.content[:-1] + b'\x01'
    made.holes = []
    assert run(conn, True, name='b', export={'dest': dest})['actions'] == ['export']


def test_failed_download_leaves_nothing_and_keeps_the_old_export(conn, vol, tmp_path):
    dest = tmp_path / 'v.raw'
    run(conn, name='v.raw', export={'dest': str(dest)})
    old = dest.read_bytes()
    conn.fail_on['recvAll'] = libvirt_error('stream closed', libvirt.VIR_ERR_INTERNAL_ERROR)
    with pytest.raises(OperationError) as failed:
        run(conn, name='v.raw', export={'dest': str(dest), 'force': True})
    assert 'stream closed' in failed.value.msg
    assert dest.read_bytes() == old
    assert leftovers(tmp_path) == []
    assert ('stream.abort', ()) in conn.calls


def test_volume_changed_during_the_export_is_thrown_away(conn, vol, tmp_path, monkeypatch):
    dest = tmp_path / 'v.raw'
    real = stream.LibvirtChannel.download

    def download_and_write(channel, sink):
        real(channel, sink)
        vol.xml = vol.xml.replace(MTIME, '1796400002.5')  # a write to the file meanwhile
    monkeypatch.setattr(stream.LibvirtChannel, 'download', download_and_write)
    with pytest.raises(OperationError) as failed:
        run(conn, name='v.raw', export={'dest': str(dest)})
    assert 'changed while it was exported' in failed.value.msg
    assert not dest.exists() and leftovers(tmp_path) == []


# ---- refusals, before anything is read or written ------------------------------------------------

@pytest.mark.parametrize('given, option, words', [
    ({'dest': 'relative/v.raw'}, 'export.dest', 'give an absolute path'),
    ({'dest': '/nonexistent-dir/v.raw'}, 'export.dest', 'directory /nonexistent-dir does not exist'),
    ({'dest': '/tmp'}, 'export.dest', 'is a directory'),
])
def test_bad_dest(conn, vol, given, option, words):
    with pytest.raises(ValidationError) as refused:
        run(conn, True, name='v.raw', export=given)
    assert refused.value.details['option'] == option and words in refused.value.msg
    assert conn.calls_of('download') == []


def test_conversion_without_qemu_img_is_refused(conn, vol, tmp_path, monkeypatch):
    monkeypatch.setattr(export.qemu_img, 'find', lambda: None)
    with pytest.raises(ValidationError) as refused:
        run(conn, True, name='v.raw', export={'dest': str(tmp_path / 'v.qcow2'), 'format': 'qcow2'})
    assert refused.value.details['option'] == 'export.format'
    assert 'qemu-utils' in refused.value.msg
    # no conversion, no qemu-img needed
    assert run(conn, True, name='v.raw', export={'dest': str(tmp_path / 'v.raw'), 'format': 'raw'})['changed']


def test_export_needs_state_present_and_one_file_per_item(conn, vol, tmp_path):
    with pytest.raises(ValidationError) as refused:
        run(conn, True, name='v.raw', state='absent', export={'dest': str(tmp_path / 'v')})
    assert refused.value.details['option'] == 'export' and 'state=present' in refused.value.msg
    with pytest.raises(ValidationError) as refused:
        run(conn, True, volumes=[{'name': 'v.raw'}], export={'dest': str(tmp_path / 'v')})
    assert refused.value.details['option'] == 'export'


def test_bulk_exports_are_reported_per_item(conn, vol, tmp_path):
    result = run(conn, volumes=[{'name': 'v.raw', 'export': {'dest': str(tmp_path / 'a')}},
                                {'name': 'v.raw2', 'capacity': '1M'}])
    assert [e['name'] for e in result['exports']] == ['v.raw']
    assert result['actions'] == ['export:v.raw', 'create:v.raw2']


def test_rbd_volume_without_the_rbd_command_is_refused_before_anything_is_read(conn, tmp_path, monkeypatch):
    pool = conn.add_pool(rbd_pool_xml(name='ceph'), active=True)
    pool.add(volume_xml('img', MIB, fmt=None, vol_type='network', path='rbd/img'))
    monkeypatch.setattr(rbd_backend.shutil, 'which', lambda name: None)
    with pytest.raises(UnsupportedError) as refused:
        run(conn, True, pool='ceph', name='img', export={'dest': str(tmp_path / 'img')})
    assert 'the rbd command' in refused.value.msg and 'ceph-common' in refused.value.msg
    assert conn.calls_of('download') == [] and not (tmp_path / 'img').exists()


def test_overlay_is_refused(conn, tmp_path):
    pool = conn.add_pool(dir_pool_xml(name=POOL, path=DIR), active=True)
    pool.add(volume_xml('ov.qcow2', MIB, fmt='qcow2', backing='/var/lib/libvirt/images/base.qcow2'))
    with pytest.raises(RefusedError) as refused:
        run(conn, True, name='ov.qcow2', export={'dest': str(tmp_path / 'ov')})
    assert 'is an overlay of /var/lib/libvirt/images/base.qcow2' in refused.value.msg


def test_running_domain_writing_the_volume_is_refused_unless_force_in_use(conn, vol, tmp_path):
    path = '%s/v.raw' % DIR
    conn.add_domain('vm1', {'file': path}, active=True)
    with pytest.raises(RefusedError) as refused:
        run(conn, True, name='v.raw', export={'dest': str(tmp_path / 'v')})
    assert 'written by running domain(s) vm1' in refused.value.msg and 'domfsfreeze' in refused.value.msg
    assert refused.value.details['domains'] == ['vm1']
    assert run(conn, name='v.raw', export={'dest': str(tmp_path / 'v'), 'force_in_use': True})['changed']


@pytest.mark.parametrize('how', ['stopped', 'readonly'])
def test_domain_that_does_not_write_the_volume_does_not_block(conn, vol, tmp_path, how):
    path = '%s/v.raw' % DIR
    if how == 'stopped':
        conn.add_domain('vm1', {'file': path})
    else:
        xml = ('<domain type="kvm"><name>vm1</name><devices><disk type="file" device="disk"><source file="%s"/>'
               '<readonly/><target dev="vda"/></disk></devices></domain>' % path)
        conn.add_domain('vm1', active=True, xml=xml)
    assert run(conn, name='v.raw', export={'dest': str(tmp_path / 'v')})['changed']


def test_missing_volume_refused_by_the_real_run_and_assumed_by_check_mode(conn, vol, tmp_path):
    with pytest.raises(ValidationError) as refused:
        run(conn, name='nope.raw', export={'dest': str(tmp_path / 'n')})
    assert refused.value.details['option'] == 'export' and 'nothing to export' in refused.value.msg
    predicted = run(conn, True, name='nope.raw', export={'dest': str(tmp_path / 'n')})
    assert predicted['actions'] == ['export'] and predicted['export']['written'] is True
    assert 'check mode assumes that an earlier task of this run makes it' in predicted['warnings'][0]
    assert leftovers(tmp_path) == [] and not (tmp_path / 'n').exists()


# ---- guards found in review ------------------------------------------------------------------------

def test_export_after_a_move_that_fails_keeps_the_copy(conn, tmp_path):
    """delete_source is the point of no return: a failing export after it must not delete the only copy."""
    old = conn.add_pool(dir_pool_xml(name='old', path='/srv/old', uuid='11111111-2222-3333-4444-555555555555'),
                        active=True)
    src = old.add(volume_xml('src.raw', MIB, path='/srv/old/src.raw'))
    src.content = b'\x01' * MIB
    conn.add_pool(dir_pool_xml(name=POOL, path=DIR), active=True)
    manager = VolumeManager(conn, volume_params(pool=POOL, name='dst.raw', clone_from={
        'pool': 'old', 'name': 'src.raw', 'move': True}, export={'dest': str(tmp_path / 'dst.raw')}), False)
    manager.check_mode = False
    plan = manager.plan(manager.read())
    assert plan.actions == ['refresh', 'clone', 'verify', 'delete_source', 'export']
    # the export's sparse download fails (verify reads through a plain download, which does not)
    conn.fail_on['recvAll'] = libvirt_error('disk full', libvirt.VIR_ERR_INTERNAL_ERROR)
    with pytest.raises(OperationError) as failed:
        engine.apply(plan, False)
    assert 'disk full' in failed.value.msg and 'rolled back' not in failed.value.msg
    assert 'src.raw' not in old.volumes and 'dst.raw' in conn.pools[POOL].volumes


def test_export_after_a_resize_in_the_same_task_is_written(conn, vol, tmp_path):
    dest = str(tmp_path / 'v.raw')
    run(conn, name='v.raw', export={'dest': dest})
    again = run(conn, True, name='v.raw', capacity='4M', export={'dest': dest})
    assert again['actions'] == ['resize', 'export']
    assert again['export']['reason'] == 'this task changes the volume first (resize)'


def test_dest_that_is_the_volume_or_in_its_pool_directory_is_refused(conn, tmp_path):
    directory = tmp_path / 'pool'
    directory.mkdir()
    pool = conn.add_pool(dir_pool_xml(name=POOL, path=str(directory)), active=True)
    pool.add(volume_xml('v.raw', MIB, path=str(directory / 'v.raw')))
    (directory / 'v.raw').write_bytes(b'\0' * 16)
    for dest, words in ((directory / 'v.raw', 'is the volume itself'), (directory / 'w.raw', 'directory of the pool')):
        manager = VolumeManager(conn, volume_params(pool=POOL, name='v.raw', export={'dest': str(dest)}), True)
        manager.check_mode = True
        with pytest.raises(ValidationError) as refused:
            manager.plan(manager.read())
        assert words in refused.value.msg and refused.value.details['option'] == 'export.dest'
    link = tmp_path / 'link'
    link.symlink_to(tmp_path / 'elsewhere')
    with pytest.raises(ValidationError) as refused:
        run(conn, True, name='v.raw', export={'dest': str(link)})
    assert 'is not a regular file' in refused.value.msg


def test_copy_file_without_seek_data_copies_everything(tmp_path, monkeypatch):
    import errno
    path = tmp_path / 'f'
    content = os.urandom(1000) + bytes(3 * BLOCK) + os.urandom(1000)
    path.write_bytes(content)
    real = os.lseek

    def no_seek_data(fd, pos, how):
        if how in (os.SEEK_DATA, os.SEEK_HOLE):
            raise OSError(errno.EINVAL, 'Invalid argument')
        return real(fd, pos, how)
    monkeypatch.setattr(export.os, 'lseek', no_seek_data)
    sink = export.Sink(None, 'sha256')
    export._copy_file(str(path), sink)
    assert sink.digest.hexdigest() == hashlib.sha256(content).hexdigest()
