"""SecretManager: XML building and normalization, request validation, planning on a fake libvirt, scrubbing."""

import base64
import json

import libvirt
import pytest

from fake_libvirt import FakeConn, FakeDomain, libvirt_error
from ansible_collections.kvmops.storage.plugins.module_utils import engine
from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.errors import (
    OperationError,
    RefusedError,
    ValidationError,
)
from ansible_collections.kvmops.storage.plugins.module_utils.secret import (
    MASK,
    SecretManager,
    build_definition,
    decode_value,
    normalize_uuid,
    parse_definition,
    scrub,
    secret_argument_spec,
    value_forms,
)

KEY = 'AQBzb2t2bW9wcy1zdG9yYWdlLXRlc3Qta2V5IQ=='   # a Ceph-style base64 key
KEY_BYTES = base64.b64decode(KEY)
PASSWORD = 'chap-Pa55word-4711'
UUID = '0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01'


def params(**given):
    result = dict((key, spec.get('default')) for key, spec in secret_argument_spec().items())
    result['uri'] = 'qemu:///system'
    unknown = set(given) - set(result)
    assert not unknown, unknown
    result.update(given)
    return result


@pytest.fixture
def conn():
    return FakeConn()


def run(conn, check=False, **given):
    """engine.reconcile as the module runs it; returns (result, plan actions)."""
    manager = SecretManager(conn, params(**given))
    return engine.reconcile(manager, check, True)


def assert_no_value(obj, *values):
    text = json.dumps(obj, default=str) if not isinstance(obj, str) else obj
    for value in values:
        assert value not in text


# ---- XML ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize('usage,element', [('volume', 'volume'), ('ceph', 'name'), ('iscsi', 'target'),
                                           ('tls', 'name'), ('vtpm', 'name')])
def test_usage_elements_follow_libvirt(usage, element):
    root = build_definition({'usage': usage, 'usage_id': 'the-id', 'description': 'd', 'private': True,
                             'ephemeral': False, 'uuid': UUID})
    assert root.find('usage').get('type') == usage
    assert root.find('usage').findtext(element) == 'the-id'
    assert root.get('private') == 'yes' and root.get('ephemeral') == 'no'
    back = parse_definition(xmlu.to_string(root))
    assert back == {'uuid': UUID, 'usage': usage, 'usage_id': 'the-id', 'description': 'd',
                    'private': True, 'ephemeral': False}


def test_blanks_in_usage_id_are_kept_as_libvirt_keeps_them(conn):
    conn.add_secret('iscsi', ' padded ', value=b'pw')
    assert run(conn, usage='iscsi', usage_id=' padded ', value='pw')['actions'] == []


def test_usage_none_has_no_usage_element():
    root = build_definition({'usage': 'none', 'usage_id': None, 'description': '', 'private': False,
                             'ephemeral': False})
    assert root.find('usage') is None and root.find('description') is None


def test_live_xml_with_libvirt_whitespace_parses_to_the_same_spec(conn):
    secret = conn.add_secret('ceph', 'client.libvirt secret', description='Ceph key', uuid=UUID)
    spec = parse_definition(secret.XMLDesc(0))
    assert spec['description'] == 'Ceph key' and spec['usage_id'] == 'client.libvirt secret'


@pytest.mark.parametrize('text,words', [
    ('<pool/>', ['root element', 'pool']),
    ('<secret><foo/></secret>', ['<foo>']),
    ("<secret><usage type='floppy'><name>x</name></usage></secret>", ['floppy', 'ceph']),
    ("<secret><usage type='iscsi'><name>x</name></usage></secret>", ['<target>']),
    ("<secret private='maybe'/>", ['private', 'yes']),
    ('<secret><uuid>nope</uuid></secret>', ['UUID']),
    ('<secret>', ['not well-formed']),
])
def test_bad_xml(text, words):
    with pytest.raises(ValidationError) as info:
        parse_definition(text)
    assert info.value.option == 'xml'
    for word in words:
        assert word in info.value.msg


def test_uuid_normalized():
    assert normalize_uuid(UUID.upper()) == UUID
    assert normalize_uuid(UUID.replace('-', '')) == UUID
    with pytest.raises(ValidationError) as info:
        normalize_uuid('1234')
    assert info.value.option == 'uuid'


# ---- values --------------------------------------------------------------------------------------------

def test_value_is_stored_as_utf8_text_exactly():
    assert decode_value({'value': 'pässword\n'}) == 'pässword\n'.encode('utf-8')


def test_value_base64_is_decoded_ignoring_blanks():
    assert decode_value({'value_base64': KEY[:10] + '\n ' + KEY[10:] + '\n'}) == KEY_BYTES


@pytest.mark.parametrize('bad', ['not base64!', 'QUJD=', 'QQ', KEY + 'x'])
def test_bad_base64_names_the_option_and_not_the_value(bad):
    with pytest.raises(ValidationError) as info:
        decode_value({'value_base64': bad})
    assert info.value.option == 'value_base64' and 'base64' in info.value.msg
    assert bad not in info.value.msg


@pytest.mark.parametrize('given', [{'value': ''}, {'value_base64': ''}, {'value_base64': '  \n'}])
def test_empty_value_refused(given):
    with pytest.raises(ValidationError) as info:
        decode_value(given)
    assert 'empty' in info.value.msg


def test_scrub_masks_every_form():
    forms = value_forms({'value_base64': KEY}, KEY_BYTES)
    text = 'a %s b %s c %s' % (KEY, KEY_BYTES.hex(), base64.b64encode(KEY_BYTES).decode())
    cleaned = scrub(text, forms)
    assert_no_value(cleaned, KEY, KEY_BYTES.hex())
    assert cleaned.count(MASK) == 3
    text_forms = value_forms({'value': PASSWORD}, PASSWORD.encode())
    assert scrub('x %s y %s' % (PASSWORD, base64.b64encode(PASSWORD.encode()).decode()), text_forms) == \
        'x %s y %s' % (MASK, MASK)


# ---- request validation ----------------------------------------------------------------------------------

@pytest.mark.parametrize('given,option,words', [
    (dict(usage='ceph'), 'usage_id', ['usage_id', 'ceph', '<name>']),
    (dict(usage='iscsi'), 'usage_id', ['<target>']),
    (dict(usage_id='x'), 'usage', ['usage', 'ceph', 'iscsi']),
    (dict(usage='none', usage_id='x'), 'usage_id', ['none']),
    (dict(usage='none'), 'uuid', ['uuid']),
    (dict(), 'uuid', ['uuid', 'usage_id']),
    (dict(usage='ceph', usage_id='  '), 'usage_id', ['empty']),
    (dict(uuid='zz', usage='ceph', usage_id='x'), 'uuid', ['zz', 'UUID']),
    (dict(uuid=UUID, xml='<secret><uuid>11111111-2222-3333-4444-555555555555</uuid></secret>'), 'xml',
     ['11111111', UUID]),
    (dict(usage='ceph', usage_id='x', value_base64='%%%'), 'value_base64', ['base64']),
])
def test_bad_requests(conn, given, option, words):
    with pytest.raises(ValidationError) as info:
        SecretManager(conn, params(**given))
    assert info.value.option == option
    for word in words:
        assert word in info.value.msg
    assert conn.mutations() == []


# ---- planning and applying ---------------------------------------------------------------------------------

CEPH = dict(usage='ceph', usage_id='client.libvirt secret')
ISCSI = dict(usage='iscsi', usage_id='iqn.2026-11.io.kvmops:chap')


def test_create_then_nothing(conn):
    planned = run(conn, check=True, value_base64=KEY, description='Ceph key', **CEPH)
    assert planned['changed'] and planned['actions'] == ['define', 'set_value']
    assert conn.mutations() == [] and not conn.secrets
    assert planned['secret']['state'] == 'absent'
    assert planned['diff']['before'] == '' and '<name>client.libvirt secret</name>' in planned['diff']['after']
    assert '<!-- value: (set) -->' in planned['diff']['after']
    done = run(conn, value_base64=KEY, description='Ceph key', **CEPH)
    assert done['actions'] == planned['actions']
    secret, = conn.secrets.values()
    assert secret.stored == KEY_BYTES
    assert done['secret']['uuid'] == secret.uuid and done['secret']['value_set'] is True
    assert done['secret']['description'] == 'Ceph key' and done['secret']['private'] is False
    again = run(conn, value_base64=KEY, description='Ceph key', **CEPH)
    assert again['changed'] is False and again['actions'] == []
    assert again['diff']['before'] == again['diff']['after']
    for result in (planned, done, again):
        assert_no_value(result, KEY, KEY_BYTES.hex())


def test_ceph_key_given_as_text_is_warned_about_without_the_key(conn):
    key = base64.b64encode(b'\x01\x00' + bytes(range(26))).decode()
    result = run(conn, value=key, **CEPH)
    assert len(result['warnings']) == 1 and 'value_base64' in result['warnings'][0]
    assert_no_value(result, key)
    assert 'warnings' not in run(conn, value_base64=key, **CEPH)
    assert 'warnings' not in run(conn, value=PASSWORD, **ISCSI)


def test_value_change_on_readable_secret(conn):
    conn.add_secret(value=b'old', **ISCSI)
    planned = run(conn, check=True, value=PASSWORD, **ISCSI)
    assert planned['actions'] == ['set_value']
    assert '<!-- value: (set) -->' in planned['diff']['before']
    assert '<!-- value: (changed) -->' in planned['diff']['after']
    done = run(conn, value=PASSWORD, **ISCSI)
    assert done['actions'] == ['set_value']
    assert conn.secrets[done['secret']['uuid']].stored == PASSWORD.encode()
    assert run(conn, value=PASSWORD, **ISCSI)['changed'] is False


def test_on_create_leaves_an_existing_value(conn):
    secret = conn.add_secret(value=b'old', **ISCSI)
    assert run(conn, value=PASSWORD, value_update='on_create', **ISCSI)['actions'] == []
    assert secret.stored == b'old'


def test_description_change_in_place_keeps_the_value(conn):
    secret = conn.add_secret(value=b'pw', description='old', **ISCSI)
    done = run(conn, description='new', **ISCSI)
    assert done['actions'] == ['redefine']
    assert '<description>old</description>' in done['diff']['before']
    assert '<description>new</description>' in done['diff']['after']
    assert secret.stored == b'pw' and 'new' in secret.xml
    assert run(conn, description='new', **ISCSI)['changed'] is False
    assert run(conn, description='', **ISCSI)['actions'] == ['redefine']
    assert '<description>' not in secret.xml


def test_options_left_out_keep_the_live_definition(conn):
    conn.add_secret(value=b'pw', description='keep', private=True, ephemeral=True, **ISCSI)
    result = run(conn, **ISCSI)
    assert result['actions'] == []
    assert result['secret']['description'] == 'keep' and result['secret']['private'] is True


def test_private_always_sets_every_run(conn):
    secret = conn.add_secret(value=b'pw', private=True, **CEPH)
    for _run in range(2):
        result = run(conn, value_base64=KEY, private=True, **CEPH)
        assert result['changed'] is True and result['actions'] == ['set_value']
        assert result['secret']['value_set'] is True
        assert 'private, cannot be compared' in result['diff']['after']
    assert secret.stored == KEY_BYTES
    planned = run(conn, check=True, value_base64=KEY, **CEPH)
    assert planned['actions'] == ['set_value'] and planned['secret']['value_set'] is None


def test_private_on_create_is_idempotent(conn):
    secret = conn.add_secret(value=b'pw', private=True, **CEPH)
    result = run(conn, value_base64=KEY, private=True, value_update='on_create', **CEPH)
    assert result['changed'] is False and result['secret']['value_set'] is None
    assert secret.stored == b'pw'
    assert '(private, not readable)' in result['diff']['before']


def test_new_private_secret_with_on_create(conn):
    args = dict(value=PASSWORD, private=True, value_update='on_create', **ISCSI)
    assert run(conn, **args)['actions'] == ['define', 'set_value']
    assert run(conn, **args)['actions'] == []


def test_new_private_secret_without_value_reports_none_set(conn):
    result = run(conn, private=True, **ISCSI)
    assert result['actions'] == ['define'] and result['secret']['value_set'] is False
    assert run(conn, private=True, **ISCSI)['secret']['value_set'] is None


def test_private_on_in_place(conn):
    secret = conn.add_secret(value=b'pw', **ISCSI)
    result = run(conn, private=True, **ISCSI)
    assert result['actions'] == ['redefine']
    assert secret.private and secret.stored == b'pw'


def test_private_off_needs_the_value(conn):
    secret = conn.add_secret(value=b'pw', private=True, uuid=UUID, **ISCSI)
    with pytest.raises(RefusedError) as info:
        run(conn, private=False, **ISCSI)
    assert 'private' in info.value.msg and 'value' in info.value.msg
    assert conn.mutations() == []
    result = run(conn, private=False, value=PASSWORD, **ISCSI)
    assert result['actions'] == ['undefine', 'define', 'set_value']
    again = conn.secrets[UUID]
    assert again is not secret and not again.private and again.stored == PASSWORD.encode()
    assert result['secret']['uuid'] == UUID
    assert run(conn, private=False, value=PASSWORD, **ISCSI)['changed'] is False


def test_usage_change_by_uuid_carries_a_readable_value(conn):
    conn.add_secret(value=b'pw', uuid=UUID, **ISCSI)
    result = run(conn, uuid=UUID, usage='iscsi', usage_id='iqn.2026-11.io.kvmops:other')
    assert result['actions'] == ['undefine', 'define', 'set_value']
    assert 'set again, unchanged' in result['diff']['after']
    assert conn.secrets[UUID].stored == b'pw' and conn.secrets[UUID].usageID() == 'iqn.2026-11.io.kvmops:other'


def test_usage_of_another_secret_is_refused(conn):
    other = conn.add_secret(**ISCSI)
    conn.add_secret(uuid=UUID, usage='iscsi', usage_id='mine')
    with pytest.raises(RefusedError) as info:
        run(conn, uuid=UUID, **ISCSI)
    assert other.uuid in info.value.msg
    with pytest.raises(RefusedError):
        run(conn, uuid='11111111-2222-3333-4444-555555555555', **ISCSI)
    assert conn.mutations() == []


def test_found_by_uuid_usage_none(conn):
    conn.add_secret(uuid=UUID, value=b'v')
    result = run(conn, uuid=UUID, value='v')
    assert result['actions'] == [] and result['secret']['usage'] == 'none'
    assert result['secret']['usage_id'] is None


def test_xml_escape_hatch(conn):
    xml = ("<secret ephemeral='no' private='no'><description>from xml</description>"
           "<usage type='iscsi'><target>iqn.2026-11.io.kvmops:chap</target></usage></secret>")
    assert run(conn, xml=xml, value=PASSWORD)['actions'] == ['define', 'set_value']
    assert run(conn, xml=xml, value=PASSWORD)['actions'] == []
    # the xml is the whole definition: a description it leaves out is removed
    bare = xml.replace('<description>from xml</description>', '')
    assert run(conn, xml=bare)['actions'] == ['redefine']


def test_absent(conn):
    secret = conn.add_secret(value=b'pw', **ISCSI)
    planned = run(conn, check=True, state='absent', **ISCSI)
    assert planned['actions'] == ['undefine'] and planned['diff']['after'] == ''
    assert secret.uuid in conn.secrets
    assert run(conn, state='absent', **ISCSI)['actions'] == ['undefine']
    assert not conn.secrets
    assert run(conn, state='absent', **ISCSI)['actions'] == []


def test_failed_set_value_undefines_the_new_secret_and_hides_the_value(conn):
    conn.fail_on['setValue'] = libvirt_error('cannot store %s (%s)' % (KEY, KEY_BYTES.hex()),
                                             libvirt.VIR_ERR_INTERNAL_ERROR)
    with pytest.raises(OperationError) as info:
        run(conn, value_base64=KEY, **CEPH)
    assert not conn.secrets
    assert 'rolled back: define' in info.value.msg
    assert_no_value(info.value.msg, KEY, KEY_BYTES.hex())
    assert MASK in info.value.msg


def test_failed_set_value_on_existing_secret_restores_the_definition(conn):
    secret = conn.add_secret(value=b'old', description='old', **ISCSI)
    conn.fail_on['setValue'] = libvirt_error('no', libvirt.VIR_ERR_INTERNAL_ERROR)
    with pytest.raises(OperationError) as info:
        run(conn, value=PASSWORD, description='new', **ISCSI)
    assert 'rolled back: redefine' in info.value.msg
    assert secret.stored == b'old' and '<description>old</description>' in secret.xml


def test_unexpected_error_is_scrubbed(conn):
    def broken(*args):
        raise RuntimeError('boom %s' % PASSWORD)
    conn.secretLookupByUsage = broken
    with pytest.raises(OperationError) as info:
        run(conn, value=PASSWORD, **ISCSI)
    assert_no_value(info.value.msg, PASSWORD)
    assert 'RuntimeError' in info.value.msg


# ---- in use, and a failed recreate ------------------------------------------------------------------

def test_absent_refused_while_a_pool_or_a_domain_uses_it(conn):
    conn.add_secret(value=b'k', uuid=UUID, **CEPH)
    conn.add_pool("<pool type='rbd'><name>vms</name><source><name>vms</name>"
                  "<auth type='ceph' username='libvirt'><secret usage='client.libvirt secret'/>"
                  "</auth></source></pool>")
    conn.add_pool("<pool type='dir'><name>plain</name><target><path>/p</path></target></pool>")
    conn.domains.append(FakeDomain(conn, "<domain><name>vm</name><devices><disk type='network'>"
                                         "<source protocol='rbd' name='vms/x'/><auth username='libvirt'>"
                                         "<secret type='ceph' uuid='%s'/></auth></disk></devices></domain>" % UUID,
                                   active=True))
    for check in (True, False):
        with pytest.raises(RefusedError) as info:
            run(conn, check=check, state='absent', **CEPH)
        assert info.value.msg == ("secret %s (usage ceph 'client.libvirt secret') is used by pool(s) vms and "
                                  "domain(s) vm (running); removing it would leave them unable to authenticate. "
                                  "Nothing was changed; set force=true to remove it anyway" % UUID)
        assert info.value.details['pools'] == ['vms'] and info.value.details['domains'] == ['vm']
    assert conn.mutations() == [] and UUID in conn.secrets
    forced = run(conn, state='absent', force=True, **CEPH)
    assert forced['actions'] == ['undefine']
    assert forced['warnings'] == ["secret %s (usage ceph 'client.libvirt secret') is used by pool(s) vms and domain(s) "
                                  "vm (running), which cannot authenticate once it is removed (force)" % UUID]
    assert not conn.secrets


def test_failed_recreate_of_a_private_secret_restores_it_with_the_tasks_value(conn):
    """The old value of a private secret cannot be read: putting the old definition back without a value
    would leave a secret that authenticates nothing; it gets the value the task gives."""
    conn.add_secret(value=b'unreadable', private=True, uuid=UUID, **ISCSI)
    real_define = conn.secretDefineXML
    defined = []

    def first_define_fails(xml, flags=0):
        defined.append(xml)
        if len(defined) == 1:
            raise libvirt_error('internal error: cannot define', libvirt.VIR_ERR_INTERNAL_ERROR)
        return real_define(xml, flags)

    conn.secretDefineXML = first_define_fails
    with pytest.raises(OperationError) as info:
        run(conn, private=False, value=PASSWORD, **ISCSI)
    assert 'rolled back: undefine' in info.value.msg, info.value.msg
    restored = conn.secrets[UUID]
    assert restored.private, 'the old definition is back'
    assert restored.stored == PASSWORD.encode(), 'with a value, never without one'
    assert_no_value(info.value.msg, PASSWORD)
