"""Unit tests of the facts manager with fakes: parsing, query, capabilities, warnings."""

import libvirt
import pytest

from fake_libvirt import DIR_PATH, GIB, MIB, FakeConn, libvirt_error, volume_xml
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


def add_pool(conn, name, type_name='dir', active=True, capacity=100 * GIB, allocation=25 * GIB,
             available=75 * GIB, source='', autostart=True, persistent=True, refresh_error=None):
    """A pool as the facts see it: its sizes in the XML and (when active) in info(), as libvirt reports them."""
    sizes = (capacity, allocation, available) if active else (0, 0, 0)
    xml = POOL_XML % {'type': type_name, 'name': name, 'uuid': 'uuid-of-%s' % name,
                      'capacity': sizes[0], 'allocation': sizes[1], 'available': sizes[2], 'source': source,
                      'path': '%s/%s' % (DIR_PATH, name)}
    if refresh_error is not None:
        conn.fail_on[('refresh', name)] = refresh_error
    return conn.add_pool(xml, active=active, autostart=autostart, persistent=persistent)


def new_conn():
    conn = FakeConn()
    conn.caps = CAPS_XML
    return conn


def unreadable(conn, pool, name, error):
    """A volume of ``pool`` whose XMLDesc() fails with ``error``."""
    pool.add(volume_xml(name, MIB, path='%s/%s' % (pool.target_path(), name)))
    conn.fail_on[('vol.XMLDesc', name)] = error


def params(**given):
    values = {'gather': ['pools'], 'pools': None, 'query': None, 'refresh': True, 'uri': 'qemu:///system'}
    values.update(given)
    return values


@pytest.fixture
def conn():
    conn = new_conn()
    images = add_pool(conn, 'images')
    path = '%s/images' % DIR_PATH
    for xml in (volume_xml('base.qcow2', 10 * GIB, fmt='qcow2', path=path + '/base.qcow2', allocation=GIB),
                volume_xml('vm1.qcow2', 20 * GIB, fmt='qcow2', path=path + '/vm1.qcow2', allocation=MIB,
                           backing=path + '/base.qcow2'),
                volume_xml('spare.raw', GIB, path=path + '/spare.raw')):
        images.add(xml)
    add_pool(conn, 'offline', active=False, autostart=False)
    conn.add_domain('vm1', {'file': path + '/vm1.qcow2'})
    conn.add_domain('vm2', {'pool': 'images', 'volume': 'spare.raw'})
    return conn


def test_pools_only_by_default(conn):
    result = factsu.FactsManager(conn, params()).run()
    assert result['changed'] is False and 'warnings' not in result
    facts = result['ansible_facts']['libvirt_storage']
    assert list(facts) == ['pools']
    images = facts['pools']['images']
    assert images == {
        'name': 'images', 'uuid': 'uuid-of-images', 'type': 'dir', 'state': 'active', 'active': True,
        'autostart': True, 'autostart_not_running': False,
        'persistent': True, 'capacity': 100 * GIB, 'allocation': 25 * GIB, 'available': 75 * GIB,
        'usage_percent': 25.0, 'provisioned': None, 'overcommit_ratio': None, 'thin_provisioned': True,
        'target': {'path': DIR_PATH + '/images', 'permissions': {'mode': '0711', 'owner': '0', 'group': '0'}},
        'source': {}, 'volumes': {}}
    assert facts['pools']['offline']['state'] == 'inactive' and facts['pools']['offline']['usage_percent'] is None
    assert not any(method.startswith(('vol.', 'listAllVolumes', 'listAllDomains')) for method in conn.methods())
    assert conn.mutations() == ['refresh'], 'refresh=true refreshes the active pool only'


def test_volumes_parsed_from_xml_only(conn):
    facts = factsu.FactsManager(conn, params(gather=['volumes'])).facts()
    volumes = facts['pools']['images']['volumes']
    path = DIR_PATH + '/images'
    assert list(volumes) == ['base.qcow2', 'spare.raw', 'vm1.qcow2']
    assert volumes['vm1.qcow2'] == {
        'name': 'vm1.qcow2', 'pool': 'images', 'state': 'present', 'key': path + '/vm1.qcow2',
        'path': path + '/vm1.qcow2', 'type': 'file', 'format': 'qcow2', 'capacity': 20 * GIB, 'allocation': MIB,
        'physical': None, 'backing_store': {'path': path + '/base.qcow2', 'format': 'qcow2'},
        'mode': '0600', 'owner': '0', 'group': '0', 'used_by': ['vm1']}
    assert volumes['base.qcow2']['backing_store'] is None and volumes['base.qcow2']['used_by'] == []
    assert volumes['spare.raw']['used_by'] == ['vm2'], 'a <source pool= volume=> disk counts'
    assert facts['pools']['offline']['volumes'] == {}
    assert conn.calls_of('listAllVolumes') == [('images',)], 'an inactive pool is not asked for volumes'
    assert conn.methods().count('vol.XMLDesc') == 3 and 'vol.info' not in conn.methods()
    assert conn.methods().count('listAllDomains') == 1


def test_many_volumes_go_through_the_threads(conn):
    images = conn.pools['images']
    images.volumes = {}
    for i in range(523):
        images.add(volume_xml('v%04d.raw' % i, MIB * (i + 1)))
    unreadable(conn, images, 'gone.raw', libvirt_error('Storage volume not found', libvirt.VIR_ERR_NO_STORAGE_VOL))
    volumes = factsu.FactsManager(conn, params(gather=['volumes'], pools=['images'])).facts()['pools']['images']['volumes']
    assert len(volumes) == 523, 'a volume deleted meanwhile is left out'
    assert list(volumes) == sorted(volumes)
    assert volumes['v0522.raw']['capacity'] == 523 * MIB


def test_unreadable_pool_is_a_warning(conn):
    nfs = add_pool(conn, 'nfs', type_name='netfs', refresh_error=libvirt_error(
        'cannot open directory /mnt/nfs: Stale file handle', libvirt.VIR_ERR_INTERNAL_ERROR))
    nfs.add(volume_xml('a.raw', MIB))
    result = factsu.FactsManager(conn, params(gather=['volumes'])).run()
    assert result['changed'] is False
    assert len(result['warnings']) == 1
    assert 'nfs' in result['warnings'][0] and 'Stale file handle' in result['warnings'][0]
    pools = result['ansible_facts']['libvirt_storage']['pools']
    assert pools['nfs']['volumes'] == {} and len(pools['images']['volumes']) == 3


def test_volume_error_midway_is_a_pool_warning(conn):
    error = libvirt_error('cannot stat file: Input/output error', libvirt.VIR_ERR_INTERNAL_ERROR)
    unreadable(conn, conn.pools['images'], 'bad.raw', error)
    manager = factsu.FactsManager(conn, params(gather=['volumes']))
    facts = manager.facts()
    assert facts['pools']['images']['volumes'] == {}
    assert 'images' in manager.warnings[0] and 'Input/output error' in manager.warnings[0]


def test_pools_filter_and_unknown_name(conn):
    result = factsu.FactsManager(conn, params(pools=['offline', 'nope'])).run()
    assert list(result['ansible_facts']['libvirt_storage']['pools']) == ['offline']
    assert result['warnings'] == ['pools: no storage pool named nope on this host; pools here: images, offline']


def test_source_without_secret_values():
    conn = new_conn()
    add_pool(conn, 'ceph', type_name='rbd', source=RBD_SOURCE)
    pool = factsu.FactsManager(conn, params()).facts()['pools']['ceph']
    assert pool['source'] == {'hosts': ['10.0.0.1:6789', '10.0.0.2'], 'name': 'rbdpool',
                              'auth': {'type': 'ceph', 'username': 'libvirt',
                                       'uuid': '0d4f7c2e-5a1b-4c3d-9e8f-7a6b5c4d3e2f'}}


def test_secrets_metadata_only(conn):
    conn.add_secret('iscsi', 'iqn.example:target', uuid='u2', value=b'pw')
    conn.add_secret('ceph', 'client.libvirt secret', uuid='u1', private=True, ephemeral=True, description='Ceph key')
    facts = factsu.FactsManager(conn, params(gather=['secrets'])).facts()
    assert 'value' not in conn.methods(), 'the facts never read a secret value'
    assert list(facts) == ['secrets']
    assert facts['secrets'] == [
        {'state': 'present', 'uuid': 'u1', 'usage': 'ceph', 'usage_id': 'client.libvirt secret',
         'description': 'Ceph key', 'private': True, 'ephemeral': True},
        {'state': 'present', 'uuid': 'u2', 'usage': 'iscsi', 'usage_id': 'iqn.example:target', 'description': None,
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
    conn.fail_on['getStoragePoolCapabilities'] = libvirt_error('this function is not supported',
                                                               libvirt.VIR_ERR_NO_SUPPORT)
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
    conn = new_conn()
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
        factsu.FactsManager(new_conn(), params(gather=['pools', 'disks', 'luns']))
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
    assert conn.mutations() == []
    del conn.calls[:]
    factsu.FactsManager(conn, params(gather=['volumes'], refresh=False)).facts()
    assert conn.mutations() == []
    del conn.calls[:]
    factsu.FactsManager(conn, params(gather=['volumes'], refresh=True)).facts()
    assert conn.mutations() == ['refresh'] and conn.calls_of('refresh') == [('images', 0)]
    assert conn.methods().index('refresh') < conn.methods().index('listAllVolumes')


def test_refresh_measures_the_pool_again_without_volumes(conn):
    images = conn.pools['images']
    real_refresh = images.refresh

    def refresh(flags=0):
        real_refresh(flags)
        # a file copied in outside libvirt
        images.xml = images.xml.replace(str(25 * GIB), str(40 * GIB)).replace(str(75 * GIB), str(60 * GIB))
    images.refresh = refresh
    pool = factsu.FactsManager(conn, params(gather=['pools'], pools=['images'], refresh=True)).facts()['pools']['images']
    assert conn.mutations() == ['refresh'] and 'listAllVolumes' not in conn.methods()
    assert (pool['allocation'], pool['available'], pool['usage_percent']) == (40 * GIB, 60 * GIB, 40.0)
    assert pool['volumes'] == {}


def test_inactive_pool_is_not_refreshed(conn):
    add_pool(conn, 'off', active=False)
    factsu.FactsManager(conn, params(gather=['volumes'], pools=['off'], refresh=True)).facts()
    assert conn.mutations() == [] and 'listAllVolumes' not in conn.methods()


def test_volume_xml_with_declaration_is_parsed_alone(conn):
    conn.pools['images'].add("<?xml version='1.0' encoding='UTF-8'?>\n" + volume_xml('decl.raw', 2 * MIB))
    volumes = factsu.FactsManager(conn, params(gather=['volumes'])).facts()['pools']['images']['volumes']
    assert volumes['decl.raw']['capacity'] == 2 * MIB and len(volumes) == 4
