"""Bad input: a clear failure naming the option, and nothing left defined."""

import os

import pytest

from helpers import pool_defined, run_module

pytestmark = pytest.mark.libvirt

NAME = 'it-bad-%d' % os.getpid()

CASES = [
    ('unknown type', {'name': NAME, 'type': 'floppy', 'target': '/tmp/x'}, ['type', 'floppy', 'dir', 'rbd']),
    ('sheepdog', {'name': NAME, 'type': 'sheepdog', 'source_name': 'x'}, ['type', 'sheepdog', '8.8']),
    ('missing target for dir', {'name': NAME, 'type': 'dir'}, ['target', 'dir']),
    ('source_dev on rbd', {'name': NAME, 'type': 'rbd', 'source_name': 'vms', 'source_host': ['127.0.0.1'],
                           'source_dev': ['/dev/sdb']}, ['source_dev', 'rbd']),
    ('name with slash', {'name': 'a/b', 'type': 'dir', 'target': '/tmp/x'}, ['name', '/']),
    ('xml that is not xml', {'name': NAME, 'xml': '<pool type="dir"><name>x</name>'}, ['xml', 'XML']),
    ('xml name differs', {'name': NAME,
                          'xml': '<pool type="dir"><name>other</name><target><path>/tmp/x</path></target></pool>'},
     ['xml', 'other', NAME]),
    ('size in parsecs', {'name': NAME, 'type': 'dir', 'target': '/tmp/x', 'min_available': '10 parsecs'},
     ['min_available', 'parsecs', 'GiB']),
    ('bad source_format', {'name': NAME, 'type': 'disk', 'source_dev': ['/dev/sdz'], 'source_format': 'ntfs'},
     ['source_format', 'gpt']),
    ('bad state', {'name': NAME, 'type': 'dir', 'target': '/tmp/x', 'state': 'running'}, ['state', 'active']),
    ('missing secret', {'name': NAME, 'type': 'rbd', 'source_name': 'vms', 'source_host': ['127.0.0.1'],
                        'auth_type': 'ceph', 'auth_username': 'libvirt', 'secret_usage': 'no-such-secret'},
     ['secret_usage', 'no-such-secret']),
]


@pytest.mark.parametrize('label,args,words', CASES, ids=[case[0] for case in CASES])
def test_bad_input_fails_clearly(label, args, words):
    # check mode assumes a missing secret (an earlier task would define it): only the real run fails on it
    for check in ((False,) if label == 'missing secret' else (True, False)):
        result = run_module('storage_pool', args, check=check)
        assert result.get('failed') is True, result
        for word in words:
            assert word in result['msg'], '%r not in %r' % (word, result['msg'])
        assert not pool_defined(args['name'].replace('/', '_')) and not pool_defined(NAME)


def test_missing_secret_is_assumed_in_check_mode():
    args = dict(CASES[-1][1])
    result = run_module('storage_pool', args, check=True)
    assert result['failed'] is False, result.get('msg')
    assert result['changed'] is True and result['actions'] == ['define', 'start']
    assert result['warnings'] == [
        "secret_usage 'no-such-secret': no libvirt secret of usage ceph with that usage id exists; define it first "
        "(kvmops.storage.storage_secret usage=ceph usage_id=no-such-secret); check mode assumes that an earlier "
        "task of this run defines it"]
    assert not pool_defined(NAME)


def test_unreachable_libvirtd_names_the_uri():
    result = run_module('storage_pool', {'uri': 'qemu:///system?socket=/nonexistent/sock', 'name': NAME,
                                         'type': 'dir', 'target': '/tmp/x'})
    assert result['failed'] is True
    assert '/nonexistent/sock' in result['msg'] and 'uri' in result['msg']
