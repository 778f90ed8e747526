"""storage_pool and storage_volume against the real libvirtd and the one-node Ceph cluster that
scripts/servers.sh starts (`servers.sh start ceph`): rbd pools, RBD images, and the faults of a
monitor that does not answer and of a wrong key."""

import base64
import json
import os
import socket

import pytest

from helpers import four_calls, pool_defined, rbd, read_testbed, remove_pool, run_module, virsh

pytestmark = pytest.mark.ceph

TAG = 'it-rbd-%d' % os.getpid()


@pytest.fixture(scope='module')
def ceph():
    return read_testbed()


def images(ceph):
    """{image name: size in bytes} of the RADOS pool, as `rbd ls -l` sees it (snapshots left out)."""
    listed = json.loads(rbd(ceph, 'ls', '-l', '--format', 'json', ceph['CEPH_POOL']) or '[]')
    return dict((item['image'], item['size']) for item in listed if 'snapshot' not in item)


def define_secret(usage_id, key_base64):
    """A libvirt secret of usage ceph holding ``key_base64`` (storage_secret); returns its UUID."""
    result = run_module('storage_secret', {'usage': 'ceph', 'usage_id': usage_id, 'value_base64': key_base64})
    assert result['failed'] is False, result.get('msg')
    assert key_base64 not in result.output
    return result['secret']['uuid']


def undefine_secrets(prefix):
    for line in virsh('secret-list', check=False).splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2].startswith(prefix):
            virsh('secret-undefine', fields[0], check=False)


def definition(name):
    """The pool's persistent definition without the sizes libvirt fills in."""
    return ''.join(line for line in virsh('pool-dumpxml', '--inactive', name).splitlines(True)
                   if not line.strip().startswith(('<capacity', '<allocation', '<available')))


def free_port():
    """A loopback port where nothing listens."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def secret(ceph):
    """A ceph secret holding client.libvirt's key: (usage id, uuid)."""
    usage_id = '%s client.%s secret' % (TAG, ceph['CEPH_CLIENT'])
    uuid = define_secret(usage_id, ceph['KEY'])
    yield usage_id, uuid
    undefine_secrets(TAG)


@pytest.fixture
def pools():
    made = []

    def name(suffix):
        made.append('%s-%s' % (TAG, suffix))
        return made[-1]

    yield name
    for pool in made:
        remove_pool(pool)


@pytest.fixture
def cleanup_images(ceph):
    yield
    for image in images(ceph):
        if image.startswith(TAG):
            for snap in json.loads(rbd(ceph, 'snap', 'ls', '--format', 'json', '%s/%s' % (ceph['CEPH_POOL'], image))):
                rbd(ceph, 'snap', 'unprotect', '%s/%s@%s' % (ceph['CEPH_POOL'], image, snap['name']), check=False)
    for image in sorted(images(ceph), key=lambda name: '@' in name):
        if image.startswith(TAG):
            rbd(ceph, 'rm', '--no-progress', '%s/%s' % (ceph['CEPH_POOL'], image), check=False)


def pool_args(ceph, name, usage_id, **more):
    args = {'name': name, 'type': 'rbd', 'source_host': [ceph['CEPH_MON_HOST']], 'source_name': ceph['CEPH_POOL'],
            'auth_type': 'ceph', 'auth_username': ceph['CEPH_CLIENT'], 'secret_usage': usage_id}
    args.update(more)
    return args


def assert_no_change(results, actions=()):
    for result in results:
        assert result['failed'] is False, result.get('msg')
        assert result['changed'] is False and result['actions'] == list(actions), result


@pytest.mark.pool_type('rbd')
def test_rbd_pool_lifecycle(ceph, secret, pools):
    usage_id, uuid = secret
    name = pools('p')
    args = pool_args(ceph, name, usage_id, autostart=True)
    first_check, applied, second_check, second = four_calls('storage_pool', args)
    assert first_check['changed'] is True and first_check['actions'] == ['define', 'start', 'autostart']
    assert applied['actions'] == first_check['actions'], 'check mode predicts the real run'
    assert '<name>%s</name>' % ceph['CEPH_POOL'] in applied['diff']['after']
    assert applied['pool']['state'] == 'active' and applied['pool']['autostart'] is True
    assert applied['pool']['source'] == {'hosts': [ceph['CEPH_MON_HOST']], 'name': ceph['CEPH_POOL'],
                                         'auth': {'type': 'ceph', 'username': ceph['CEPH_CLIENT'], 'usage': usage_id}}
    assert applied['pool']['capacity'] > 0, 'a started rbd pool reports the cluster size'
    assert_no_change([second_check, second])
    assert ceph['KEY'] not in json.dumps(applied), 'the key is never in a result'

    # a changed option (the secret named by uuid instead of usage) shows in --diff and is applied
    by_uuid = dict(args, secret_usage=None, secret_uuid=uuid)
    del by_uuid['secret_usage']
    first_check, applied, second_check, second = four_calls('storage_pool', by_uuid)
    assert first_check['actions'] == ['redefine', 'restart'] == applied['actions']
    assert 'usage="%s"' % usage_id in first_check['diff']['before']
    assert 'uuid="%s"' % uuid in first_check['diff']['after'] and usage_id not in first_check['diff']['after']
    assert "uuid='%s'" % uuid in virsh('pool-dumpxml', name)
    assert applied['pool']['state'] == 'active'
    assert_no_change([second_check, second])

    removed = run_module('storage_pool', {'name': name, 'state': 'absent'})
    assert removed['actions'] == ['stop', 'undefine'] and not pool_defined(name)


def volume_four_calls(args, again=()):
    """``again``: the actions of the second check and apply (a refresh, which changes nothing)."""
    first_check, applied, second_check, second = four_calls('storage_volume', args)
    assert first_check['failed'] is False, first_check.get('msg')
    assert applied['failed'] is False, applied.get('msg')
    assert first_check['changed'] is True and applied['actions'] == first_check['actions']
    assert_no_change([second_check, second], list(again))
    return first_check, applied


@pytest.mark.usefixtures('cleanup_images')
@pytest.mark.pool_type('rbd')
def test_rbd_volumes(ceph, secret, pools):
    pool = pools('v')
    started = run_module('storage_pool', pool_args(ceph, pool, secret[0]))
    assert started['failed'] is False, started.get('msg')
    disk, copy = '%s-disk' % TAG, '%s-copy' % TAG
    mib = 1024 * 1024

    # create, at a size that is no multiple of the 4 MiB object size: RBD keeps it to the byte
    planned, done = volume_four_calls({'pool': pool, 'name': disk, 'capacity': 10000001})
    # an image made outside libvirt (rbd create) is listed only after a refresh: made before creating
    assert done['actions'] == ['refresh', 'create']
    assert 'capacity: 10000001' in planned['diff']['after']
    assert done['volume']['capacity'] == 10000001
    assert images(ceph)[disk] == 10000001

    # grow
    planned, done = volume_four_calls({'pool': pool, 'name': disk, 'capacity': '32MiB'})
    assert done['actions'] == ['resize'] and done['volume']['capacity'] == 32 * mib
    assert 'capacity: 10000001' in planned['diff']['before'] and '32 MiB' in planned['diff']['after']
    assert images(ceph)[disk] == 32 * mib

    # shrinking is refused, and a byte less is a shrink, not a rounding
    refused = run_module('storage_volume', {'pool': pool, 'name': disk, 'capacity': 32 * mib - 1})
    assert refused['failed'] is True and 'allow_shrink' in refused['msg']
    assert images(ceph)[disk] == 32 * mib

    # clone (libvirt clones through a protected snapshot of the source)
    planned, done = volume_four_calls({'pool': pool, 'name': copy, 'clone_from': {'name': disk}})
    assert done['actions'] == ['refresh', 'clone'] and done['volume']['capacity'] == 32 * mib
    info = json.loads(rbd(ceph, 'info', '--format', 'json', '%s/%s' % (ceph['CEPH_POOL'], copy)))
    assert info['size'] == 32 * mib and info['parent']['image'] == disk

    # the source of a clone cannot go first: a clear refusal from librbd, the image stays
    blocked = run_module('storage_volume', {'pool': pool, 'name': disk, 'state': 'absent'})
    assert blocked['failed'] is True and 'delete those clones first' in blocked['msg'], blocked['msg']
    assert disk in images(ceph)

    # delete the clone, then the source (with the snapshot libvirt left on it)
    for name in (copy, disk):
        planned, done = volume_four_calls({'pool': pool, 'name': name, 'state': 'absent'}, again=['refresh'])
        assert done['actions'] == ['delete'] and planned['diff']['after'] == ''
        assert name not in images(ceph)
    assert sorted(rbd(ceph, 'ls', ceph['CEPH_POOL']).split()) == sorted(images(ceph))


def test_rbd_no_monitor_leaves_the_definition(ceph, secret, pools):
    """A pool whose monitor does not answer (libvirt gives up after 30 s): the start fails with the
    reason and an existing definition stays as it was; a running pool keeps its definition too."""
    port = free_port()
    name = pools('nomon')
    args = pool_args(ceph, name, secret[0], source_host=['127.0.0.1:%d' % port])
    defined = run_module('storage_pool', dict(args, state='present'))
    assert defined['failed'] is False and defined['actions'] == ['define']
    before = definition(name)

    failed = run_module('storage_pool', args)
    assert failed['failed'] is True and failed['failed_action'] == 'start'
    assert 'no Ceph monitor accepts connections at 127.0.0.1:%d' % port in failed['msg'], failed['msg']
    assert definition(name) == before
    assert 'inactive' in virsh('pool-info', name)

    # a running pool pointed at the dead monitor: the restart fails, the old definition comes back
    good = pools('good')
    assert run_module('storage_pool', pool_args(ceph, good, secret[0]))['failed'] is False
    before = definition(good)
    moved = run_module('storage_pool', pool_args(ceph, good, secret[0], source_host=['127.0.0.1:%d' % port]))
    assert moved['failed'] is True and 'no Ceph monitor accepts connections' in moved['msg']
    assert 'previous definition was restored and the pool started again' in moved['msg'], moved['msg']
    assert definition(good) == before
    assert 'running' in virsh('pool-info', good)


def test_rbd_wrong_key(ceph, secret, pools):
    wrong = base64.b64encode(os.urandom(16)).decode()
    usage_id = '%s wrong key' % TAG
    define_secret(usage_id, wrong)
    name = pools('badkey')
    failed = run_module('storage_pool', pool_args(ceph, name, usage_id))
    assert failed['failed'] is True and failed['failed_action'] == 'start'
    assert 'refused the client' in failed['msg'] and repr(usage_id) in failed['msg'], failed['msg']
    assert 'rolled back: define' in failed['msg'] and not pool_defined(name)
    assert wrong not in failed.output and ceph['KEY'] not in failed.output
