"""storage_volume encryption on the real libvirtd: LUKS volumes created and imported in a dir pool with
the passphrase of a libvirt secret of usage volume made by storage_secret; qemu-img opens them with that
passphrase (and not with another); a missing secret is refused before anything is made; the passphrase
is in no output, -vvv --diff included."""

import os
import subprocess

import pytest

from helpers import four_calls, image_info, run_module, sha256_of, sparse_image, virsh, volumes_of

pytestmark = pytest.mark.libvirt
# the pool fixture of conftest.py names its pool after this
POOL_PREFIX = 'it-luks'
MIB = 1024 * 1024
PASSPHRASE = 'correct horse battery staple %d' % os.getpid()


@pytest.fixture
def secret(pool):
    """A secret of usage volume for the pool's volume enc.img holding PASSPHRASE: (usage id, uuid)."""
    usage_id = os.path.join(pool[1], 'enc.img')
    made = run_module('storage_secret', {'usage': 'volume', 'usage_id': usage_id, 'value': PASSPHRASE})
    assert made['failed'] is False, made.get('msg')
    yield usage_id, made['secret']['uuid']
    virsh('secret-undefine', made['secret']['uuid'], check=False)


def compare(path, fmt, passphrase, other):
    """qemu-img compare of the encrypted image ``path`` (format ``fmt``), opened with ``passphrase``, with the raw
    file ``other``: 0 the same disk, 1 another one, 2 not opened (a wrong passphrase)."""
    driver = ('driver=luks,key-secret=k,file.filename=%s' % path if fmt == 'raw'
              else 'driver=qcow2,encrypt.key-secret=k,file.filename=%s' % path)
    argv = ['qemu-img', 'compare', '-U', '--object', 'secret,id=k,data=%s' % passphrase, '--image-opts', driver,
            'driver=raw,file.filename=%s' % other]
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False).returncode


@pytest.mark.parametrize('fmt', ['raw', 'qcow2'])
def test_luks_volume_created_with_the_secret(pool, secret, fmt, tmp_path):
    name, path = pool
    usage_id, uuid = secret
    args = {'pool': name, 'name': 'enc.img', 'capacity': '16MiB', 'format': fmt,
            'encryption': {'secret_usage': usage_id}}
    first_check, applied, second_check, second = four_calls('storage_volume', args)
    for result in (first_check, applied):
        assert result['failed'] is False, result.get('msg')
        assert result['changed'] is True and result['actions'] == ['create'], result
    for result in (second_check, second):
        assert result['failed'] is False and result['changed'] is False, result
    assert 'encryption' in first_check['diff']['after'] and uuid in first_check['diff']['after']
    dumped = virsh('vol-dumpxml', '--pool', name, 'enc.img')
    assert "<encryption format='luks'>" in dumped and uuid in dumped
    image = os.path.join(path, 'enc.img')
    info = image_info(image)
    assert info['encrypted'] is True and info['format'] == ('luks' if fmt == 'raw' else 'qcow2')
    zeros = str(tmp_path / 'zeros.raw')
    with open(zeros, 'wb') as handle:
        handle.truncate(16 * MIB)
    # (what a new LUKS volume reads is not zeros: its payload was never written through the encryption)
    assert compare(image, fmt, PASSPHRASE, zeros) in (0, 1), 'the passphrase opens the volume'
    assert compare(image, fmt, 'wrong ' + PASSPHRASE, zeros) == 2, 'another passphrase does not'

    # by uuid: the same secret, no change
    same = run_module('storage_volume', dict(args, encryption={'secret_uuid': uuid}))
    assert same['failed'] is False and same['changed'] is False, same
    # an existing unencrypted volume is refused, not re-encrypted
    virsh('vol-create-as', name, 'plain.img', str(MIB))
    refused = run_module('storage_volume', dict(args, name='plain.img'))
    assert refused['failed'] is True and 'exists unencrypted' in refused['msg'], refused['msg']


def test_image_imported_into_a_luks_volume(pool, secret, tmp_path):
    name, path = pool
    usage_id, _uuid = secret
    raw = sparse_image(tmp_path / 'disk.raw', 12, (0, 5))
    qcow2 = str(tmp_path / 'disk.qcow2')
    subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, qcow2], check=True)
    args = {'pool': name, 'name': 'enc.img', 'encryption': {'secret_usage': usage_id},
            'content': {'src': qcow2, 'checksum': 'sha256:' + sha256_of(qcow2)}}
    checked = run_module('storage_volume', args, check=True, diff=True, verbosity=3)
    assert checked['failed'] is False and checked['actions'] == ['create', 'upload'], checked
    assert volumes_of(name) == [], 'check mode made nothing'
    applied = run_module('storage_volume', args, diff=True, verbosity=3)
    assert applied['failed'] is False and applied['actions'] == ['create', 'upload'], applied.get('msg')
    for result in (checked, applied):
        assert PASSPHRASE not in result.output, 'the passphrase is never in the output'
    image = os.path.join(path, 'enc.img')
    assert image_info(image)['encrypted'] is True
    assert compare(image, 'raw', PASSPHRASE, raw) == 0, 'the volume decrypts to the disk the image holds'
    with open(image, 'rb') as handle, open(raw, 'rb') as plain:
        assert plain.read(MIB) not in handle.read(), 'the data is not stored in the clear'
    again = run_module('storage_volume', args)
    assert again['failed'] is False and again['changed'] is False, again
    # an export of it is refused: its bytes are ciphertext
    refused = run_module('storage_volume', {'pool': name, 'name': 'enc.img',
                                            'export': {'dest': str(tmp_path / 'out.raw')}})
    assert refused['failed'] is True and 'encrypted' in refused['msg'] and not (tmp_path / 'out.raw').exists()


def test_missing_secret_is_refused_before_anything_is_made(pool):
    name, path = pool
    args = {'pool': name, 'name': 'enc.img', 'capacity': '16MiB',
            'encryption': {'secret_usage': os.path.join(path, 'no-such-secret')}}
    refused = run_module('storage_volume', args)
    assert refused['failed'] is True
    assert refused['msg'].startswith('encryption.secret_usage: libvirt has no secret of usage volume'), refused['msg']
    assert volumes_of(name) == []
    checked = run_module('storage_volume', args, check=True)
    assert checked['failed'] is False and checked['actions'] == ['create'], checked
    assert any('earlier task' in warning for warning in checked.get('warnings', [])), checked
    assert volumes_of(name) == []
    wrong_usage = run_module('storage_volume', {'pool': name, 'name': 'x.img', 'capacity': '1MiB', 'format': 'vmdk',
                                                'encryption': {'secret_usage': 'x'}})
    assert wrong_usage['failed'] is True and "format 'vmdk' cannot be LUKS-encrypted" in wrong_usage['msg']
