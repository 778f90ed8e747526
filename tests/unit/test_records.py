"""One record per libvirt object: the builders, the figures they compute, and the keys each module's
RETURN documents, held against what storage_pool, storage_volume, storage_secret and storage_facts return."""

import importlib
import re

import pytest
import yaml

from fake_libvirt import DIR_PATH, GIB, MIB, FakeConn, dir_pool_xml, pool_params, secret_xml, volume_params, volume_xml
from ansible_collections.kvmops.storage.plugins.module_utils import engine
from ansible_collections.kvmops.storage.plugins.module_utils import facts as factsu
from ansible_collections.kvmops.storage.plugins.module_utils import records
from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.backends import BACKENDS
from ansible_collections.kvmops.storage.plugins.module_utils.pool import PoolManager
from ansible_collections.kvmops.storage.plugins.module_utils.secret import SecretManager, secret_argument_spec
from ansible_collections.kvmops.storage.plugins.module_utils.volume import VolumeManager

POOL = 'images'
PATH = DIR_PATH + '/images'
# what one side adds to the shared record
POOL_MODULE_EXTRA = {'xml'}
POOL_FACTS_EXTRA = {'volumes'}
VOLUME_FACTS_EXTRA = {'used_by'}
SECRET_MODULE_EXTRA = {'value_set', 'xml'}


def returned(module):
    """The RETURN block of a module, parsed."""
    return yaml.safe_load(importlib.import_module(
        'ansible_collections.kvmops.storage.plugins.modules.%s' % module).RETURN)


def facts_return():
    return returned('storage_facts')['ansible_facts']['contains']['libvirt_storage']['contains']


def mentioned(description):
    """The names written as C(name) in a description (a list of paragraphs)."""
    return set(re.findall(r'C\(([a-z_]+)\)', ' '.join(description)))


@pytest.fixture
def conn():
    conn = FakeConn()
    pool = conn.add_pool(dir_pool_xml(name=POOL, path=PATH, mode='0711'), active=True, autostart=True)
    pool.add(volume_xml('vm1.qcow2', 20 * GIB, 'qcow2', path=PATH + '/vm1.qcow2', allocation=MIB,
                        physical=MIB + 196608))
    pool.add(volume_xml('data.raw', 10 * GIB, path=PATH + '/data.raw', allocation=GIB, physical=10 * GIB))
    conn.add_secret('ceph', 'client.libvirt secret', uuid='0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01',
                    private=True, description='Ceph key')
    return conn


def facts_of(conn, **given):
    values = {'gather': ['volumes', 'secrets'], 'pools': None, 'query': None, 'refresh': False,
              'uri': 'qemu:///system'}
    values.update(given)
    return factsu.FactsManager(conn, values).run()


# ---- the keys RETURN documents ---------------------------------------------------------------------------

def test_storage_pool_return_documents_the_pool_record(conn):
    documented = set(returned('storage_pool')['pool']['contains'])
    assert documented == set(records.POOL_KEYS) | POOL_MODULE_EXTRA
    result = engine.reconcile(PoolManager(conn, pool_params(name=POOL, state='present'), False), True, False)
    assert set(result['pool']) == documented


def test_storage_volume_return_documents_the_volume_record(conn):
    documented = set(returned('storage_volume')['volume']['contains'])
    assert documented == set(records.VOLUME_KEYS)
    result = engine.reconcile(VolumeManager(conn, volume_params(pool=POOL, name='vm1.qcow2'), False), True, False)
    assert set(result['volume']) == documented


def test_storage_secret_return_documents_the_secret_record(conn):
    documented = set(returned('storage_secret')['secret']['contains'])
    assert documented == set(records.SECRET_KEYS) | SECRET_MODULE_EXTRA
    params = dict((key, spec.get('default')) for key, spec in secret_argument_spec().items())
    params.update(uri='qemu:///system', usage='ceph', usage_id='client.libvirt secret', description='Ceph key',
                  private=True)
    result = engine.reconcile(SecretManager(conn, params), True, False)
    assert set(result['secret']) == documented


def test_storage_facts_return_documents_the_same_records(conn):
    doc = facts_return()
    pool_sample = doc['pools']['sample']['images']
    volume_sample = pool_sample['volumes']['vm1.qcow2']
    assert set(pool_sample) == set(records.POOL_KEYS) | POOL_FACTS_EXTRA
    assert set(volume_sample) == set(records.VOLUME_KEYS) | VOLUME_FACTS_EXTRA
    assert set(doc['secrets']['sample'][0]) == set(records.SECRET_KEYS)
    # every key is named in the descriptions too, not only in the samples
    assert mentioned(doc['pools']['description']) >= set(records.POOL_KEYS) | POOL_FACTS_EXTRA | set(
        records.VOLUME_KEYS) | VOLUME_FACTS_EXTRA
    assert mentioned(doc['secrets']['description']) >= set(records.SECRET_KEYS)
    facts = facts_of(conn)['ansible_facts']['libvirt_storage']
    assert set(facts['pools'][POOL]) == set(pool_sample)
    assert set(facts['pools'][POOL]['volumes']['vm1.qcow2']) == set(volume_sample)
    assert set(facts['secrets'][0]) == set(records.SECRET_KEYS)


def test_modules_and_facts_give_one_record(conn):
    """What a module returns is the facts' record of the same object, but for the keys only one side has."""
    facts = facts_of(conn)['ansible_facts']['libvirt_storage']
    pool = engine.reconcile(PoolManager(conn, pool_params(name=POOL, state='present'), False), True, False)['pool']
    pool_facts = dict(facts['pools'][POOL], provisioned=None, overcommit_ratio=None)  # counted from the volumes
    assert dict((k, v) for k, v in pool.items() if k != 'xml') == dict(
        (k, v) for k, v in pool_facts.items() if k != 'volumes')
    volume = engine.reconcile(VolumeManager(conn, volume_params(pool=POOL, name='vm1.qcow2'), False),
                              True, False)['volume']
    vol_facts = dict(facts['pools'][POOL]['volumes']['vm1.qcow2'])
    vol_facts.pop('used_by')
    assert volume == vol_facts
    params = dict((key, spec.get('default')) for key, spec in secret_argument_spec().items())
    params.update(uri='qemu:///system', uuid='0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01')
    secret = engine.reconcile(SecretManager(conn, params), True, False)['secret']
    assert dict((k, v) for k, v in secret.items() if k not in SECRET_MODULE_EXTRA) == facts['secrets'][0]


# ---- the builders -----------------------------------------------------------------------------------------

def test_pool_record_target_is_path_and_permissions():
    root = xmlu.parse(dir_pool_xml(name=POOL, path=PATH, mode='0711'))
    record = records.pool_record(root, (2, 100, 40, 60), True, True, True)
    assert record['target'] == {'path': PATH, 'permissions': {'mode': '0711', 'owner': '0', 'group': '0'}}
    assert record['usage_percent'] == 40.0 and record['thin_provisioned'] is True
    assert record['provisioned'] is None and record['overcommit_ratio'] is None
    assert tuple(record) == records.POOL_KEYS


def test_pool_record_flags_autostart_not_running():
    root = xmlu.parse(dir_pool_xml(name=POOL, path=PATH))
    stopped = records.pool_record(root, (0, 0, 0, 0), False, True, True)
    assert stopped['state'] == 'inactive' and stopped['autostart_not_running'] is True
    assert records.pool_record(root, (2, 9, 1, 8), True, True, True)['autostart_not_running'] is False
    assert records.pool_record(root, (0, 0, 0, 0), False, True, False)['autostart_not_running'] is False
    # a transient pool has no autostart, whatever libvirt answered
    transient = records.pool_record(root, (0, 0, 0, 0), False, False, True)
    assert transient['autostart'] is False and transient['autostart_not_running'] is False


def test_add_provisioned_and_overcommit_ratio():
    root = xmlu.parse(dir_pool_xml(name=POOL, path=PATH))
    record = records.pool_record(root, (2, 10 * GIB, GIB, 9 * GIB), True, True, False)
    records.add_provisioned(record, [{'capacity': 20 * GIB}, {'capacity': 5 * GIB}, {'capacity': None}])
    assert record['provisioned'] == 25 * GIB and record['overcommit_ratio'] == 2.5
    records.add_provisioned(record, [])
    assert record['provisioned'] == 0 and record['overcommit_ratio'] == 0.0
    assert records.overcommit_ratio(3, 7) == 0.429
    assert records.overcommit_ratio(5, 0) is None and records.overcommit_ratio(None, 10) is None


def test_usage_percent():
    assert records.usage_percent(1000, 250) == 25.0
    assert records.usage_percent(3, 1) == 33.3
    assert records.usage_percent(0, 0) is None
    assert records.usage_percent(None, 5) is None
    assert isinstance(records.usage_percent(4, 4), float)


def test_thin_provisioned_is_declared_by_each_backend():
    thin = dict((name, records.thin_provisioned(name)) for name in BACKENDS)
    assert thin == {'dir': True, 'fs': True, 'netfs': True, 'logical': False, 'disk': False, 'iscsi': False,
                    'iscsi-direct': False, 'scsi': False, 'mpath': False, 'rbd': True, 'gluster': True,
                    'zfs': False, 'vstorage': True}
    assert records.thin_provisioned('sheepdog') is None and records.thin_provisioned(None) is None


def test_volume_record_physical_from_the_xml_only():
    with_physical = xmlu.parse(volume_xml('a.qcow2', 8 * GIB, 'qcow2', allocation=MIB, physical=MIB + 4096))
    record = records.volume_record(with_physical, POOL)
    assert (record['capacity'], record['allocation'], record['physical']) == (8 * GIB, MIB, MIB + 4096)
    assert tuple(record) == records.VOLUME_KEYS
    assert record['pool'] == POOL and record['state'] == 'present'
    # libvirt writes <physical> only when it knows a size; none is null, not a guess
    assert records.volume_record(xmlu.parse(volume_xml('lv', GIB, None, vol_type='block')), 'vg')['physical'] is None


def test_secret_record_reads_the_definition():
    root = xmlu.parse(secret_xml('iscsi', 'iqn.2026-01.example:t1', description='  CHAP  ',
                                 uuid='0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01'))
    assert records.secret_record(root) == {
        'state': 'present', 'uuid': '0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01', 'usage': 'iscsi',
        'usage_id': 'iqn.2026-01.example:t1', 'description': '  CHAP  ', 'private': False, 'ephemeral': False}
    bare = records.secret_record(xmlu.parse(secret_xml(private=True)), uuid='u1')
    assert bare['usage'] == 'none' and bare['usage_id'] is None and bare['description'] is None
    assert bare['uuid'] == 'u1' and bare['private'] is True


# ---- the figures in storage_facts -------------------------------------------------------------------------

def test_facts_count_provisioned_from_the_volumes_read(conn):
    result = facts_of(conn)
    pool = result['ansible_facts']['libvirt_storage']['pools'][POOL]
    capacity = pool['capacity']
    assert pool['provisioned'] == 30 * GIB
    assert pool['overcommit_ratio'] == round(30.0 * GIB / capacity, 3)
    vm1 = pool['volumes']['vm1.qcow2']
    assert vm1['physical'] == MIB + 196608 and pool['volumes']['data.raw']['physical'] == 10 * GIB
    # the volumes cost one call each, as before: physical comes with the XML
    assert conn.methods().count('vol.XMLDesc') == 2
    assert not [m for m in conn.methods() if m.startswith('vol.') and m != 'vol.XMLDesc']


def test_facts_without_volumes_leave_provisioned_null(conn):
    pool = facts_of(conn, gather=['pools'])['ansible_facts']['libvirt_storage']['pools'][POOL]
    assert pool['provisioned'] is None and pool['overcommit_ratio'] is None
    assert not [m for m in conn.methods() if m.startswith('vol.') or m == 'listAllVolumes']


def test_facts_warn_of_an_autostart_pool_not_running(conn):
    conn.add_pool(dir_pool_xml(name='stopped', path=DIR_PATH + '/stopped', uuid='u-stopped'), active=False, autostart=True)
    conn.add_pool(dir_pool_xml(name='idle', path=DIR_PATH + '/idle', uuid='u-idle'), active=False, autostart=False)
    result = facts_of(conn)
    pools = result['ansible_facts']['libvirt_storage']['pools']
    assert pools['stopped']['autostart_not_running'] is True
    assert pools['stopped']['provisioned'] is None, 'the volumes of an inactive pool are not read'
    assert pools['idle']['autostart_not_running'] is False and pools[POOL]['autostart_not_running'] is False
    assert [w for w in result['warnings'] if 'autostart' in w] == [
        'pool stopped has autostart set but is not running (state inactive): libvirtd did not start it, or it '
        'was stopped since']
