"""storage_secret against the real libvirtd: lifecycle, private secrets, lookups, bad input, and no value in any output."""

import base64
import os
import re
import subprocess
import uuid as uuidlib

import pytest

from helpers import URI, four_calls, run_module, virsh

pytestmark = pytest.mark.libvirt

PREFIX = 'it-sec-%d' % os.getpid()
# a Ceph-style key: base64 text of 16 random bytes after a fixed header, new for every run
KEY = base64.b64encode(b'\x01\x00' + os.urandom(26)).decode('ascii')
KEY_BYTES = base64.b64decode(KEY)
PASSWORD = 'it-sec-pw-%s' % uuidlib.uuid4().hex


def secrets():
    """{"usage usage-id": uuid} of the secrets libvirt has ("" for usage none)."""
    found = {}
    for line in virsh('secret-list').splitlines()[2:]:
        parts = line.strip().split(None, 1)
        if parts:
            found[parts[1].strip() if len(parts) == 2 else ''] = parts[0]
    return found


def ours():
    return dict((usage, uuid) for usage, uuid in secrets().items() if PREFIX in usage)


def stored_value(uuid):
    """The stored bytes, read the way an operator does (virsh prints base64)."""
    proc = subprocess.run(['virsh', '-c', URI, 'secret-get-value', uuid], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)
    if proc.returncode != 0:
        return proc.stderr
    return base64.b64decode(proc.stdout.strip())


@pytest.fixture(autouse=True)
def cleanup():
    yield
    for uuid in ours().values():
        virsh('secret-undefine', uuid, check=False)
    for uuid in FIXED_UUIDS:
        virsh('secret-undefine', uuid, check=False)


FIXED_UUIDS = [str(uuidlib.uuid4()), str(uuidlib.uuid4())]


def actions(results):
    return [result['actions'] for result in results]


def changed(results):
    return [result['changed'] for result in results]


def test_ceph_key_lifecycle():
    usage_id = '%s client.libvirt secret' % PREFIX
    args = {'usage': 'ceph', 'usage_id': usage_id, 'description': 'Ceph key', 'value_base64': KEY}
    results = four_calls('storage_secret', args)
    assert actions(results) == [['define', 'set_value'], ['define', 'set_value'], [], []]
    assert changed(results) == [True, True, False, False]
    created = results[1]['secret']
    assert created['usage'] == 'ceph' and created['usage_id'] == usage_id and created['value_set'] is True
    assert created['private'] is False and created['ephemeral'] is False
    assert ours() == {'ceph %s' % usage_id: created['uuid']}
    assert stored_value(created['uuid']) == KEY_BYTES, 'libvirt stores the decoded key'
    assert '<name>%s</name>' % usage_id in results[0]['diff']['after']

    # a new value: reported only by the run that changes it
    new_key = base64.b64encode(os.urandom(28)).decode('ascii')
    results = four_calls('storage_secret', dict(args, value_base64=new_key))
    assert actions(results) == [['set_value'], ['set_value'], [], []]
    assert '<!-- value: (changed) -->' in results[0]['diff']['after']
    assert stored_value(created['uuid']) == base64.b64decode(new_key)

    # a new description, in place: the value stays
    results = four_calls('storage_secret', {'usage': 'ceph', 'usage_id': usage_id, 'description': 'rotated'})
    assert actions(results) == [['redefine'], ['redefine'], [], []]
    assert '<description>Ceph key</description>' in results[0]['diff']['before']
    assert '<description>rotated</description>' in results[0]['diff']['after']
    assert stored_value(created['uuid']) == base64.b64decode(new_key)

    # gone
    results = four_calls('storage_secret', {'usage': 'ceph', 'usage_id': usage_id, 'state': 'absent'})
    assert actions(results) == [['undefine'], ['undefine'], [], []]
    assert results[1]['diff']['after'] == ''
    assert ours() == {}


def test_text_value_is_stored_as_is():
    args = {'usage': 'iscsi', 'usage_id': '%s-text' % PREFIX, 'value': PASSWORD + '\n'}
    result = run_module('storage_secret', args)
    assert result['actions'] == ['define', 'set_value']
    assert stored_value(result['secret']['uuid']) == (PASSWORD + '\n').encode()
    assert run_module('storage_secret', args)['changed'] is False


def test_private_value_update_always():
    args = {'usage': 'iscsi', 'usage_id': '%s-always' % PREFIX, 'value': PASSWORD, 'private': True}
    results = four_calls('storage_secret', args)
    # the value of a private secret cannot be read back: it is set, and reported, on every run
    assert actions(results) == [['define', 'set_value'], ['define', 'set_value'], ['set_value'], ['set_value']]
    assert changed(results) == [True, True, True, True]
    assert results[1]['secret']['value_set'] is True and results[1]['secret']['private'] is True
    assert results[2]['secret']['value_set'] is None, 'check mode cannot know whether a private secret has a value'
    assert 'private, cannot be compared' in results[2]['diff']['after']
    assert 'private' in str(stored_value(results[1]['secret']['uuid']))  # virsh cannot read it either


def test_private_value_update_on_create():
    args = {'usage': 'iscsi', 'usage_id': '%s-oncreate' % PREFIX, 'value': PASSWORD, 'private': True,
            'value_update': 'on_create'}
    results = four_calls('storage_secret', args)
    assert actions(results) == [['define', 'set_value'], ['define', 'set_value'], [], []]
    assert changed(results) == [True, True, False, False]
    assert results[3]['secret']['value_set'] is None
    # a new value is not set on an existing secret with on_create
    assert run_module('storage_secret', dict(args, value='other'))['changed'] is False


def test_non_private_on_create_and_always():
    args = {'usage': 'iscsi', 'usage_id': '%s-np' % PREFIX, 'value': PASSWORD, 'value_update': 'on_create'}
    assert actions(four_calls('storage_secret', args)) == [['define', 'set_value'], ['define', 'set_value'], [], []]
    uuid = ours()['iscsi %s-np' % PREFIX]
    assert run_module('storage_secret', dict(args, value='other'))['changed'] is False
    assert stored_value(uuid) == PASSWORD.encode()
    results = four_calls('storage_secret', dict(args, value='other', value_update='always'))
    assert actions(results) == [['set_value'], ['set_value'], [], []]
    assert stored_value(uuid) == b'other'


def test_private_on_in_place_and_off_needs_the_value():
    usage_id = '%s-flip' % PREFIX
    base = {'usage': 'iscsi', 'usage_id': usage_id}
    made = run_module('storage_secret', dict(base, value=PASSWORD))
    uuid = made['secret']['uuid']
    results = four_calls('storage_secret', dict(base, private=True))
    assert actions(results) == [['redefine'], ['redefine'], [], []]
    # libvirt refuses private yes -> no in place; without the value the module cannot redefine it
    refused = run_module('storage_secret', dict(base, private=False))
    assert refused['failed'] and 'private' in refused['msg'] and 'value' in refused['msg']
    assert ours() == {'iscsi %s' % usage_id: uuid}
    results = four_calls('storage_secret', dict(base, private=False, value=PASSWORD))
    assert actions(results) == [['undefine', 'define', 'set_value'], ['undefine', 'define', 'set_value'], [], []]
    assert results[3]['secret']['uuid'] == uuid and results[3]['secret']['private'] is False
    assert stored_value(uuid) == PASSWORD.encode()


def test_lookup_by_uuid_and_by_usage():
    uuid = FIXED_UUIDS[0]
    usage_id = '%s-byuuid' % PREFIX
    results = four_calls('storage_secret', {'uuid': uuid.upper(), 'usage': 'tls', 'usage_id': usage_id,
                                            'value': PASSWORD})
    assert actions(results) == [['define', 'set_value'], ['define', 'set_value'], [], []]
    assert results[1]['secret']['uuid'] == uuid
    # by uuid alone: the usage stays as it is
    by_uuid = run_module('storage_secret', {'uuid': uuid, 'description': 'found by uuid'})
    assert by_uuid['actions'] == ['redefine'] and by_uuid['secret']['usage_id'] == usage_id
    # by usage alone: the same secret
    by_usage = run_module('storage_secret', {'usage': 'tls', 'usage_id': usage_id, 'description': 'found by uuid'})
    assert by_usage['changed'] is False and by_usage['secret']['uuid'] == uuid
    # the usage of a secret found by uuid changes by undefine + define with the same uuid, value carried over
    moved = run_module('storage_secret', {'uuid': uuid, 'usage': 'tls', 'usage_id': usage_id + '-2'}, diff=True)
    assert moved['actions'] == ['undefine', 'define', 'set_value']
    assert stored_value(uuid) == PASSWORD.encode()
    # a usage another secret holds is refused, naming it
    other = run_module('storage_secret', {'usage': 'tls', 'usage_id': usage_id})
    taken = run_module('storage_secret', {'uuid': uuid, 'usage': 'tls', 'usage_id': usage_id})
    assert taken['failed'] and other['secret']['uuid'] in taken['msg']
    # usage none: found by uuid only
    none = FIXED_UUIDS[1]
    assert actions(four_calls('storage_secret', {'uuid': none, 'value': 'x'})) == [
        ['define', 'set_value'], ['define', 'set_value'], [], []]
    assert run_module('storage_secret', {'uuid': none, 'state': 'absent'})['actions'] == ['undefine']


# label, args, option (None: Ansible's own argument check), the message
BAD = [
    ('value and value_base64', {'usage': 'ceph', 'usage_id': PREFIX + '-bad1', 'value': PASSWORD,
                                'value_base64': KEY}, None, 'parameters are mutually exclusive: value|value_base64'),
    ('bad base64', {'usage': 'ceph', 'usage_id': PREFIX + '-bad2', 'value_base64': KEY[:-3] + '!'}, 'value_base64',
     'value_base64 is not valid base64 text (characters A-Z a-z 0-9 + / with = padding to a multiple of 4); '
     'pass raw text as value instead'),
    ('unknown usage', {'usage': 'floppy', 'usage_id': PREFIX + '-bad3', 'value': PASSWORD}, None,
     'value of usage must be one of: none, volume, ceph, iscsi, tls, vtpm, got: floppy'),
    ('ceph without usage_id', {'usage': 'ceph', 'value_base64': KEY}, 'usage_id',
     'usage ceph needs usage_id (the <name> of the usage: a name such as "client.libvirt secret")'),
    ('nothing to find it by', {'value': PASSWORD}, 'uuid',
     'give uuid, or usage and usage_id, to identify the secret (a secret of usage none can only be found by its uuid)'),
    ('bad uuid', {'uuid': 'not-a-uuid', 'value': PASSWORD}, 'uuid',
     "uuid 'not-a-uuid' is not a UUID (32 hex digits, e.g. 0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01)"),
    ('xml and typed', {'xml': '<secret/>', 'usage': 'ceph', 'usage_id': PREFIX + '-bad4'}, None,
     'parameters are mutually exclusive: xml|usage, xml|usage_id'),
    ('empty value', {'usage': 'iscsi', 'usage_id': PREFIX + '-bad5', 'value': ''}, 'value',
     'value is empty; libvirt does not store an empty secret value'),
]


@pytest.mark.parametrize('label,args,option,message', BAD, ids=[case[0] for case in BAD])
def test_bad_input_fails_clearly(label, args, option, message):
    for check in (True, False):
        result = run_module('storage_secret', args, check=check)
        assert result['failed'] is True, result
        assert result['msg'] == message
        if option is None:  # AnsibleModule's own check
            assert 'error' not in result and 'option' not in result
        else:
            assert (result['error'], result['option']) == ('ValidationError', option)
        assert ours() == {}


def _forms(*values):
    forms = []
    for value in values:
        data = value if isinstance(value, bytes) else value.encode()
        forms += [data.hex(), base64.b64encode(data).decode()]
        if not isinstance(value, bytes):
            forms.append(value)
    return forms


def test_value_never_in_output():
    """Every call with -vvv and --diff, failing ones included: neither the key nor its other forms show."""
    usage_id = '%s-leak' % PREFIX
    private = {'usage': 'ceph', 'usage_id': usage_id, 'value_base64': KEY, 'private': True}
    other = {'usage': 'iscsi', 'usage_id': usage_id, 'value': PASSWORD}
    calls = [
        (private, True, False), (private, False, False), (private, True, False), (private, False, False),
        (dict(private, private=False, value_base64=None), False, True),  # private off, no value: refused
        (dict(private, private=False), False, False),             # private off with the value: redefined
        (dict(other, uuid='bad-uuid'), False, True),              # bad uuid with a value
        (dict(other, value_base64=KEY), False, True),             # both values
        (dict(private, value_base64=KEY[:-2] + '*='), False, True),  # bad base64 near the key
        (other, True, False), (other, False, False), (other, False, False),
        (dict(other, value=PASSWORD + '2'), False, False),
        # a usage another secret holds, with the value given: refused
        ({'uuid': FIXED_UUIDS[0], 'usage': 'iscsi', 'usage_id': usage_id, 'value': PASSWORD}, False, True),
        # a usage id XML cannot hold
        ({'usage': 'volume', 'usage_id': usage_id + '\x01', 'value': PASSWORD}, False, True),
        # libvirtd not reachable
        (dict(other, uri='qemu:///system?socket=/nonexistent/%s' % PREFIX), False, True),
    ]
    forms = _forms(KEY, KEY_BYTES, PASSWORD, PASSWORD + '2') + [KEY]
    outcomes = []
    for args, check, should_fail in calls:
        args = dict((key, value) for key, value in args.items() if value is not None)
        result = run_module('storage_secret', args, check=check, diff=True, verbosity=3)
        outcomes.append(result['failed'])
        assert result['failed'] is should_fail, (args.get('usage_id'), result.get('msg'))
        for form in forms:
            assert form not in result.output, 'a form of the value leaked with args %r' % sorted(args)
        if not should_fail:
            # the output is -vvv indeed: it has the module's invocation, with the values masked
            assert 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' in result.output
    assert outcomes == [should_fail for _args, _check, should_fail in calls]
    assert re.search(r'ceph %s' % re.escape(usage_id), virsh('secret-list'))
