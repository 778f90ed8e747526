"""Small fakes of libvirt's virConnect / virStoragePool / virStorageVol for unit tests.

They keep XML strings and record every call in ``conn.calls`` as
``(method, args)`` tuples.  Errors are real ``libvirt.libvirtError``
instances carrying the libvirt error code, as the binding raises them.
Semantics follow libvirt where the manager depends on them: a transient
pool disappears when it is stopped, ``delete`` needs an inactive pool,
``undefine`` of a running pool leaves it running as a transient pool.
"""

import libvirt
from lxml import etree

from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import TYPED_OPTIONS
from ansible_collections.kvmops.storage.plugins.module_utils.pool import pool_argument_spec

MUTATING = ('storagePoolDefineXML', 'create', 'destroy', 'build', 'delete', 'undefine',
            'setAutostart', 'refresh', 'vol.delete')


def libvirt_error(message, code):
    """A real libvirt.libvirtError whose get_error_code() is ``code``."""
    exc = libvirt.libvirtError(message)
    # (code, domain, message, level, str1, str2, str3, int1, int2) as virGetLastError returns it
    exc.err = (code, libvirt.VIR_FROM_STORAGE, message, libvirt.VIR_ERR_ERROR, None, None, None, 0, 0)
    return exc


def pool_params(**given):
    """Module params as AnsibleModule hands them over: every option present, defaults applied."""
    params = dict((key, spec.get('default')) for key, spec in pool_argument_spec().items())
    params['uri'] = 'qemu:///system'
    for key in TYPED_OPTIONS:
        assert key in params, key
    unknown = set(given) - set(params)
    assert not unknown, 'unknown option(s) %s' % sorted(unknown)
    params.update(given)
    return params


def dir_pool_xml(name='images', path='/var/lib/libvirt/images', mode='0755', uuid='9f5a4c1e-2d3b-4a6f-8e7d-1c2b3a4d5e6f',
                 capacity=107374182400, allocation=21474836480, available=85899345920):
    """A dir pool's persistent definition as ``virsh pool-dumpxml --inactive`` prints it."""
    return """<pool type='dir'>
  <name>%s</name>
  <uuid>%s</uuid>
  <capacity unit='bytes'>%d</capacity>
  <allocation unit='bytes'>%d</allocation>
  <available unit='bytes'>%d</available>
  <source>
  </source>
  <target>
    <path>%s</path>
    <permissions>
      <mode>%s</mode>
      <owner>0</owner>
      <group>0</group>
    </permissions>
  </target>
</pool>
""" % (name, uuid, capacity, allocation, available, path, mode)


def rbd_pool_xml(name='ceph-vms', secret='<secret uuid="2ec115d7-3a88-3ceb-bc12-0ac909a6fd87"/>'):
    return """<pool type='rbd'>
  <name>%s</name>
  <uuid>0a0b0c0d-1111-2222-3333-444455556666</uuid>
  <capacity unit='bytes'>1000</capacity>
  <allocation unit='bytes'>10</allocation>
  <available unit='bytes'>990</available>
  <source>
    <host name='mon1.example.com' port='6789'/>
    <host name='mon2.example.com' port='6789'/>
    <name>vms</name>
    <auth type='ceph' username='libvirt'>
      %s
    </auth>
  </source>
</pool>
""" % (name, secret)


class FakeVolume:
    def __init__(self, pool, name):
        self.pool = pool
        self.name = name

    def delete(self, flags=0):
        self.pool.conn.record('vol.delete', self.name, flags)
        self.pool.volumes.remove(self.name)

    def XMLDesc(self, flags=0):
        target = etree.fromstring(self.pool.xml.encode()).findtext('target/path') or '/nowhere'
        return ("<volume type='file'><name>%s</name><key>%s/%s</key><target><path>%s/%s</path></target></volume>"
                % (self.name, target, self.name, target, self.name))


class FakePool:
    def __init__(self, conn, xml, active=False, persistent=True, autostart=False, volumes=(),
                 uuid='9f5a4c1e-2d3b-4a6f-8e7d-1c2b3a4d5e6f'):
        self.conn = conn
        self.xml = xml
        self.active = active
        self.persistent = persistent
        self.auto = autostart
        self.volumes = list(volumes)
        self.uuid = uuid

    @property
    def name(self):
        return etree.fromstring(self.xml.encode()).findtext('name')

    def _maybe_fail(self, method):
        exc = self.conn.fail_on.get(method)
        if exc is not None:
            if isinstance(exc, list):  # fail only the first n calls
                if exc:
                    raise exc.pop(0)
                return
            raise exc

    # ---- reading
    def XMLDesc(self, flags=0):
        self.conn.record('XMLDesc', flags)
        return self.xml

    def isActive(self):
        return 1 if self.active else 0

    def isPersistent(self):
        return 1 if self.persistent else 0

    def autostart(self):
        return 1 if self.auto else 0

    def info(self):
        return [2 if self.active else 0, 107374182400, 21474836480, 85899345920]

    def UUIDString(self):
        return self.uuid

    def listVolumes(self):
        self.conn.record('listVolumes')
        if not self.active:
            raise libvirt_error('storage pool is not active', libvirt.VIR_ERR_OPERATION_INVALID)
        return list(self.volumes)

    def storageVolLookupByName(self, name):
        if name not in self.volumes:
            raise libvirt_error('Storage volume not found: %s' % name, libvirt.VIR_ERR_NO_STORAGE_VOL)
        return FakeVolume(self, name)

    def listAllVolumes(self, flags=0):
        self.conn.record('listAllVolumes')
        if not self.active:
            raise libvirt_error('storage pool is not active', libvirt.VIR_ERR_OPERATION_INVALID)
        return [FakeVolume(self, name) for name in self.volumes]

    # ---- changing
    def create(self, flags=0):
        self.conn.record('create', flags)
        self._maybe_fail('create')
        if self.active:
            raise libvirt_error('storage pool is already active', libvirt.VIR_ERR_OPERATION_INVALID)
        self.active = True

    def destroy(self):
        self.conn.record('destroy')
        self._maybe_fail('destroy')
        if not self.active:
            raise libvirt_error('storage pool is not active', libvirt.VIR_ERR_OPERATION_INVALID)
        self.active = False
        if not self.persistent:
            del self.conn.pools[self.name]

    def build(self, flags=0):
        self.conn.record('build', flags)
        self._maybe_fail('build')

    def delete(self, flags=0):
        self.conn.record('delete', flags)
        self._maybe_fail('delete')
        if self.active:
            raise libvirt_error('storage pool is still active', libvirt.VIR_ERR_OPERATION_INVALID)

    def undefine(self):
        self.conn.record('undefine')
        self._maybe_fail('undefine')
        if not self.persistent:
            raise libvirt_error('cannot undefine transient storage pool', libvirt.VIR_ERR_OPERATION_INVALID)
        if self.active:
            self.persistent = False
        else:
            del self.conn.pools[self.name]

    def setAutostart(self, value):
        self.conn.record('setAutostart', value)
        self._maybe_fail('setAutostart')
        self.auto = bool(value)

    def refresh(self, flags=0):
        self.conn.record('refresh', flags)
        if not self.active:
            raise libvirt_error('storage pool is not active', libvirt.VIR_ERR_OPERATION_INVALID)


class FakeConn:
    """virConnect with pools (by name) and secrets (by uuid and by (usage type, usage id))."""

    def __init__(self):
        self.pools = {}
        self.calls = []
        self.fail_on = {}
        self.secrets_by_uuid = set()
        self.secrets_by_usage = set()
        self.secret_types = {}  # uuid -> virSecretUsageType, for secrets_by_uuid entries
        self.domains = []  # objects with name(), isActive(), XMLDesc(flags), e.g. volume_fakes.FakeDomain

    def record(self, method, *args):
        self.calls.append((method, args))

    def mutations(self):
        """The calls that change something, as ``method`` names (define shown as ``define``)."""
        names = []
        for method, _args in self.calls:
            if method in MUTATING:
                names.append('define' if method == 'storagePoolDefineXML' else method)
        return names

    def add_pool(self, xml, **kwargs):
        pool = FakePool(self, xml, **kwargs)
        self.pools[pool.name] = pool
        return pool

    def storagePoolLookupByName(self, name):
        self.record('storagePoolLookupByName', name)
        if name not in self.pools:
            raise libvirt_error("Storage pool not found: no storage pool with matching name '%s'" % name,
                                libvirt.VIR_ERR_NO_STORAGE_POOL)
        return self.pools[name]

    def storagePoolDefineXML(self, xml, flags=0):
        self.record('storagePoolDefineXML', xml, flags)
        exc = self.fail_on.get('define')
        if isinstance(exc, list):
            exc = exc.pop(0) if exc else None
        if exc is not None:
            raise exc
        name = etree.fromstring(xml.encode()).findtext('name')
        if name in self.pools:
            pool = self.pools[name]
            pool.xml = xml
            pool.persistent = True
        else:
            pool = self.add_pool(xml)
        return pool

    def secretLookupByUUIDString(self, uuid):
        self.record('secretLookupByUUIDString', uuid)
        if uuid not in self.secrets_by_uuid:
            raise libvirt_error("Secret not found: no secret with matching uuid '%s'" % uuid, libvirt.VIR_ERR_NO_SECRET)
        assert uuid in self.secret_types, 'set conn.secret_types[%r] to the usage type of that secret' % uuid
        return FakeSecretRef(uuid, self.secret_types[uuid], None)

    def secretLookupByUsage(self, usage_type, usage_id):
        self.record('secretLookupByUsage', usage_type, usage_id)
        if (usage_type, usage_id) not in self.secrets_by_usage:
            raise libvirt_error("Secret not found: no secret with matching usage '%s'" % usage_id,
                                libvirt.VIR_ERR_NO_SECRET)
        return FakeSecretRef('00000000-0000-0000-0000-%012d' % usage_type, usage_type, usage_id)

    def listAllDomains(self, flags=0):
        self.record('listAllDomains', flags)
        return list(self.domains)

    def listAllStoragePools(self, flags=0):
        self.record('listAllStoragePools', flags)
        return [pool for pool in self.pools.values() if pool.active or not flags & 2]

    def listAllSecrets(self, flags=0):
        self.record('listAllSecrets', flags)
        return [FakeSecretRef('00000000-0000-0000-0000-%012d' % usage_type, usage_type, usage_id)
                for usage_type, usage_id in sorted(self.secrets_by_usage)]


class FakeSecretRef:
    """What a secret lookup returns: its uuid, usage type and usage id."""

    def __init__(self, uuid, usage_type, usage_id):
        self.uuid = uuid
        self.usage_type = usage_type
        self.usage_id = usage_id

    def UUIDString(self):
        return self.uuid

    def usageType(self):
        return self.usage_type

    def usageID(self):
        return self.usage_id
