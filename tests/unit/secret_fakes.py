"""A fake virConnect holding libvirt secrets, with the rules libvirt 9.0 applies (measured on libvirtd):

- one secret per usage; the usage of an existing secret cannot change;
- private cannot go from yes to no on an existing secret (no -> yes can);
- a private secret's value cannot be read (VIR_ERR_INVALID_SECRET), set or not;
- reading a value that was never set is VIR_ERR_NO_SECRET; an empty value is refused.

Calls are recorded in ``conn.calls`` as ``(method, args)``.
"""

import uuid as uuidlib

import libvirt
from lxml import etree

from fakes import libvirt_error

USAGE_NUMBER = {'volume': 1, 'ceph': 2, 'iscsi': 3, 'tls': 4, 'vtpm': 5}
USAGE_ELEMENT = {'volume': 'volume', 'ceph': 'name', 'iscsi': 'target', 'tls': 'name', 'vtpm': 'name'}
MUTATING = ('secretDefineXML', 'setValue', 'undefine')


def _parse(xml):
    root = etree.fromstring(xml.encode())
    usage = root.find('usage')
    usage_type = usage.get('type') if usage is not None else None
    usage_id = usage.findtext(USAGE_ELEMENT[usage_type]) if usage_type else None
    return root, usage_type, usage_id


class FakeSecret:
    def __init__(self, conn, uuid, xml, value=None):
        self.conn = conn
        self.uuid = uuid
        self.xml = xml
        self.stored = value

    @property
    def root(self):
        return etree.fromstring(self.xml.encode())

    @property
    def private(self):
        return self.root.get('private') == 'yes'

    def XMLDesc(self, flags=0):
        return self.xml

    def UUIDString(self):
        return self.uuid

    def usageType(self):
        _root, usage_type, _uid = _parse(self.xml)
        return USAGE_NUMBER.get(usage_type, 0)

    def usageID(self):
        return _parse(self.xml)[2] or ''

    def value(self, flags=0):
        self.conn.record('value', self.uuid)
        if self.private:
            raise libvirt_error('Invalid secret: secret is private', libvirt.VIR_ERR_INVALID_SECRET)
        if self.stored is None:
            raise libvirt_error("Secret not found: secret '%s' does not have a value" % self.uuid,
                                libvirt.VIR_ERR_NO_SECRET)
        return self.stored

    def setValue(self, value, flags=0):
        self.conn.record('setValue', self.uuid)
        failure = self.conn.fail_on.get('setValue')
        if failure is not None:
            raise failure
        if not value:
            raise libvirt_error('value in virSecretSetValue must not be NULL', libvirt.VIR_ERR_INVALID_ARG)
        self.stored = value

    def undefine(self):
        self.conn.record('undefine', self.uuid)
        del self.conn.secrets[self.uuid]


class FakeSecretConn:
    def __init__(self):
        self.secrets = {}
        self.calls = []
        self.fail_on = {}
        self.pools = []    # objects with name() and XMLDesc(flags): pools that may name a secret
        self.domains = []  # objects with name(), isActive(), XMLDesc(flags), e.g. volume_fakes.FakeDomain

    def record(self, method, *args):
        self.calls.append((method, args))

    def mutations(self):
        return [method for method, _args in self.calls if method in MUTATING]

    def add(self, usage=None, usage_id=None, value=None, private=False, ephemeral=False, description=None,
            uuid=None):
        uuid = uuid or str(uuidlib.uuid4())
        xml = "<secret ephemeral='%s' private='%s'>\n  <uuid>%s</uuid>\n" % (
            'yes' if ephemeral else 'no', 'yes' if private else 'no', uuid)
        if description:
            xml += '  <description>%s</description>\n' % description
        if usage:
            xml += "  <usage type='%s'>\n    <%s>%s</%s>\n  </usage>\n" % (
                usage, USAGE_ELEMENT[usage], usage_id, USAGE_ELEMENT[usage])
        xml += '</secret>\n'
        self.secrets[uuid] = FakeSecret(self, uuid, xml, value)
        return self.secrets[uuid]

    def listAllStoragePools(self, flags=0):
        self.record('listAllStoragePools', flags)
        return list(self.pools)

    def listAllDomains(self, flags=0):
        self.record('listAllDomains', flags)
        return list(self.domains)

    def secretLookupByUUIDString(self, uuid):
        self.record('secretLookupByUUIDString', uuid)
        if uuid not in self.secrets:
            raise libvirt_error("Secret not found: no secret with matching uuid '%s'" % uuid, libvirt.VIR_ERR_NO_SECRET)
        return self.secrets[uuid]

    def secretLookupByUsage(self, usage_type, usage_id):
        self.record('secretLookupByUsage', usage_type, usage_id)
        for secret in self.secrets.values():
            if secret.usageType() == usage_type and secret.usageID() == usage_id:
                return secret
        raise libvirt_error("Secret not found: no secret with matching usage '%s'" % usage_id, libvirt.VIR_ERR_NO_SECRET)

    def secretDefineXML(self, xml, flags=0):
        self.record('secretDefineXML', xml)
        failure = self.fail_on.get('define')
        if failure is not None:
            raise failure
        root, usage_type, usage_id = _parse(xml)
        uuid = root.findtext('uuid') or str(uuidlib.uuid4())
        for other in self.secrets.values():
            if other.uuid != uuid and usage_type and other.usageType() == USAGE_NUMBER[usage_type] \
                    and other.usageID() == usage_id:
                raise libvirt_error('internal error: a secret with UUID %s already defined for use with %s'
                                    % (other.uuid, usage_id), libvirt.VIR_ERR_INTERNAL_ERROR)
        existing = self.secrets.get(uuid)
        if existing is not None:
            _old_root, old_type, old_id = _parse(existing.xml)
            if (old_type, old_id) != (usage_type, usage_id):
                raise libvirt_error('internal error: a secret with UUID %s is already defined for use with %s'
                                    % (uuid, old_id), libvirt.VIR_ERR_INTERNAL_ERROR)
            if existing.private and root.get('private') != 'yes':
                raise libvirt_error('internal error: cannot change private flag on existing secret',
                                    libvirt.VIR_ERR_INTERNAL_ERROR)
        if root.find('uuid') is None:
            etree.SubElement(root, 'uuid').text = uuid
        for attr in ('ephemeral', 'private'):
            root.set(attr, root.get(attr) or 'no')
        text = etree.tostring(root, encoding='unicode')
        if existing is not None:
            existing.xml = text
            return existing
        self.secrets[uuid] = FakeSecret(self, uuid, text)
        return self.secrets[uuid]
