# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The secret manager: reads a libvirt secret, plans the steps to the desired state.

A secret is found by its uuid, or by its usage type and usage id (the
``<name>``, ``<target>`` or ``<volume>`` of its ``<usage>``).  Its value never
leaves this file: not in results, diffs, warnings or errors.  Every message
that leaves the manager, libvirt's included, is scrubbed of the value in all
the forms it was given or stored in.

What libvirt 9 allows in place (measured): a new description, ephemeral
on or off, private off -> on.  It refuses to turn private off or to change
the usage of an existing secret; those need undefine + define with the same
uuid, and the value set again.  The value of a private secret cannot be
read, so whether it has one cannot be told either.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import contextlib
import re

from ansible_collections.kvmops.storage.plugins.module_utils import canon
from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.connection import (
    VIR_ERR_INVALID_SECRET,
    VIR_ERR_NO_SECRET,
    error_code,
    error_message,
    is_libvirt_error,
)
from ansible_collections.kvmops.storage.plugins.module_utils.engine import Manager, Plan
from ansible_collections.kvmops.storage.plugins.module_utils.inuse import InUse, describe_domains
from ansible_collections.kvmops.storage.plugins.module_utils.live import SECRET_USAGES as USAGES
from ansible_collections.kvmops.storage.plugins.module_utils.records import secret_record
from ansible_collections.kvmops.storage.plugins.module_utils.errors import (
    OperationError,
    RefusedError,
    StorageError,
    ValidationError,
)

STATES = ('present', 'absent')
VALUE_UPDATE = ('always', 'on_create')
USAGE_NAMES = tuple(USAGES)
# options that describe the definition, mutually exclusive with xml
TYPED_SECRET_OPTIONS = ('usage', 'usage_id', 'description', 'private', 'ephemeral')

MASK = '********'
_UUID_RE = re.compile(r'^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$')
_XML_KNOWN = ('uuid', 'description', 'usage')
_CONTROL_RE = re.compile(u'[\x00-\x08\x0b\x0c\x0e-\x1f]')


class _Unknown:
    """The value of a private secret: libvirt does not tell whether there is one."""

    def __repr__(self):
        return 'UNKNOWN'


UNKNOWN = _Unknown()


def secret_argument_spec():
    """The module's options that are not connection options."""
    return dict(
        uuid=dict(type='str'),
        usage=dict(type='str', choices=list(USAGE_NAMES)),
        # the usage id names what the secret is for (a Ceph user, an iSCSI target), not the value
        usage_id=dict(type='str', no_log=False),
        description=dict(type='str'),
        private=dict(type='bool'),
        ephemeral=dict(type='bool'),
        value=dict(type='str', no_log=True),
        value_base64=dict(type='str', no_log=True),
        value_update=dict(type='str', default='always', choices=list(VALUE_UPDATE)),
        state=dict(type='str', default='present', choices=list(STATES)),
        force=dict(type='bool', default=False),
        xml=dict(type='str'),
    )


MUTUALLY_EXCLUSIVE = [['value', 'value_base64']] + [['xml', option] for option in TYPED_SECRET_OPTIONS]


def normalize_uuid(value, option='uuid'):
    text = str(value).strip().lower()
    if not _UUID_RE.match(text):
        raise ValidationError(option, '%s %r is not a UUID (32 hex digits, e.g. 0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01)'
                              % (option, value))
    digits = text.replace('-', '')
    return '-'.join((digits[:8], digits[8:12], digits[12:16], digits[16:20], digits[20:]))


def decode_value(params):
    """The bytes to store, or None when the task gives no value.

    ``value`` is stored as its UTF-8 bytes, exactly (no newline added or
    removed); ``value_base64`` is decoded (blanks and line breaks ignored)
    and the bytes stored.  Errors never quote the value.
    """
    if params.get('value') is not None:
        data = params['value'].encode('utf-8')
        option = 'value'
    elif params.get('value_base64') is not None:
        option = 'value_base64'
        text = re.sub(r'\s+', '', params['value_base64'])
        try:
            if len(text) % 4:
                raise ValueError('length')
            data = base64.b64decode(text.encode('ascii'), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise ValidationError('value_base64', 'value_base64 is not valid base64 text (characters A-Z a-z 0-9 + / '
                                                  'with = padding to a multiple of 4); pass raw text as value instead')
    else:
        return None
    if not data:
        raise ValidationError(option, '%s is empty; libvirt does not store an empty secret value' % option)
    return data


def value_forms(params, data):
    """Every form of the value that must never be shown, longest first."""
    forms = set()
    for key in ('value', 'value_base64'):
        if params.get(key):
            forms.add(params[key])
            forms.add(params[key].strip())
    if data:
        forms.add(base64.b64encode(data).decode('ascii'))
        forms.add(base64.urlsafe_b64encode(data).decode('ascii'))
        forms.add(data.hex())
        for encoding in ('utf-8', 'latin-1'):
            try:
                forms.add(data.decode(encoding))
            except UnicodeDecodeError:
                pass
        forms.add(repr(data))
    return sorted((form for form in forms if form), key=len, reverse=True)


def scrub(text, forms):
    """``text`` with every form of the value replaced by a mask."""
    if text is None:
        return text
    text = str(text)
    for form in forms:
        text = text.replace(form, MASK)
    return text


def _bool_attr(root, name, option):
    value = root.get(name)
    if value is None:
        return False
    if value not in ('yes', 'no'):
        raise ValidationError(option, '%s: <secret %s=%r>: accepted are yes and no' % (option, name, value))
    return value == 'yes'


def parse_definition(text, option='xml'):
    """A <secret> definition -> dict(uuid, usage, usage_id, description, private, ephemeral)."""
    # the test driver keeps no secrets: the document is read into the spec, which is libvirt's form
    root = canon.xml_document(text, option, 'secret', None)
    unknown = [xmlu.local_name(el) for el in root if isinstance(el.tag, str) and xmlu.local_name(el) not in _XML_KNOWN]
    if unknown:
        raise ValidationError(option, '%s: <secret> takes only %s, not <%s>' % (option, ', '.join(_XML_KNOWN), unknown[0]))
    spec = {
        'uuid': None,
        'usage': 'none',
        'usage_id': None,
        'description': '',
        'private': _bool_attr(root, 'private', option),
        'ephemeral': _bool_attr(root, 'ephemeral', option),
    }
    uuid = root.findtext('uuid')
    if uuid is not None and uuid.strip():
        spec['uuid'] = normalize_uuid(uuid, option)
    # libvirt keeps the text of both as it was given, blanks included
    spec['description'] = root.findtext('description') or ''
    usage = root.find('usage')
    if usage is not None:
        usage_type = usage.get('type')
        if usage_type not in USAGES or usage_type == 'none':
            raise ValidationError(option, '%s: <usage type=%r> is not a libvirt secret usage; accepted: %s'
                                  % (option, usage_type, ', '.join(n for n in USAGE_NAMES if n != 'none')))
        spec['usage'] = usage_type
        spec['usage_id'] = usage.findtext(USAGES[usage_type][1])
        if not (spec['usage_id'] or '').strip():
            raise ValidationError(option, '%s: <usage type=%r> needs a <%s> element with the usage id'
                                  % (option, usage_type, USAGES[usage_type][1]))
    return spec


def build_definition(spec):
    """dict(uuid, usage, usage_id, description, private, ephemeral) -> <secret> element."""
    root = xmlu.element('secret', ephemeral='yes' if spec.get('ephemeral') else 'no',
                        private='yes' if spec.get('private') else 'no')
    if spec.get('uuid'):
        xmlu.sub(root, 'uuid', spec['uuid'])
    if spec.get('description'):
        xmlu.sub(root, 'description', spec['description'])
    if spec.get('usage') and spec['usage'] != 'none':
        usage = xmlu.sub(root, 'usage', type=spec['usage'])
        xmlu.sub(usage, USAGES[spec['usage']][1], spec['usage_id'])
    return root


def comparable(spec):
    """The definition without its uuid (the uuid identifies, it is not compared), for diffs."""
    return build_definition(dict(spec, uuid=None))


class LiveSecret:
    """What libvirt says about a secret right now (the value stays in ``value``, never shown)."""

    def __init__(self, secret, guard):
        self.secret = secret
        self.xml_text = guard('reading the secret definition', secret.XMLDesc, 0)
        self.spec = parse_definition(self.xml_text, 'the live definition')
        self.uuid = self.spec['uuid'] or guard('reading the secret uuid', secret.UUIDString)
        self.spec['uuid'] = self.uuid
        if self.spec['private']:
            self.value = UNKNOWN
        else:
            self.value = _read_value(secret, guard)


def _read_value(secret, guard):
    """The stored bytes, None when there are none, UNKNOWN when libvirt will not tell."""
    try:
        return guard('reading the secret value', secret.value, 0)
    except OperationError as exc:
        code = exc.details.get('libvirt_code')
        if code == VIR_ERR_NO_SECRET:
            return None
        if code == VIR_ERR_INVALID_SECRET:
            return UNKNOWN
        raise


class SecretManager(Manager):
    result_key = 'secret'

    def __init__(self, conn, params, is_local=True):
        self.conn = conn
        self.params = params
        self.is_local = is_local
        self.forms = []
        self.value_set_now = False
        self.defined_now = False
        with self._scrubbing():
            self.state = params['state']
            self.value_update = params['value_update']
            self.data = decode_value(params)
            self.forms = value_forms(params, self.data)
            self.request = self._request()

    # ---- scrubbing ---------------------------------------------------------
    @contextlib.contextmanager
    def _scrubbing(self):
        """Any error leaving the block is a StorageError whose message and details hold no form of the value."""
        try:
            yield
        except StorageError as exc:
            exc.reword(scrub(exc.msg, self.forms))
            exc.details = dict((key, scrub(value, self.forms) if isinstance(value, str) else value)
                               for key, value in exc.details.items())
            raise
        except Exception as exc:  # pylint: disable=broad-except
            if is_libvirt_error(exc):
                raise OperationError(scrub(error_message(exc), self.forms), libvirt_code=error_code(exc))
            raise OperationError('unexpected error: %s: %s' % (type(exc).__name__, scrub(exc, self.forms)))

    def _guard(self, action, func, *args):
        """Run one libvirt call; any failure becomes a scrubbed OperationError naming ``action``."""
        try:
            return func(*args)
        except Exception as exc:  # pylint: disable=broad-except
            if is_libvirt_error(exc):
                raise OperationError('%s failed: %s' % (action, scrub(error_message(exc), self.forms)),
                                     libvirt_code=error_code(exc))
            raise OperationError('%s failed: %s: %s' % (action, type(exc).__name__, scrub(exc, self.forms)))

    # ---- the request -------------------------------------------------------
    def _request(self):
        """What the task asks for: a spec whose None fields mean "leave as it is"."""
        params = self.params
        if params.get('xml'):
            spec = parse_definition(params['xml'], 'xml')
            if params.get('uuid'):
                uuid = normalize_uuid(params['uuid'])
                if spec['uuid'] is not None and spec['uuid'] != uuid:
                    raise ValidationError('xml', 'xml: its <uuid> is %s but the task says uuid=%s; they must match'
                                          % (spec['uuid'], uuid))
                spec['uuid'] = uuid
        else:
            spec = dict((key, params.get(key)) for key in TYPED_SECRET_OPTIONS)
            spec['uuid'] = normalize_uuid(params['uuid']) if params.get('uuid') else None
            usage, usage_id = spec['usage'], spec['usage_id']
            for option in ('usage_id', 'description'):
                if spec[option] is not None and _CONTROL_RE.search(spec[option]):
                    raise ValidationError(option, '%s contains a control character, which XML cannot hold' % option)
            if usage_id is not None and not usage_id.strip():
                raise ValidationError('usage_id', 'usage_id must not be empty')
            if usage is None and usage_id is not None:
                raise ValidationError('usage', 'usage_id needs usage too; accepted: %s' % ', '.join(USAGE_NAMES))
            if usage == 'none' and usage_id is not None:
                raise ValidationError('usage_id', 'a secret of usage none has no usage id; leave usage_id out')
            if usage not in (None, 'none') and usage_id is None:
                raise ValidationError('usage_id', 'usage %s needs usage_id (the <%s> of the usage: %s)'
                                      % (usage, USAGES[usage][1], _USAGE_ID_HINT[usage]))
        if spec['uuid'] is None and spec['usage'] in (None, 'none'):
            raise ValidationError('uuid', 'give uuid, or usage and usage_id, to identify the secret '
                                          '(a secret of usage none can only be found by its uuid)')
        return spec

    # ---- reading -----------------------------------------------------------
    def _find(self, action, lookup, *args):
        """The secret a lookup finds, None when there is no such secret."""
        try:
            return self._guard(action, lookup, *args)
        except OperationError as exc:
            if exc.details.get('libvirt_code') == VIR_ERR_NO_SECRET:
                return None
            raise

    def _lookup_usage(self, usage, usage_id):
        return self._find('looking up the secret of usage %s %r' % (usage, usage_id),
                          self.conn.secretLookupByUsage, USAGES[usage][0], usage_id)

    def _lookup(self):
        uuid = self.request['uuid']
        if uuid is None:
            return self._lookup_usage(self.request['usage'], self.request['usage_id'])
        return self._find('looking up secret %s' % uuid, self.conn.secretLookupByUUIDString, uuid)

    def read(self):
        with self._scrubbing():
            secret = self._lookup()
            return LiveSecret(secret, self._guard) if secret is not None else None

    def describe(self, live, plan=None):
        with self._scrubbing():
            if live is None:
                result = {'state': 'absent'}
                for key in ('uuid', 'usage', 'usage_id'):
                    if self.request.get(key) is not None:
                        result[key] = self.request[key]
                return result
            spec = live.spec
            if live.value is UNKNOWN:
                # libvirt does not tell whether a private secret has a value: known only when this run set it,
                # or defined the secret and set none
                value_set = True if self.value_set_now else (False if self.defined_now else None)
            else:
                value_set = live.value is not None
            # the record storage_facts gives too (records.secret_record), and what only this module knows
            result = secret_record(xmlu.parse(live.xml_text), live.uuid)
            result['value_set'] = value_set
            result['xml'] = xmlu.to_string(build_definition(spec))
            return result

    # ---- planning ------------------------------------------------------------
    def plan(self, live):
        with self._scrubbing():
            plan = Plan()
            if self.state == 'absent':
                self._plan_removal(live, plan)
            else:
                self._plan_present(live, plan)
            return plan

    def _plan_removal(self, live, plan):
        if live is None:
            return
        plan.diff = self._diff(live, None, None)
        self._check_users(live, plan)
        secret = live.secret
        plan.add('undefine', lambda: self._guard('undefining secret %s' % live.uuid, secret.undefine))

    def _check_users(self, live, plan):
        """A secret that a defined pool authenticates with, or that a domain's disk names, stays unless force
        (then a warning names them): once undefined, those fail to start, and a private value cannot be read
        back to define it again."""
        users_of = InUse(self.conn, self.is_local).secret_users
        pools, domains = users_of(live.uuid, live.spec['usage'], live.spec['usage_id'])
        if not pools and not domains:
            return
        users = []
        if pools:
            users.append('pool(s) %s' % ', '.join(pools))
        if domains:
            users.append('domain(s) %s' % describe_domains(domains))
        if self.params.get('force'):
            plan.warnings.append('secret %s is used by %s, which cannot authenticate once it is removed (force)'
                                 % (_secret_name(live), ' and '.join(users)))
            return
        raise RefusedError('secret %s is used by %s; removing it would leave them unable to authenticate. Nothing '
                           'was changed; set force=true to remove it anyway'
                           % (_secret_name(live), ' and '.join(users)),
                           pools=pools, domains=[use.name for use in domains])

    def _desired_spec(self, live):
        request = self.request
        if live is None:
            spec = dict(request)
            for key in ('private', 'ephemeral'):
                spec[key] = bool(spec.get(key))
            spec['description'] = spec.get('description') or ''
            if spec['usage'] is None:
                spec['usage'] = 'none'
            return spec
        spec = dict(live.spec)
        for key in TYPED_SECRET_OPTIONS:
            if request.get(key) is not None:
                spec[key] = request[key]
        if request['usage'] == 'none':
            spec['usage_id'] = None
        spec['uuid'] = live.uuid
        return spec

    def _check_usage_free(self, spec, own_uuid):
        """Refuse a usage another secret already holds (libvirt allows one secret per usage)."""
        if spec['usage'] == 'none':
            return
        other = self._lookup_usage(spec['usage'], spec['usage_id'])
        if other is None:
            return
        other_uuid = self._guard('reading the secret uuid', other.UUIDString)
        if other_uuid != own_uuid:
            raise RefusedError('usage %s %r already belongs to secret %s; libvirt allows one secret per usage. '
                               'Remove that secret, or manage it by that uuid'
                               % (spec['usage'], spec['usage_id'], other_uuid), other_uuid=other_uuid)

    def _plan_present(self, live, plan):
        desired = self._desired_spec(live)
        data = self.data
        if desired['usage'] == 'ceph' and self.params.get('value') is not None and _looks_like_ceph_key(data):
            plan.warnings.append('value of the ceph secret is base64 text of a Ceph key; libvirt stores it as given, '
                                 'and an rbd pool authenticates with the decoded key - pass it as value_base64')
        if live is None:
            if desired['uuid'] is not None:
                self._check_usage_free(desired, desired['uuid'])
            plan.diff = self._diff(None, desired, 'set' if data is not None else None)
            definition = xmlu.to_string(build_definition(desired), pretty=False)
            holder = {}
            plan.add('define', lambda: self._define_new(definition, holder), undo=lambda: self._undefine_made(holder))
            if data is not None:
                plan.add('set_value', lambda: self._set_value(holder['secret'], data))
            return

        before, after = comparable(live.spec), comparable(desired)
        usage_changed = (live.spec['usage'], live.spec['usage_id']) != (desired['usage'], desired['usage_id'])
        unprivate = live.spec['private'] and not desired['private']
        recreate = usage_changed or unprivate
        if recreate:
            self._plan_recreate(live, desired, usage_changed, plan)
            return
        sets_value = False
        if data is not None and self.value_update == 'always':
            sets_value = live.value is UNKNOWN or live.value != data
        word = None
        if sets_value:
            word = 'set again: private, cannot be compared' if live.value is UNKNOWN else 'changed'
        plan.diff = self._diff(live, desired, word)
        if not xmlu.equal(before, after):
            old = live.xml_text
            new = xmlu.to_string(build_definition(desired), pretty=False)
            plan.add('redefine', lambda: self._define(new, 'redefining secret %s' % live.uuid),
                     undo=lambda: self._define(old, 'restoring the definition of secret %s' % live.uuid))
        if sets_value:
            old_value = live.value if isinstance(live.value, bytes) else None
            secret = live.secret
            plan.add('set_value', lambda: self._set_value(secret, data),
                     undo=(lambda: self._set_value(secret, old_value)) if old_value else None)

    def _plan_recreate(self, live, desired, usage_changed, plan):
        """libvirt changes neither the usage nor private=yes -> no in place: undefine, define, set the value."""
        why = []
        if usage_changed:
            why.append('its usage (%s %r -> %s %r)' % (live.spec['usage'], live.spec['usage_id'],
                                                       desired['usage'], desired['usage_id']))
            self._check_usage_free(desired, live.uuid)
        if live.spec['private'] and not desired['private']:
            why.append('private from yes to no')
        carried = self.data if self.data is not None else live.value
        if carried is UNKNOWN:
            raise RefusedError('secret %s: libvirt cannot change %s in place, so the secret must be undefined and '
                               'defined again; it is private, so its value cannot be read to carry it over. Give '
                               'value or value_base64 to set it again' % (live.uuid, ' and '.join(why)))
        if self.data is not None:
            word = 'set' if live.value is UNKNOWN or live.value is None else (
                'changed' if live.value != self.data else 'set again, unchanged')
        else:
            word = 'set again, unchanged' if carried is not None else 'none'
        plan.diff = self._diff(live, desired, word)
        secret = live.secret
        old = live.xml_text
        new = xmlu.to_string(build_definition(desired), pretty=False)
        old_value = live.value if isinstance(live.value, bytes) else None
        if live.value is UNKNOWN:
            # a private value cannot be read back: a failed recreate puts the old definition back with the
            # value this task gives (there is one: without it the recreate is refused above), never with none
            old_value = self.data
        holder = {}

        def restore():
            restored = self._define_new(old, holder)
            if old_value:
                self._set_value(restored, old_value)

        plan.add('undefine', lambda: self._guard('undefining secret %s' % live.uuid, secret.undefine), undo=restore)
        plan.add('define', lambda: self._define_new(new, holder), undo=lambda: self._undefine_made(holder))
        if carried is not None:
            plan.add('set_value', lambda: self._set_value(holder['secret'], carried))

    def _diff(self, live, desired, after_value):
        """Definitions before and after, each with a comment line saying whether there is a value;
        ``after_value`` is that line's word for after (``changed``, ``set``...), None to repeat before's."""
        before = '' if live is None else xmlu.to_string(comparable(live.spec)) + _value_comment(_value_word(live.value))
        if desired is None:
            after = ''
        else:
            if after_value is None:
                after_value = _value_word(live.value) if live is not None else 'none'
            after = xmlu.to_string(comparable(desired)) + _value_comment(after_value)
        name = self._label(live, desired)
        return {'before': before, 'after': after,
                'before_header': 'secret %s (live definition)' % name,
                'after_header': 'secret %s (%s)' % (name, 'removed' if desired is None else 'desired definition')}

    def _label(self, live, desired):
        spec = live.spec if live is not None else desired
        if spec.get('uuid'):
            return spec['uuid']
        return '%s %s' % (spec['usage'], spec['usage_id'])

    # ---- libvirt operations ----------------------------------------------------
    def _define(self, definition, action):
        return self._guard(action, self.conn.secretDefineXML, definition, 0)

    def _define_new(self, definition, holder):
        holder['secret'] = self._define(definition, 'defining the secret')
        self.defined_now = True
        return holder['secret']

    def _undefine_made(self, holder):
        if holder.get('secret') is not None:
            self._guard('undefining the secret', holder['secret'].undefine)

    def _set_value(self, secret, data):
        self._guard('setting the secret value', secret.setValue, data, 0)
        self.value_set_now = True


def _looks_like_ceph_key(data):
    """A cephx key as ``ceph auth get-key`` prints it: base64 of 28 bytes, key type 1 first."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) == 28 and raw[:2] == b'\x01\x00'


def _value_word(value):
    if value is UNKNOWN:
        return 'private, not readable'
    return 'set' if value is not None else 'none'


def _value_comment(word):
    return '<!-- value: (%s) -->\n' % word


_USAGE_ID_HINT = {
    'volume': 'the path of the encrypted volume',
    'ceph': 'a name such as "client.libvirt secret"',
    'iscsi': 'a name for the CHAP secret, e.g. the target IQN',
    'tls': 'a name for the TLS key secret',
    'vtpm': 'a name for the vTPM state secret',
}


def _secret_name(live):
    """``UUID`` or ``UUID (usage ceph 'client.libvirt secret')`` for a message."""
    if live.spec['usage'] in (None, 'none'):
        return live.uuid
    return '%s (usage %s %r)' % (live.uuid, live.spec['usage'], live.spec['usage_id'])
