"""Bad input: a failure naming the option (and the accepted values), raised before libvirt is
asked to change anything, so that no pool is left defined, in check mode and in a real run."""

import os

import pytest

from helpers import run_module, virsh

pytestmark = pytest.mark.libvirt

NAME = 'ts-bad-%d' % os.getpid()
TARGET = '/var/tmp/%s' % NAME  # never made: every case fails before
TYPES = 'dir, fs, netfs, logical, disk, iscsi, iscsi-direct, scsi, mpath, rbd, gluster, zfs, vstorage'

# label, args, option (None: Ansible's own argument check), the message
CASES = [
    ('unknown type', {'name': NAME, 'type': 'floppy', 'target': TARGET}, 'type',
     "type 'floppy' is not a libvirt pool type; accepted: " + TYPES),
    ('sheepdog', {'name': NAME, 'type': 'sheepdog', 'source_name': NAME}, 'type',
     "type 'sheepdog' is not supported: libvirt removed the sheepdog storage driver in 8.8.0; accepted: " + TYPES),
    ('missing target for dir', {'name': NAME, 'type': 'dir'}, 'target', 'a new pool of type dir needs target'),
    ('source_dev on rbd', {'name': NAME, 'type': 'rbd', 'source_name': NAME, 'source_host': ['127.0.0.1'],
                           'source_dev': ['/dev/sdb']}, 'source_dev',
     'option source_dev does not apply to pools of type rbd; that type takes: source_host, source_name, auth_type, '
     'auth_username, secret_usage, secret_uuid'),
    ('name with slash', {'name': NAME + '/b', 'type': 'dir', 'target': TARGET}, 'name',
     "name '%s/b' is not valid: it must be non-empty, must not start with a blank and must not contain \"/\"" % NAME),
    ('xml name differs', {'name': NAME, 'xml': '<pool type="dir"><name>%s-other</name><target><path>%s</path>'
                                               '</target></pool>' % (NAME, TARGET)}, 'xml',
     "xml: its <name> is '%s-other' but the task says name='%s'; they must match" % (NAME, NAME)),
    ('size in parsecs', {'name': NAME, 'type': 'dir', 'target': TARGET, 'min_available': '10 parsecs'},
     'min_available',
     "min_available: unknown unit 'parsecs' in '10 parsecs'; accepted units: b, bytes, K/KiB, M/MiB, G/GiB, T/TiB, "
     "P/PiB, E/EiB (powers of 1024), KB, MB, GB, TB, PB, EB (powers of 1000)"),
    ('bad source_format', {'name': NAME, 'type': 'disk', 'source_dev': ['/dev/sdz'], 'source_format': 'ntfs'},
     'source_format', "source_format 'ntfs' is not valid for type disk; accepted: dos, dvh, gpt, mac, bsd, pc98, sun, lvm2"),
    ('bad state', {'name': NAME, 'type': 'dir', 'target': TARGET, 'state': 'running'}, None,
     'value of state must be one of: present, active, inactive, absent, deleted, got: running'),
]


def ours():
    """The pools, defined or running, whose definition names this test's pool or directory."""
    found = {}
    for pool in virsh('pool-list', '--all', '--name').split():
        xml = virsh('pool-dumpxml', '--inactive', pool, check=False)
        if NAME in pool or NAME in xml:
            found[pool] = xml
    return found


def assert_refused(result, option, message):
    assert result.get('failed') is True, result
    assert result['msg'] == message
    if option is None:  # AnsibleModule's own check: no error class of the collection
        assert 'error' not in result and 'option' not in result
    else:
        assert (result['error'], result['option']) == ('ValidationError', option)


@pytest.mark.parametrize('label,args,option,message', CASES, ids=[case[0] for case in CASES])
def test_bad_input_fails_clearly(label, args, option, message):
    assert ours() == {}
    for check in (True, False):
        assert_refused(run_module('storage_pool', args, check=check), option, message)
        assert ours() == {}, 'libvirt was asked to define a pool (%s)' % ('check mode' if check else 'real run')
    assert not os.path.exists(TARGET)


def test_xml_that_is_not_xml():
    for check in (True, False):
        result = run_module('storage_pool', {'name': NAME, 'xml': '<pool type="dir"><name>%s</name>' % NAME},
                            check=check)
        assert result['failed'] is True and (result['error'], result['option']) == ('ValidationError', 'xml')
        # the rest is the XML parser's own account of the error
        assert result['msg'].startswith('xml: not well-formed XML: Premature end of data in tag pool line 1'), result['msg']
    assert ours() == {}


def test_missing_secret_fails_the_real_run():
    """The real run refuses a pool whose secret does not exist (check mode is another matter: an
    earlier task of the play may define the secret)."""
    args = {'name': NAME, 'type': 'rbd', 'source_name': NAME, 'source_host': ['127.0.0.1'], 'auth_type': 'ceph',
            'auth_username': 'libvirt', 'secret_usage': NAME + ' no-such-secret'}
    assert_refused(run_module('storage_pool', args), 'secret_usage',
                   "secret_usage '%s no-such-secret': no libvirt secret of usage ceph with that usage id exists; "
                   "define it first (kvmops.storage.storage_secret usage=ceph "
                   "usage_id=%s no-such-secret)" % (NAME, NAME))
    assert ours() == {}


def test_missing_secret_is_assumed_in_check_mode():
    args = {'name': NAME, 'type': 'rbd', 'source_name': NAME, 'source_host': ['127.0.0.1'], 'auth_type': 'ceph',
            'auth_username': 'libvirt', 'secret_usage': 'no-such-secret'}
    result = run_module('storage_pool', args, check=True)
    assert result['failed'] is False, result.get('msg')
    assert result['changed'] is True and result['actions'] == ['define', 'start']
    assert result['warnings'] == [
        "secret_usage 'no-such-secret': no libvirt secret of usage ceph with that usage id exists; define it first "
        "(kvmops.storage.storage_secret usage=ceph usage_id=no-such-secret); check mode assumes that an earlier "
        "task of this run defines it"]
    assert ours() == {}


def test_unreachable_libvirtd_names_the_uri():
    uri = 'qemu:///system?socket=/nonexistent/sock'
    result = run_module('storage_pool', {'uri': uri, 'name': NAME, 'type': 'dir', 'target': TARGET})
    assert result['failed'] is True and result['error'] == 'ConnectionFailedError' and result['uri'] == uri
    assert result['msg'].startswith('cannot connect to libvirt at uri=%s: ' % uri), result['msg']
    assert result['msg'].endswith('(is libvirtd running there, and may this user use it?)'), result['msg']
    assert ours() == {}
