"""Unit tests of the facts manager with fakes: parsing, usage_percent, query, capabilities, warnings."""

import libvirt
import pytest

from fakes import FakeSecretRef, libvirt_error
from volume_fakes import DIR_PATH, GIB, MIB, domain_xml, volume_xml
from ansible_collections.kvmops.storage.plugins.module_utils import facts as factsu
from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError

POOL_XML = """<pool type='%(type)s'>
  <name>%(name)s</name>
  <uuid>%(uuid)s</uuid>
  <capacity unit='bytes'>%(capacity)d</capacity>
  <allocation unit='bytes'>%(allocation)d</allocation>
  <available unit='bytes'>%(available)d</available>
  <source>%(source)s</source>
  <target>
    <path>%(path)s</path>
    <permissions><mode>0711</mode><owner>0</owner><group>0</group></permissions>
  </target>
</pool>
"""

RBD_SOURCE = ("<host name='10.0.0.1' port='6789'/><host name='10.0.0.2'/><name>rbdpool</name>"
              "<auth type='ceph' username='libvirt'><secret uuid='0d4f7c2e-5a1b-4c3d-9e8f-7a6b5c4d3e2f'/></auth>")

CAPS_XML = """<storagepoolCapabilities>
  <pool type='dir' supported='yes'>
    <volOptions>
      <defaultFormat type='raw'/>
      <enum name='targetFormatType'><value>none</value><value>raw</value><value>qcow2</value></enum>
    </volOptions>
  </pool>
  <pool type='fs' supported='yes'>
    <poolOptions>
      <defaultFormat type='auto'/>
      <enum name='sourceFormatType'><value>auto</value><value>ext4</value></enum>
    </poolOptions>
    <volOptions>
      <defaultFormat type='raw'/>
      <enum name='targetFormatType'><value>raw</value></enum>
    </volOptions>
  </pool>
  <pool type='sheepdog' supported='no'/>
</storagepoolCapabilities>
"""


class Vol:
    def __init__(self, conn, xml, error=None):
        self.conn = conn
        self.xml = xml
        self.error = error

    def XMLDesc(self, flags=0):
        self.conn.calls.append('vol.XMLDesc')
        if self.error is not None:
            raise self.error
        return self.xml

    def info(self):  # pragma: no cover - the facts must not call it
        self.conn.calls.append('vol.info')
        raise AssertionError('info() called')


class Pool:
    def __init__(self, conn, name, type_name='dir', active=True, capacity=100 * GIB, allocation=25 * GIB,
                 available=75 * GIB, source='', autostart=True, persistent=True, refresh_error=None):
        self.conn = conn
        self._name = name
        self.active = active
        self.info_tuple = (2 if active else 0, capacity if active else 0, allocation if active else 0,
                           available if active else 0)
        self.xml = POOL_XML % {'type': type_name, 'name': name, 'uuid': 'uuid-of-%s' % name,
                               'capacity': self.info_tuple[1], 'allocation': self.info_tuple[2],
                               'available': self.info_tuple[3], 'source': source,
                               'path': '%s/%s' % (DIR_PATH, name)}
        self.vols = []
        self._autostart = autostart
        self.persistent = persistent
        self.refresh_error = refresh_error

    def name(self):
        return self._name

    def XMLDesc(self, flags=0):
        return self.xml

    def info(self):
        return list(self.info_tuple)

    def isPersistent(self):
        return 1 if self.persistent else 0

    def autostart(self):
        return 1 if self._autostart else 0

    def refresh(self, flags=0):
        self.conn.calls.append('refresh:%s' % self._name)
        if self.refresh_error is not None:
            raise self.refresh_error

    def listAllVolumes(self, flags=0):
        self.conn.calls.append('listAllVolumes:%s' % self._name)
        if not self.active:
            raise libvirt_error('storage pool is not active', libvirt.VIR_ERR_OPERATION_INVALID)
        return list(self.vols)


class Secret(FakeSecretRef):
    def __init__(self, uuid, usage_type, usage_id, xml):
        super().__init__(uuid, usage_type, usage_id)
        self.xml = xml

    def XMLDesc(self, flags=0):
        return self.xml

    def value(self, flags=0):  # pragma: no cover - the facts must not call it
        raise AssertionError('a secret value was read')


class Conn:
    def __init__(self):
        self.calls = []
        self.pools = []
        self.domains = []
        self.secrets = []
        self.caps = CAPS_XML
        self.caps_error = None

    def pool(self, name, **kwargs):
        pool = Pool(self, name, **kwargs)
        self.pools.append(pool)
        return pool

    def listAllStoragePools(self, flags=0):
        return list(self.pools)

    def listAllDomains(self, flags=0):
        self.calls.append('listAllDomains')
        return list(self.domains)

    def listAllSecrets(self, flags=0):
        return list(self.secrets)

    def getStoragePoolCapabilities(self, flags=0):
        if self.caps_error is not None:
            raise self.caps_error
        return self.caps


class Domain:
    def __init__(self, name, xml):
        self._name, self.xml = name, xml

    def name(self):
        return self._name

    def isActive(self):
        return 0

    def XMLDesc(self, flags=0):
        return self.xml


def params(**given):
    values = {'gather': ['pools'], 'pools': None, 'query': None, 'refresh': True, 'uri': 'qemu:///system'}
    values.update(given)
    return values


@pytest.fixture
def conn():
    conn = Conn()
    images = conn.pool('images')
    path = '%s/images' % DIR_PATH
    for xml in (volume_xml('base.qcow2', 10 * GIB, fmt='qcow2', path=path + '/base.qcow2', allocation=GIB),
                volume_xml('vm1.qcow2', 20 * GIB, fmt='qcow2', path=path + '/vm1.qcow2', allocation=MIB,
                           backing=path + '/base.qcow2'),
                volume_xml('spare.raw', GIB, path=path + '/spare.raw')):
        images.vols.append(Vol(conn, xml))
    conn.pool('offline', active=False, autostart=False)
    conn.domains.append(Domain('vm1', domain_xml('vm1', {'file': path + '/vm1.qcow2'})))
    conn.domains.append(Domain('vm2', domain_xml('vm2', {'pool': 'images', 'volume': 'spare.raw'})))
    return conn


def test_usage_percent():
    assert factsu.usage_percent(1000, 250) == 25.0
    assert factsu.usage_percent(3, 1) == 33.3
    assert factsu.usage_percent(0, 0) is None
    assert factsu.usage_percent(None, 5) is None
    assert isinstance(factsu.usage_percent(4, 4), float)


def test_pools_only_by_default(conn):
    result = factsu.FactsManager(conn, params()).run()
    assert result['changed'] is False and 'warnings' not in result
    facts = result['ansible_facts']['libvirt_storage']
    assert list(facts) == ['pools']
    images = facts['pools']['images']
    assert images == {
        'name': 'images', 'uuid': 'uuid-of-images', 'type': 'dir', 'state': 'active', 'autostart': True,
        'persistent': True, 'capacity': 100 * GIB, 'allocation': 25 * GIB, 'available': 75 * GIB,
        'usage_percent': 25.0,
        'target': {'path': DIR_PATH + '/images', 'permissions': {'mode': '0711', 'owner': '0', 'group': '0'}},
        'source': {}, 'volumes': {}}
    assert facts['pools']['offline']['state'] == 'inactive' and facts['pools']['offline']['usage_percent'] is None
    assert not any(call.startswith(('vol.', 'listAllVolumes', 'listAllDomains')) for call in conn.calls)


def test_volumes_parsed_from_xml_only(conn):
    facts = factsu.FactsManager(conn, params(gather=['volumes'])).facts()
    volumes = facts['pools']['images']['volumes']
    path = DIR_PATH + '/images'
    assert list(volumes) == ['base.qcow2', 'spare.raw', 'vm1.qcow2']
    assert volumes['vm1.qcow2'] == {
        'name': 'vm1.qcow2', 'key': path + '/vm1.qcow2', 'path': path + '/vm1.qcow2', 'type': 'file',
        'format': 'qcow2', 'capacity': 20 * GIB, 'allocation': MIB,
        'backing_store': {'path': path + '/base.qcow2', 'format': 'qcow2'}, 'used_by': ['vm1']}
    assert volumes['base.qcow2']['backing_store'] is None and volumes['base.qcow2']['used_by'] == []
    assert volumes['spare.raw']['used_by'] == ['vm2'], 'a <source pool= volume=> disk counts'
    assert facts['pools']['offline']['volumes'] == {}
    assert 'listAllVolumes:offline' not in conn.calls, 'an inactive pool is not asked for volumes'
    assert conn.calls.count('vol.XMLDesc') == 3 and 'vol.info' not in conn.calls
    assert conn.calls.count('listAllDomains') == 1


def test_many_volumes_go_through_the_threads(conn):
    images = conn.pools[0]
    images.vols = [Vol(conn, volume_xml('v%04d.raw' % i, MIB * (i + 1))) for i in range(523)]
    gone = libvirt_error('Storage volume not found', libvirt.VIR_ERR_NO_STORAGE_VOL)
    images.vols.append(Vol(conn, None, error=gone))
    volumes = factsu.FactsManager(conn, params(gather=['volumes'], pools=['images'])).facts()['pools']['images']['volumes']
    assert len(volumes) == 523, 'a volume deleted meanwhile is left out'
    assert list(volumes) == sorted(volumes)
    assert volumes['v0522.raw']['capacity'] == 523 * MIB


def test_unreadable_pool_is_a_warning(conn):
    nfs = conn.pool('nfs', type_name='netfs', refresh_error=libvirt_error(
        'cannot open directory /mnt/nfs: Stale file handle', libvirt.VIR_ERR_INTERNAL_ERROR))
    nfs.vols.append(Vol(conn, volume_xml('a.raw', MIB)))
    result = factsu.FactsManager(conn, params(gather=['volumes'])).run()
    assert result['changed'] is False
    assert len(result['warnings']) == 1
    assert 'nfs' in result['warnings'][0] and 'Stale file handle' in result['warnings'][0]
    pools = result['ansible_facts']['libvirt_storage']['pools']
    assert pools['nfs']['volumes'] == {} and len(pools['images']['volumes']) == 3


def test_volume_error_midway_is_a_pool_warning(conn):
    images = conn.pools[0]
    images.vols.append(Vol(conn, None, error=libvirt_error('cannot stat file: Input/output error',
                                                           libvirt.VIR_ERR_INTERNAL_ERROR)))
    manager = factsu.FactsManager(conn, params(gather=['volumes']))
    facts = manager.facts()
    assert facts['pools']['images']['volumes'] == {}
    assert 'images' in manager.warnings[0] and 'Input/output error' in manager.warnings[0]


def test_pools_filter_and_unknown_name(conn):
    result = factsu.FactsManager(conn, params(pools=['offline', 'nope'])).run()
    assert list(result['ansible_facts']['libvirt_storage']['pools']) == ['offline']
    assert result['warnings'] == ['pools: no storage pool named nope on this host; pools here: images, offline']


def test_source_without_secret_values():
    conn = Conn()
    conn.pool('ceph', type_name='rbd', source=RBD_SOURCE)
    pool = factsu.FactsManager(conn, params()).facts()['pools']['ceph']
    assert pool['source'] == {'hosts': ['10.0.0.1:6789', '10.0.0.2'], 'name': 'rbdpool',
                              'auth': {'type': 'ceph', 'username': 'libvirt',
                                       'uuid': '0d4f7c2e-5a1b-4c3d-9e8f-7a6b5c4d3e2f'}}


def test_secrets_metadata_only(conn):
    conn.secrets.append(Secret('u2', 3, 'iqn.example:target', "<secret ephemeral='no' private='no'>"
                               "<usage type='iscsi'><target>iqn.example:target</target></usage></secret>"))
    conn.secrets.append(Secret('u1', 2, 'client.libvirt secret', "<secret ephemeral='yes' private='yes'>"
                               "<description>Ceph key</description><usage type='ceph'><name>client.libvirt secret"
                               "</name></usage></secret>"))
    facts = factsu.FactsManager(conn, params(gather=['secrets'])).facts()
    assert list(facts) == ['secrets']
    assert facts['secrets'] == [
        {'uuid': 'u1', 'usage': 'ceph', 'usage_id': 'client.libvirt secret', 'description': 'Ceph key',
         'private': True, 'ephemeral': True},
        {'uuid': 'u2', 'usage': 'iscsi', 'usage_id': 'iqn.example:target', 'description': None,
         'private': False, 'ephemeral': False},
    ]


def test_capabilities_merge_libvirt_and_backends():
    caps = factsu.parse_capabilities(CAPS_XML)
    assert caps['dir']['supported'] is True and caps['dir']['pool'] is None
    assert caps['dir']['volume'] == {'default_format': 'raw', 'formats': ['none', 'raw', 'qcow2']}
    assert caps['dir']['operations']['volume_resize'] is True and caps['dir']['operations']['build'] is True
    assert caps['fs']['pool'] == {'default_format': 'auto', 'formats': ['auto', 'ext4']}
    assert caps['sheepdog'] == {'supported': False, 'pool': None, 'volume': None, 'operations': None}
    # types the collection manages and this libvirt did not list
    assert caps['iscsi']['supported'] is False and caps['iscsi']['operations']['volume_create'] is False
    assert caps['logical']['operations']['volume_resize'] is False
    assert set(caps['dir']['operations']) == {'build', 'delete', 'volume_create', 'volume_delete', 'volume_resize',
                                              'volume_wipe', 'volume_upload', 'volume_clone', 'volume_backing'}


def test_capabilities_unavailable_is_a_warning(conn):
    conn.caps_error = libvirt_error('this function is not supported', libvirt.VIR_ERR_NO_SUPPORT)
    manager = factsu.FactsManager(conn, params(gather=['capabilities']))
    caps = manager.facts()['capabilities']
    assert caps['dir']['supported'] is False and caps['dir']['operations']['build'] is True
    assert 'not supported' in manager.warnings[0]


def test_query(conn):
    result = factsu.FactsManager(conn, params(gather=['volumes'],
                                              query='pools.* | [?usage_percent > `20`].name')).run()
    assert result['query_result'] == ['images']
    used = factsu.FactsManager(conn, params(
        gather=['volumes'], query='values(pools)[].values(volumes)[] | [?length(used_by) == `0`].name')).run()
    assert used['query_result'] == ['base.qcow2']


@pytest.mark.parametrize('expression', ['pools.*.[name', 'pools[?', '', '   '])
def test_bad_query_is_refused_before_libvirt_is_asked(expression):
    conn = Conn()
    with pytest.raises(ValidationError) as info:
        factsu.FactsManager(conn, params(query=expression))
    assert info.value.option == 'query' and 'query' in info.value.msg
    assert conn.calls == []


def test_query_type_error_names_query(conn):
    with pytest.raises(ValidationError) as info:
        factsu.FactsManager(conn, params(query='abs(pools)')).run()
    assert info.value.option == 'query' and 'abs(pools)' in info.value.msg


def test_bad_gather_lists_accepted_values():
    with pytest.raises(ValidationError) as info:
        factsu.FactsManager(Conn(), params(gather=['pools', 'disks', 'luns']))
    msg = info.value.msg
    assert info.value.option == 'gather'
    assert "'disks'" in msg and "'luns'" in msg
    for accepted in factsu.GATHER:
        assert accepted in msg


def test_volumes_imply_pools(conn):
    facts = factsu.FactsManager(conn, params(gather=['volumes', 'capabilities'])).facts()
    assert set(facts) == {'pools', 'capabilities'}


def test_refresh_only_when_asked(conn):
    factsu.FactsManager(conn, params(gather=['volumes'], refresh=None)).facts()
    assert 'refresh:images' not in conn.calls
    del conn.calls[:]
    factsu.FactsManager(conn, params(gather=['volumes'], refresh=False)).facts()
    assert 'refresh:images' not in conn.calls
    del conn.calls[:]
    factsu.FactsManager(conn, params(gather=['volumes'], refresh=True)).facts()
    assert conn.calls.index('refresh:images') < conn.calls.index('listAllVolumes:images')


def test_refresh_measures_the_pool_again_without_volumes(conn):
    images = conn.pools[0]
    real_refresh = images.refresh

    def refresh(flags=0):
        real_refresh(flags)
        images.info_tuple = (2, 100 * GIB, 40 * GIB, 60 * GIB)  # a file copied in outside libvirt
    images.refresh = refresh
    pool = factsu.FactsManager(conn, params(gather=['pools'], pools=['images'], refresh=True)).facts()['pools']['images']
    assert conn.calls == ['refresh:images']
    assert (pool['allocation'], pool['available'], pool['usage_percent']) == (40 * GIB, 60 * GIB, 40.0)
    assert pool['volumes'] == {}


def test_inactive_pool_is_not_refreshed(conn):
    conn.pool('off', active=False)
    factsu.FactsManager(conn, params(gather=['volumes'], pools=['off'], refresh=True)).facts()
    assert conn.calls == []


def test_volume_xml_with_declaration_is_parsed_alone(conn):
    images = conn.pools[0]
    images.vols.append(Vol(conn, "<?xml version='1.0' encoding='UTF-8'?>\n" + volume_xml('decl.raw', 2 * MIB)))
    volumes = factsu.FactsManager(conn, params(gather=['volumes'])).facts()['pools']['images']['volumes']
    assert volumes['decl.raw']['capacity'] == 2 * MIB and len(volumes) == 4
