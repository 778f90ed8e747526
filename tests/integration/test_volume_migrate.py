"""storage_volume clone_from across pools on the real libvirtd: the copy verified against the source
(by digest through libvirt for raw volumes, by qemu-img compare for images), and clone_from.move, which
deletes the source only after a verified copy and is refused while a domain uses the source."""

import os
import subprocess

import pytest

from helpers import (
    define_domain,
    four_calls,
    run_module,
    same_image,
    sparse_image,
    virsh,
    volumes_of,
)

pytestmark = pytest.mark.libvirt
# the pool fixture of conftest.py names its pool after this
POOL_PREFIX = 'it-mig'

MIB = 1024 * 1024


def upload(pool, name, image, fmt):
    size = os.path.getsize(image) if fmt == 'raw' else 8 * MIB
    virsh('vol-create-as', pool, name, str(size), '--format', fmt)
    virsh('vol-upload', '--pool', pool, name, image)
    virsh('pool-refresh', pool)


@pytest.mark.parametrize('fmt', ['raw', 'qcow2'])
def test_move_between_pools_verifies_then_deletes_the_source(pool, pool2, tmp_path, fmt):
    name, path = pool
    other, other_path = pool2
    raw = sparse_image(tmp_path / 'disk.raw', 8, (0, 4))
    image = raw
    if fmt == 'qcow2':
        image = str(tmp_path / 'disk.qcow2')
        subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, image], check=True)
    upload(name, 'src.%s' % fmt, image, fmt)
    args = {'pool': other, 'name': 'moved.%s' % fmt, 'clone_from': {'pool': name, 'name': 'src.%s' % fmt,
                                                                    'move': True}}
    checked = run_module('storage_volume', args, check=True)
    assert checked['failed'] is False and checked['actions'] == ['clone', 'verify', 'delete_source'], checked
    assert volumes_of(name) == ['src.%s' % fmt] and volumes_of(other) == [], 'check mode changed nothing'
    first_check, applied, second_check, second = four_calls('storage_volume', args)
    for result in (first_check, applied):
        assert result['failed'] is False, result.get('msg')
        assert result['actions'] == ['clone', 'verify', 'delete_source'], result['actions']
    for result in (second_check, second):
        assert result['failed'] is False and result['changed'] is False, result
    assert volumes_of(name) == []
    assert same_image(raw, os.path.join(other_path, 'moved.%s' % fmt))


def test_copy_from_anpool2_is_verified_and_the_source_stays(pool, pool2, tmp_path):
    name, _path = pool
    other, other_path = pool2
    raw = sparse_image(tmp_path / 'disk.raw', 8, (0, 4))
    upload(name, 'src.raw', raw, 'raw')
    copy = {'pool': other, 'name': 'copy.raw', 'clone_from': {'pool': name, 'name': 'src.raw'}}
    done = run_module('storage_volume', copy)
    assert done['failed'] is False and done['actions'] == ['clone', 'verify'], done.get('msg')
    assert volumes_of(name) == ['src.raw'] and same_image(raw, os.path.join(other_path, 'copy.raw'))
    unverified = run_module('storage_volume', {'pool': other, 'name': 'quick.raw', 'clone_from': {
        'pool': name, 'name': 'src.raw', 'verify': False}})
    assert unverified['failed'] is False and unverified['actions'] == ['clone'], unverified.get('msg')
    refused = run_module('storage_volume', {'pool': other, 'name': 'nope.raw', 'clone_from': {
        'pool': name, 'name': 'src.raw', 'move': True, 'verify': False}})
    assert refused['failed'] is True and refused.get('option') == 'clone_from.verify'
    assert 'nope.raw' not in volumes_of(other)


def test_move_refused_while_a_domain_uses_the_source(pool, pool2, tmp_path):
    name, path = pool
    other, _other_path = pool2
    upload(name, 'used.raw', sparse_image(tmp_path / 'disk.raw', 8, (0, 4)), 'raw')
    domain = define_domain('it-mig-dom-%d' % os.getpid(), os.path.join(path, 'used.raw'), 'raw', tmp_path)
    try:
        args = {'pool': other, 'name': 'moved.raw', 'clone_from': {'pool': name, 'name': 'used.raw', 'move': True}}
        for check in (True, False):
            refused = run_module('storage_volume', args, check=check)
            assert refused['failed'] is True and refused.get('domains') == [domain], refused
            assert refused['msg'] == ('volume %s/used.raw is used by domain(s) %s; set force=true to move it anyway'
                                      % (name, domain))
        assert volumes_of(name) == ['used.raw'] and 'moved.raw' not in volumes_of(other)
        forced = run_module('storage_volume', dict(args, force=True))
        assert forced['failed'] is False and forced['actions'] == ['clone', 'verify', 'delete_source'], forced
        assert volumes_of(name) == []
    finally:
        virsh('undefine', domain, check=False)
