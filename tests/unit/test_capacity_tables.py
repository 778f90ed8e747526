"""The capacity report's tables and CSV (module_utils/capacity_tables.py and the capacity_tables and
capacity_csv filters): order, backing stores, unused volumes, the caps, the CSV quoting, one read of
each host's facts."""

import csv
import io

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.kvmops.storage.plugins.filter import capacity as filters
from ansible_collections.kvmops.storage.plugins.module_utils import capacity_history as history
from ansible_collections.kvmops.storage.plugins.module_utils import capacity_tables as tables

GIB = 1024 ** 3
TIME = '2026-11-01T00:00:00Z'


def vol(path, capacity, allocation, used_by=(), backing=None, fmt='qcow2'):
    return {'path': path, 'format': fmt, 'capacity': capacity, 'allocation': allocation,
            'physical': allocation + 1 if fmt == 'qcow2' else capacity, 'used_by': list(used_by),
            'backing_store': {'path': backing, 'format': 'qcow2'} if backing else None}


def pool(name, volumes, state='active', usage=50.0):
    return {'name': name, 'type': 'dir', 'state': state, 'capacity': 100 * GIB if state == 'active' else 0,
            'allocation': 50 * GIB if state == 'active' else 0, 'available': 50 * GIB if state == 'active' else 0,
            'usage_percent': usage if state == 'active' else None, 'provisioned': 10 * GIB,
            'overcommit_ratio': 0.1 if state == 'active' else None, 'volumes': volumes}


def fleet():
    return {
        'hv2': {'ansible_facts': {'libvirt_storage': {'pools': {
            'images': pool('images', {'golden.qcow2': vol('/i/golden.qcow2', 10 * GIB, 2 * GIB),
                                      'big.raw': vol('/i/big.raw', 40 * GIB, 1 * GIB, fmt='raw')}, usage=85.0),
            'Clones': pool('Clones', {'web.qcow2': vol('/c/web.qcow2', 10 * GIB, 3 * GIB, ['web'], '/i/golden.qcow2'),
                                      '=cmd|x': vol('/c/=cmd|x', 1 * GIB, 1 * GIB)}),
            'off': pool('off', {}, state='inactive')}}}},
        'HV1': {'ansible_facts': {'libvirt_storage': {'pools': {
            'data': pool('data', {'a "quoted" name': vol('/d/a', 5 * GIB, 4 * GIB, ['db1', 'db2'])})}}}},
        'hv3': {},
    }


def test_tables_order_backing_unused_and_caps():
    found = filters.capacity_tables(fleet(), ['hv2', 'HV1', 'hv3'], 80, 2, 1)
    assert [(p['host'], p['name']) for p in found['pools']] == [
        ('HV1', 'data'), ('hv2', 'Clones'), ('hv2', 'images'), ('hv2', 'off')], 'by name, case-insensitively'
    assert [p['over'] for p in found['pools']] == [False, False, True, False]
    assert found['pools'][3]['sort_usage'] == -1 and found['pools'][2]['volume_count'] == 2
    assert all('volumes' not in p for p in found['pools'])
    assert found['volume_count'] == 5
    assert [(v['host'], v['pool'], v['path']) for v in found['largest']] == [
        ('hv2', 'images', '/i/big.raw'), ('hv2', 'Clones', '/c/web.qcow2')], 'top 2 by capacity, ties in order'
    # golden is a backing store of a volume in another pool of its host; web and a are used by domains
    assert found['unused_count'] == 2
    # both unused ones have 1 GiB allocated: the larger capacity comes first
    assert [v['path'] for v in found['unused']] == ['/i/big.raw'], 'the largest allocation first, capped at 1'
    everything = filters.capacity_tables(fleet(), ['hv2'], 80, 10, 10)
    golden = [v for v in everything['largest'] if v['path'] == '/i/golden.qcow2'][0]
    assert golden['is_backing'] is True
    assert 'csv' not in everything and 'points' not in everything


def test_tables_with_csv_and_points_read_each_host_once():
    reads = []

    class Vars(dict):
        def get(self, key, default=None):
            reads.append(key)
            return dict.get(self, key, default)

    facts = dict((host, Vars(value)) for host, value in fleet().items())
    found = filters.capacity_tables(facts, ['hv2', 'HV1', 'hv3'], 80, 10, 50, time=TIME, csv=True)
    assert reads == ['ansible_facts'] * 2, 'hv3 has no variables to read'
    assert found['csv'] == filters.capacity_csv(fleet(), ['hv2', 'HV1', 'hv3'], 80)
    assert found['points'] == history.run_points(fleet(), ['hv2', 'HV1', 'hv3'], TIME)
    with pytest.raises(AnsibleFilterError, match='capacity_tables'):
        filters.capacity_tables(fleet(), ['hv2'], time='yesterday')


def test_csv_rows_and_quoting():
    text = filters.capacity_csv(fleet(), ['hv2', 'HV1'], 80)
    assert text.endswith('\n') and not text.endswith('\n\n')
    lines = text.split('\n')[:-1]
    assert lines[0] == tables.CSV_HEADER
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r['host'], r['pool'], r['volume']) for r in rows] == [
        ('HV1', 'data', 'a "quoted" name'), ('hv2', 'Clones', "'=cmd|x"), ('hv2', 'Clones', 'web.qcow2'),
        ('hv2', 'images', 'big.raw'), ('hv2', 'images', 'golden.qcow2'), ('hv2', 'off', '')]
    assert '"a ""quoted"" name"' in lines[1] and lines[1].endswith(',"db1 db2"')
    assert rows[2]['backing_store'] == '/i/golden.qcow2' and rows[3]['over_threshold'] == 'yes'
    assert rows[3]['pool_usage_percent'] == '85.0' and rows[3]['volume_capacity'] == str(40 * GIB)
    assert rows[3]['pool_provisioned'] == str(10 * GIB) and rows[3]['pool_overcommit_ratio'] == '0.1'
    assert rows[3]['volume_physical'] == str(40 * GIB) and rows[4]['volume_physical'] == str(2 * GIB + 1)
    assert all(None not in row and None not in row.values() for row in rows), 'every row has every column'
    assert lines[-1] == '"hv2","off","dir","inactive",0,0,0,,no,10737418240,,,,,,,,,', 'a pool without volumes: one row'


def test_plain_copy_of_a_lazy_dict():
    class Lazy(dict):
        def _non_lazy_copy(self):
            return {'pools': {'p': 'plain'}}

    class Broken(dict):
        def _non_lazy_copy(self):
            raise RuntimeError('other ansible-core')

    assert tables.host_storage({'h': {'pools': Lazy()}}, 'h') == {'pools': {}}
    assert tables.host_storage({'h': Lazy(pools={})}, 'h') == {'pools': {'p': 'plain'}}
    assert tables.host_storage({'h': Broken(pools={'x': 1})}, 'h') == {'pools': {'x': 1}}
    assert tables.host_storage({}, 'gone') == {}
