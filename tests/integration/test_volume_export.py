"""storage_volume export against the real libvirtd: volumes written to files (raw, qcow2, compressed)
and imported again, compared with qemu-img compare; the sidecar read by sha256sum -c; a second run
that finds the export current; a changed volume or file exported again; a full file system that
leaves nothing behind; refusals (qemu-img missing, an overlay, a running domain writing the volume);
and an RBD image of the Ceph cluster, marked by its digest."""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

from helpers import (
    four_calls,
    image_info,
    rbd,
    read_testbed,
    remove_pool,
    run_module,
    same_image,
    sha256_of,
    sparse_image,
    virsh,
    virsh_dir_pool,
)

pytestmark = pytest.mark.libvirt
# the pool fixture of conftest.py names its pool after this
POOL_PREFIX = 'it-exp'

MIB = 1024 * 1024
DECOMPRESS = {None: None, 'gzip': ['gzip', '-dc'], 'bzip2': ['bzip2', '-dc'], 'xz': ['xz', '-dc'],
              'zstd': ['zstd', '-qdc']}


def has_zstandard():
    try:
        import zstandard  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
    except ImportError:
        return False
    return True


def upload(pool, name, image, fmt='raw'):
    """A volume made the virsh way (vol-create-as, vol-upload): returns its path."""
    size = image_info(image)['virtual-size']
    virsh('vol-create-as', pool, name, str(size), '--format', fmt)
    virsh('vol-upload', '--pool', pool, name, image, '--sparse')
    return virsh('vol-path', '--pool', pool, name).strip()


def sha256sum_check(sidecar):
    return subprocess.run(['sha256sum', '-c', '--strict', os.path.basename(sidecar)], cwd=os.path.dirname(sidecar),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)


def hidden(directory):
    return sorted(name for name in os.listdir(str(directory)) if name.startswith('.'))


def test_raw_export_four_calls_sidecar_and_holes(pool, tmp_path):
    name, _path = pool
    image = sparse_image(str(tmp_path / 'disk.raw'), 64, (0, 40))
    volume_path = upload(name, 'disk.raw', image)
    out = tmp_path / 'out'
    out.mkdir()
    dest = str(out / 'disk.raw')
    args = {'pool': name, 'name': 'disk.raw', 'export': {'dest': dest}}
    first_check, applied, second_check, second = four_calls('storage_volume', args)
    for result in (first_check, applied):
        assert result['failed'] is False, result.get('msg')
        assert result['changed'] is True and result['actions'] == ['export']
        assert 'export: %s (raw, written: there is no export at %s yet)' % (dest, dest) in result['diff']['after']
    assert first_check['export']['checksum'] is None and first_check['export']['written'] is True
    for result in (second_check, second):
        assert result['failed'] is False, result.get('msg')
        assert result['changed'] is False and result['actions'] == [], result
        assert result['export']['written'] is False
        assert result['export']['checksum'] == applied['export']['checksum']
    assert same_image(volume_path, dest)
    checked = sha256sum_check(dest + '.sha256')
    assert checked.returncode == 0 and checked.stdout.strip() == 'disk.raw: OK', checked.stdout
    assert applied['export']['checksum'] == 'sha256:' + subprocess.run(
        ['sha256sum', dest], stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.split()[0]
    assert applied['export']['size'] == 64 * MIB == os.path.getsize(dest)
    # 2 MiB of data; the 62 MiB of holes were neither sent nor written
    assert os.stat(dest).st_blocks * 512 <= 3 * MIB
    assert oct(os.stat(dest).st_mode & 0o777) == '0o600'
    assert hidden(out) == []


@pytest.mark.parametrize('fmt, compress', [('qcow2', None), ('raw', 'gzip'), ('qcow2', 'xz'), ('raw', 'bzip2'),
                                           ('qcow2', 'zstd')])
def test_converted_and_compressed_exports_import_again(pool, tmp_path, fmt, compress):
    if compress == 'zstd' and not (has_zstandard() and shutil.which('zstd')):
        pytest.skip('zstd needs python zstandard and the zstd command')
    name, _path = pool
    image = sparse_image(str(tmp_path / 'disk.raw'), 16, (0, 8))
    volume_path = upload(name, 'v.raw', image)
    dest = str(tmp_path / ('v.%s%s' % (fmt, '.' + compress if compress else '')))
    wanted = dict({'dest': dest, 'format': fmt}, **({'compress': compress} if compress else {}))
    done = run_module('storage_volume', {'pool': name, 'name': 'v.raw', 'export': wanted})
    assert done['failed'] is False, done.get('msg')
    assert done['export']['format'] == fmt and done['export']['compress'] == compress
    assert sha256sum_check(dest + '.sha256').returncode == 0
    plain = dest
    if compress:
        plain = str(tmp_path / 'plain')
        with open(plain, 'wb') as handle:
            subprocess.run(DECOMPRESS[compress] + [dest], stdout=handle, check=True)
    assert image_info(plain)['format'] == fmt
    assert same_image(volume_path, plain)
    # the export imports as it is (decompressed by content), and the guest sees the same disk
    back = run_module('storage_volume', {'pool': name, 'name': 'back', 'content': {'src': dest}})
    assert back['failed'] is False, back.get('msg')
    assert back['volume']['format'] == fmt
    assert same_image(volume_path, back['volume']['path'])
    assert not run_module('storage_volume', {'pool': name, 'name': 'v.raw', 'export': wanted})['changed']


def test_qcow2_volume_exported_as_raw(pool, tmp_path):
    name, _path = pool
    image = sparse_image(str(tmp_path / 'disk.raw'), 16, (0, 8))
    qcow = str(tmp_path / 'disk.qcow2')
    subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', image, qcow], check=True)
    volume_path = upload(name, 'v.qcow2', qcow, 'qcow2')
    dest = str(tmp_path / 'v.raw')
    done = run_module('storage_volume', {'pool': name, 'name': 'v.qcow2', 'export': {'dest': dest, 'format': 'raw'}})
    assert done['failed'] is False, done.get('msg')
    assert image_info(dest)['format'] == 'raw' and os.path.getsize(dest) == 16 * MIB
    assert same_image(volume_path, dest)
    # without format, a qcow2 volume gives a qcow2 file
    same = str(tmp_path / 'v.qcow2')
    assert run_module('storage_volume', {'pool': name, 'name': 'v.qcow2', 'export': {'dest': same}})['changed']
    assert image_info(same)['format'] == 'qcow2' and same_image(volume_path, same)
    assert hidden(tmp_path) == []


def test_a_changed_volume_or_file_is_exported_again(pool, tmp_path):
    name, _path = pool
    image = sparse_image(str(tmp_path / 'disk.raw'), 16, (0, 8))
    upload(name, 'v.raw', image)
    dest = str(tmp_path / 'v.raw.gz')
    args = {'pool': name, 'name': 'v.raw', 'export': {'dest': dest, 'compress': 'gzip'}}
    first = run_module('storage_volume', args)
    assert first['changed'] is True, first.get('msg')
    assert run_module('storage_volume', args)['changed'] is False

    # the volume's content changes (virsh writes into it): check mode and the real run see it
    other = sparse_image(str(tmp_path / 'other.raw'), 16, (0, 8))
    virsh('vol-upload', '--pool', name, 'v.raw', other)
    predicted = run_module('storage_volume', args, check=True, diff=True)
    assert predicted['changed'] is True and predicted['actions'] == ['export']
    assert predicted['export']['reason'].startswith('the volume changed since the export'), predicted['export']
    assert '%s (sha256:%s)' % (dest, first['export']['checksum'].split(':')[1]) in predicted['diff']['before']
    again = run_module('storage_volume', args)
    assert again['actions'] == ['export'] and again['export']['checksum'] != first['export']['checksum']
    with open(str(tmp_path / 'plain'), 'wb') as handle:
        subprocess.run(['gzip', '-dc', dest], stdout=handle, check=True)
    assert same_image(other, str(tmp_path / 'plain'))

    # the file is changed by hand: written again
    with open(dest, 'ab') as handle:
        handle.write(b'junk')
    rewritten = run_module('storage_volume', args)
    assert rewritten['actions'] == ['export'] and 'changed after the export was written' in rewritten['export']['reason']
    assert sha256sum_check(dest + '.sha256').returncode == 0


def test_full_file_system_leaves_no_partial_file(pool, tmp_path):
    name, _path = pool
    image = sparse_image(str(tmp_path / 'disk.raw'), 16, (0, 8))
    upload(name, 'v.raw', image)
    small = tmp_path / 'small'
    small.mkdir()
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=512k', 'kvmops-export-test', str(small)], check=True)
    try:
        (small / 'v.raw').write_bytes(b'an older export')
        failed = run_module('storage_volume', {'pool': name, 'name': 'v.raw',
                                               'export': {'dest': str(small / 'v.raw')}})
        assert failed['failed'] is True
        assert 'writing the export %s failed' % (small / 'v.raw') in failed['msg'], failed['msg']
        assert 'No space left on device' in failed['msg']
        assert sorted(os.listdir(str(small))) == ['v.raw'], 'no temporary file and no sidecar left'
        assert (small / 'v.raw').read_bytes() == b'an older export'
    finally:
        subprocess.run(['umount', str(small)], check=True)


def test_refusals_change_nothing(pool, tmp_path):
    name, path = pool
    image = sparse_image(str(tmp_path / 'disk.raw'), 16, (0, 8))
    upload(name, 'v.raw', image)
    virsh('vol-create-as', name, 'ov.qcow2', '16M', '--format', 'qcow2', '--backing-vol', os.path.join(path, 'v.raw'),
          '--backing-vol-format', 'raw')
    # qemu-img is looked for where the module runs: a PATH of every command but qemu-img
    bare = tmp_path / 'bin'
    bare.mkdir()
    for directory in ('/usr/local/bin', '/usr/bin', '/bin'):
        for tool in os.listdir(directory) if os.path.isdir(directory) else ():
            if tool != 'qemu-img' and not (bare / tool).exists():
                os.symlink(os.path.join(directory, tool), str(bare / tool))
    python_dir = os.path.dirname(sys.executable)
    refused = run_module('storage_volume', {'pool': name, 'name': 'v.raw', 'export': {
        'dest': str(tmp_path / 'v.qcow2'), 'format': 'qcow2'}}, env={'PATH': '%s:%s' % (python_dir, bare)})
    assert refused['failed'] is True and refused.get('option') == 'export.format', refused
    assert 'qemu-img is not installed' in refused['msg'] and 'qemu-utils' in refused['msg']
    overlay = run_module('storage_volume', {'pool': name, 'name': 'ov.qcow2', 'export': {'dest': str(tmp_path / 'o')}})
    assert overlay['failed'] is True and 'is an overlay of %s' % os.path.join(path, 'v.raw') in overlay['msg']
    missing = run_module('storage_volume', {'pool': name, 'name': 'v.raw',
                                            'export': {'dest': str(tmp_path / 'no' / 'v.raw')}}, check=True)
    assert missing['failed'] is True and missing.get('option') == 'export.dest'
    assert 'does not exist on the host running the module' in missing['msg']
    assert sorted(os.listdir(str(tmp_path))) == ['bin', 'disk.raw', 'pool'], 'nothing written beside the source'


DOMAIN_XML = """<domain type='qemu'>
  <name>%(name)s</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%(rw)s'/>
      <target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%(ro)s'/><readonly/>
      <target dev='vdb' bus='virtio'/></disk>
  </devices>
</domain>
"""


def test_running_domain_writing_the_volume_is_refused(tmp_path):
    # QEMU runs as libvirt-qemu: its disks must be where that user can reach (not /tmp/pytest-of-root)
    base = pathlib.Path(tempfile.mkdtemp(prefix='it-exp-dom-', dir='/var/tmp'))
    os.chmod(str(base), 0o755)
    pool, domain = 'it-exp-dom-%d' % os.getpid(), 'it-exp-vm-%d' % os.getpid()
    try:
        virsh_dir_pool(pool, str(base / 'pool'))
        virsh('vol-create-as', pool, 'rw.raw', '4M', '--format', 'raw')
        virsh('vol-create-as', pool, 'ro.raw', '4M', '--format', 'raw')
        disks = {'name': domain, 'rw': base / 'pool' / 'rw.raw', 'ro': base / 'pool' / 'ro.raw'}
        (base / 'vm.xml').write_text(DOMAIN_XML % disks)
        virsh('define', str(base / 'vm.xml'))
        virsh('start', domain)
        refused = run_module('storage_volume', {'pool': pool, 'name': 'rw.raw',
                                                'export': {'dest': str(tmp_path / 'rw.raw')}}, check=True)
        assert refused['failed'] is True and refused.get('domains') == [domain], refused
        assert 'is written by running domain(s) %s now' % domain in refused['msg']
        assert 'export.force_in_use=true' in refused['msg'] and 'domfsfreeze' in refused['msg']
        assert not (tmp_path / 'rw.raw').exists()
        # a read-only disk is not written: exported
        read_only = run_module('storage_volume', {'pool': pool, 'name': 'ro.raw',
                                                  'export': {'dest': str(tmp_path / 'ro.raw')}})
        assert read_only['failed'] is False and read_only['changed'] is True, read_only.get('msg')
        forced = run_module('storage_volume', {'pool': pool, 'name': 'rw.raw', 'export': {
            'dest': str(tmp_path / 'rw.raw'), 'force_in_use': True}})
        assert forced['failed'] is False and forced['changed'] is True, forced.get('msg')
        virsh('destroy', domain)
        # stopped: nothing writes it, and the forced export is current
        assert not run_module('storage_volume', {'pool': pool, 'name': 'rw.raw',
                                                 'export': {'dest': str(tmp_path / 'rw.raw')}})['changed']
    finally:
        virsh('destroy', domain, check=False)
        virsh('undefine', domain, check=False)
        remove_pool(pool)
        shutil.rmtree(str(base), ignore_errors=True)


@pytest.mark.pool_type('disk')
def test_partition_is_marked_by_its_digest(disk_pool, tmp_path):
    """libvirt reports the timestamps of a partition's device node, which writes to it do not change: the
    export of a block volume is current while the digest of its bytes is the same."""
    name, device = disk_pool
    part = os.path.basename(device) + 'p1'
    virsh('vol-create-as', name, part, '8M')
    data = sparse_image(str(tmp_path / 'data.raw'), 8, (0, 4))
    virsh('vol-upload', '--pool', name, part, data)
    dest = str(tmp_path / 'part.raw')
    args = {'pool': name, 'name': part, 'export': {'dest': dest}}
    done = run_module('storage_volume', args)
    assert done['failed'] is False and done['changed'] is True, done.get('msg')
    assert same_image(data, dest)
    with open(dest + '.sha256') as handle:
        assert [line for line in handle if line.startswith('# source: ')][0].startswith('# source: digest=sha256:')
    assert run_module('storage_volume', args, check=True)['changed'] is False
    # written with dd, outside libvirt: the node's timestamps stay, the digest tells
    subprocess.run(['dd', 'if=/dev/urandom', 'of=%sp1' % device, 'bs=64K', 'count=1', 'seek=8', 'conv=notrunc',
                    'status=none'], check=True)
    again = run_module('storage_volume', args, check=True)
    assert again['changed'] is True and again['export']['reason'].startswith('the volume changed since'), again
    assert run_module('storage_volume', args)['changed'] is True
    assert same_image('%sp1' % device, dest)


@pytest.mark.ceph
def test_rbd_image_made_by_virsh_is_exported_through_rbd_where_libvirt_has_no_download(tmp_path):
    ceph = read_testbed()
    tag = 'it-exp-rbd-%d' % os.getpid()
    usage_id = '%s client.%s secret' % (tag, ceph['CEPH_CLIENT'])
    image = '%s-img' % tag
    try:
        secret = run_module('storage_secret', {'usage': 'ceph', 'usage_id': usage_id, 'value_base64': ceph['KEY']})
        assert secret['failed'] is False, secret.get('msg')
        made = run_module('storage_pool', {
            'name': tag, 'type': 'rbd', 'source_host': [ceph['CEPH_MON_HOST']], 'source_name': ceph['CEPH_POOL'],
            'auth_type': 'ceph', 'auth_username': ceph['CEPH_CLIENT'], 'secret_usage': usage_id})
        assert made['failed'] is False, made.get('msg')
        virsh('vol-create-as', tag, image, '4M')
        # what libvirt itself says when asked
        proc = subprocess.run(['virsh', '-c', 'qemu:///system', 'vol-download', '--pool', tag, image,
                               str(tmp_path / 'by-virsh')], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, check=False)
        assert proc.returncode != 0 and "doesn't support volume download" in proc.stderr
        # the image written outside libvirt (rbd bench writes into it), then exported by the module
        rbd(ceph, 'bench', '--io-type', 'write', '--io-size', '1M', '--io-total', '4M', '--io-pattern', 'seq',
            '%s/%s' % (ceph['CEPH_POOL'], image))
        dest = tmp_path / 'img.raw'
        checked = run_module('storage_volume', {'pool': tag, 'name': image, 'export': {'dest': str(dest)}},
                             check=True)
        assert checked['failed'] is False and checked['actions'] == ['export'] and not dest.exists(), checked
        done = run_module('storage_volume', {'pool': tag, 'name': image, 'export': {'dest': str(dest)}})
        assert done['failed'] is False and done['actions'] == ['export'], done
        by_rbd = tmp_path / 'by-rbd'
        rbd(ceph, 'export', '--no-progress', '%s/%s' % (ceph['CEPH_POOL'], image), str(by_rbd))
        assert sha256_of(str(dest)) == sha256_of(str(by_rbd)) and dest.stat().st_size == 4 * MIB
        assert dest.read_bytes() != bytes(4 * MIB), 'rbd bench wrote data, which the export holds'
        assert done['export']['checksum'] == 'sha256:' + sha256_of(str(dest))
        assert ceph['KEY'] not in done.output
        again = run_module('storage_volume', {'pool': tag, 'name': image, 'export': {'dest': str(dest)}})
        assert again['changed'] is False and again['export']['written'] is False, again
    finally:
        rbd(ceph, 'rm', '--no-progress', '%s/%s' % (ceph['CEPH_POOL'], image), check=False)
        remove_pool(tag)
        for line in virsh('secret-list', check=False).splitlines():
            if tag in line:
                virsh('secret-undefine', line.split()[0], check=False)
