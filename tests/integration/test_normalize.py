"""Typed options that libvirt rewrites are stable on the second run; values libvirt refuses are refused
before anything changes (real libvirtd; the rbd case also needs the Ceph test bed)."""

import os
import stat

import pytest

from helpers import four_calls, pool_defined, read_testbed, remove_pool, run_module, virsh
from test_pool_rbd import define_secret, undefine_secrets

TAG = 'cn-norm-%d' % os.getpid()
MODE_REFUSED = ('%s %r is not accepted: give an octal mode from "0000" to "0777" (permission bits only: libvirt '
                'refuses setuid, setgid and sticky bits), e.g. "%s"')


@pytest.fixture
def pool_name():
    made = []

    def make(suffix):
        made.append('%s-%s' % (TAG, suffix))
        return made[-1]

    yield make
    for name in made:
        remove_pool(name)


def converges(results, first_actions):
    first_check, applied, second_check, second = results
    for result in results:
        assert result['failed'] is False, result.get('msg')
    assert first_check['actions'] == first_actions == applied['actions']
    assert second_check['changed'] is False and second_check['actions'] == [], second_check.get('diff')
    assert second['changed'] is False and second['actions'] == [], second.get('diff')
    return applied


@pytest.mark.libvirt
@pytest.mark.parametrize('given, stored', [('/export/vms/', '/export/vms'), ('/export//vms', '/export/vms'),
                                           ('/export/./vms/', '/export/./vms')])
def test_netfs_source_path_as_libvirt_stores_it(pool_name, tmp_path, given, stored):
    name = pool_name('netfs')
    args = {'name': name, 'type': 'netfs', 'source_host': ['nfs1.example.com'], 'source_path': given,
            'source_format': 'nfs', 'target': str(tmp_path / 'mnt'), 'state': 'present'}
    converges(four_calls('storage_pool', args), ['define'])
    assert "<dir path='%s'/>" % stored in virsh('pool-dumpxml', '--inactive', name)


@pytest.mark.libvirt
@pytest.mark.parametrize('spelling', ['//images/', '/./images', '//./images//'])
def test_dir_target_path_as_libvirt_stores_it(pool_name, tmp_path, spelling):
    """A target spelled with "//", "/./" or a trailing "/": the pool is made once, then left alone."""
    name = pool_name('tgt')
    given = str(tmp_path) + spelling
    converges(four_calls('storage_pool', {'name': name, 'type': 'dir', 'target': given}), ['define', 'build', 'start'])
    stored = virsh('pool-dumpxml', '--inactive', name).split('<path>')[1].split('</path>')[0]
    assert os.path.realpath(stored) == str(tmp_path / 'images') and os.path.isdir(stored)
    assert 'running' in virsh('pool-info', name)


@pytest.mark.libvirt
def test_target_mode_below_0100(pool_name, tmp_path):
    name = pool_name('mode')
    target = tmp_path / 'images'
    args = {'name': name, 'type': 'dir', 'target': str(target), 'target_mode': '0070'}
    applied = converges(four_calls('storage_pool', args), ['define', 'build', 'start'])
    assert '<mode>070</mode>' in virsh('pool-dumpxml', '--inactive', name)
    assert stat.S_IMODE(os.stat(str(target)).st_mode) == 0o070
    assert applied['pool']['target']['permissions']['mode'] == '070'

    # a volume mode below 0100 is not applied again on every run
    vol = {'pool': name, 'name': '%s.img' % TAG, 'capacity': '1MiB', 'mode': '0070'}
    converges(four_calls('storage_volume', vol), ['create'])
    assert stat.S_IMODE(os.stat(str(target / vol['name'])).st_mode) == 0o070
    changed = converges(four_calls('storage_volume', dict(vol, mode='0007')), ['chmod'])
    assert changed['volume']['mode'] == '07'
    assert stat.S_IMODE(os.stat(str(target / vol['name'])).st_mode) == 0o007


@pytest.mark.libvirt
@pytest.mark.parametrize('owner', [-1, '-1'])
def test_target_owner_minus_one(pool_name, tmp_path, owner):
    name = pool_name('owner')
    args = {'name': name, 'type': 'dir', 'target': str(tmp_path / 'images'), 'target_owner': owner,
            'target_group': owner, 'target_mode': '0750', 'state': 'present'}
    converges(four_calls('storage_pool', args), ['define'])
    stored = virsh('pool-dumpxml', '--inactive', name)
    assert '<owner>' not in stored and '<group>' not in stored and '<mode>0750</mode>' in stored


@pytest.mark.libvirt
@pytest.mark.parametrize('mode', ['2775', '1777', '04755', '0o755'])
def test_mode_outside_0777_refused_before_define(pool_name, tmp_path, mode):
    name = pool_name('badmode')
    target = tmp_path / 'images'
    args = {'name': name, 'type': 'dir', 'target': str(target), 'target_mode': mode}
    for check in (True, False):
        result = run_module('storage_pool', args, check=check)
        assert result['failed'] is True
        assert result['msg'] == MODE_REFUSED % ('target_mode', mode, '0711')
    assert not pool_defined(name) and not target.exists()


@pytest.mark.libvirt
def test_volume_mode_outside_0777_refused(pool_name, tmp_path):
    name = pool_name('vmode')
    made = run_module('storage_pool', {'name': name, 'type': 'dir', 'target': str(tmp_path / 'images')})
    assert made['failed'] is False, made.get('msg')
    for item in ({'name': '%s.img' % TAG, 'capacity': '1MiB', 'mode': '2775'},):
        for check in (True, False):
            single = run_module('storage_volume', dict(item, pool=name), check=check)
            assert single['failed'] is True and single['msg'] == MODE_REFUSED % ('mode', '2775', '0600')
            bulk = run_module('storage_volume', {'pool': name, 'volumes': [item]}, check=check)
            assert bulk['failed'] is True and bulk['msg'] == MODE_REFUSED % ('volumes[0].mode', '2775', '0600')
    assert virsh('vol-list', name).count(TAG) == 0


@pytest.mark.libvirt
def test_malformed_secret_uuid_refused_before_define(pool_name):
    name = pool_name('baduuid')
    args = {'name': name, 'type': 'rbd', 'source_host': ['127.0.0.1:6789'], 'source_name': 'x', 'auth_type': 'ceph',
            'auth_username': 'libvirt', 'secret_uuid': '0d4f7c2a-8a1e-4c55-9d2b', 'state': 'present'}
    for check in (True, False):
        result = run_module('storage_pool', args, check=check)
        assert result['failed'] is True
        assert result['msg'] == ("secret_uuid '0d4f7c2a-8a1e-4c55-9d2b' is not a UUID: accepted are 32 hex digits, "
                                 "with or without dashes, e.g. 0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01")
    assert not pool_defined(name)


@pytest.mark.ceph
@pytest.mark.parametrize('spelling', ['upper', 'nodash'])
def test_rbd_secret_uuid_spelling(pool_name, spelling):
    ceph = read_testbed()
    usage_id = '%s-%s client.%s secret' % (TAG, spelling, ceph['CEPH_CLIENT'])
    name = pool_name('rbd-%s' % spelling)
    try:
        secret_uuid = define_secret(usage_id, ceph['KEY'])
        given = secret_uuid.upper() if spelling == 'upper' else secret_uuid.replace('-', '')
        args = {'name': name, 'type': 'rbd', 'source_host': [ceph['CEPH_MON_HOST']], 'source_name': ceph['CEPH_POOL'],
                'auth_type': 'ceph', 'auth_username': ceph['CEPH_CLIENT'], 'secret_uuid': given}
        applied = converges(four_calls('storage_pool', args), ['define', 'start'])
        assert applied['pool']['source']['auth']['uuid'] == secret_uuid
        assert "<secret uuid='%s'/>" % secret_uuid in virsh('pool-dumpxml', '--inactive', name)
    finally:
        remove_pool(name)
        undefine_secrets('%s-%s' % (TAG, spelling))
