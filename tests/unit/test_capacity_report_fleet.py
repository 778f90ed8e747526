"""playbooks/capacity_report.yml over a fleet of 100 hosts with synthetic facts: a play before it
sets each host's libvirt_storage facts from a JSON file (tests/unit/playbooks/fleet_report.yml) and
the gathering task is skipped (--skip-tags gather), so no libvirt is asked; the HTML stays readable (one collapsible <details> per host, totals and the
largest hosts first) and of a bounded size, and the history gets one point per active pool."""

import json
import os
import re
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(REPO, 'tests', 'unit', 'playbooks', 'fleet_report.yml')
GIB = 1024 ** 3
HOSTS = 100
POOLS = ('images', 'backup', 'scratch', 'iso')


def _pool(name, index, number):
    capacity = (number + 1) * (index + 1) * 100 * GIB
    allocation = capacity * ((7 * number + 13 * index) % 97) // 100
    volumes = dict(('vm%d-%s.qcow2' % (vol, name), {
        'name': 'vm%d-%s.qcow2' % (vol, name), 'key': 'k', 'path': '/p/%s/vm%d' % (name, vol), 'type': 'file',
        'format': 'qcow2', 'capacity': 20 * GIB, 'allocation': 5 * GIB, 'backing_store': None,
        'used_by': ['dom%d' % vol] if vol % 2 else []}) for vol in range(5))
    active = name != 'iso'
    return {'name': name, 'uuid': 'u', 'type': 'dir', 'state': 'active' if active else 'inactive',
            'autostart': True, 'persistent': True,
            'capacity': capacity if active else 0, 'allocation': allocation if active else 0,
            'available': capacity - allocation if active else 0,
            'usage_percent': round(100.0 * allocation / capacity, 1) if active else None,
            'provisioned': 100 * GIB, 'overcommit_ratio': round(100.0 * GIB / capacity, 2) if active else None,
            'target': {'path': '/p/%s' % name, 'permissions': {}}, 'source': {},
            'volumes': volumes if active else {}}


def _hosts():
    return ['hv%03d' % number for number in range(1, HOSTS + 1)]


def _fleet(tmp_path):
    cache = tmp_path / 'facts'
    cache.mkdir()
    for number, host in enumerate(_hosts()):
        pools = dict((name, _pool(name, index, number)) for index, name in enumerate(POOLS))
        (cache / ('%s.json' % host)).write_text(json.dumps({'pools': pools}))
    inventory = tmp_path / 'hosts.ini'
    inventory.write_text('[hypervisors]\n' + '\n'.join(_hosts()) + '\n')
    return cache, inventory


def _run(tmp_path, cache, inventory, **extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.build', 'unit'),
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_NOCOLOR='1',
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_FORKS='20',
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', ''))
    extra.setdefault('report_dir', str(tmp_path / 'out'))
    extra['fleet_facts'] = str(cache)
    proc = subprocess.run(['ansible-playbook', '-i', str(inventory), PLAYBOOK, '--skip-tags', 'gather',
                           '-e', json.dumps(extra)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-5000:]
    return proc.stdout


def _seed(out):
    """An earlier history: pool images of hv002 (200 GiB, 14 GiB allocated now) grew 2.5 GiB a day over
    the last four days, backup of hv003 stayed as it is now; returns the number of points."""
    now = time.time()
    images, backup = _pool('images', 0, 1), _pool('backup', 1, 2)
    points = []
    for day in range(4, 0, -1):
        stamp = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now - day * 86400))
        allocation = images['allocation'] - int(day * 2.5 * GIB)
        points.append({'time': stamp, 'host': 'hv002', 'pool': 'images', 'capacity': images['capacity'],
                       'allocation': allocation, 'available': images['capacity'] - allocation})
        points.append({'time': stamp, 'host': 'hv003', 'pool': 'backup', 'capacity': backup['capacity'],
                       'allocation': backup['allocation'], 'available': backup['available']})
    out.mkdir()
    (out / 'capacity-history.jsonl').write_text(''.join(json.dumps(point) + '\n' for point in points))
    return len(points)


@pytest.fixture(scope='module')
def fleet_report(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('fleet')
    cache, inventory = _fleet(tmp_path)
    out = tmp_path / 'out'
    seeded = _seed(out)
    _run(tmp_path, cache, inventory, report_threshold=90, report_forecast_soon_days=100)
    return {'html': (out / 'capacity.html').read_text(encoding='utf-8'), 'out': out, 'seeded': seeded}


def test_fleet_html_structure(fleet_report):
    text = fleet_report['html']
    assert text.count('<details class="host"') == HOSTS
    assert text.count('<tr class="pool ') == HOSTS * len(POOLS)
    # each active pool has a trend chart; the inactive one says so
    assert text.count('<svg class="trend"') == HOSTS * (len(POOLS) - 1)
    assert text.count('the pool is inactive') == HOSTS
    # one run: no pool has enough points for an estimate but the one with a rising history
    assert text.count('<span class="no-estimate">no estimate</span>') == HOSTS * len(POOLS) - 1
    assert 'only 1 point (needs 3)' in text
    rising = text.split('<details class="host" id="host-2" open>')[1].split('data-pool="images"')[1].split('</tr>')[0]
    # 186 GiB available at 2.5 GiB a day: 74.4 days
    day = time.strftime('%Y-%m-%d', time.gmtime(time.time() + 74.4 * 86400))
    assert '<b class="fill-date">%s</b>' % day in rising and 'in 74 days' in rising, rising
    assert '+2.5&nbsp;GiB/day' in rising and '5 points' in rising and '<polyline class="fit"' in rising
    flat = text.split('<details class="host" id="host-3"')[1].split('data-pool="backup"')[1].split('</tr>')[0]
    assert 'usage is not growing' in flat
    soonest = text.split('<section id="soonest">')[1].split('</section>')[0]
    assert soonest.count('<tr><td>') == 1 and '>hv002</a></td><td>images</td>' in soonest
    assert '<span>Full within 100 days</span><b>1</b>' in text
    hosts = text.split('<section id="hosts">')[1].split('</section>')[0]
    assert re.search(r'>hv002</a></td>(<td class="num">[^<]*</td>){5}<td class="num">%s</td>' % day, hosts)
    # collapsed unless the host has a pool at or above the threshold or filling soon
    opened = re.findall(r'<details class="host" id="host-(\d+)" open>', text)
    assert 0 < len(opened) < HOSTS and '2' in opened
    # the totals at the top: 100 hosts, 300 active pools + 100 inactive
    tiles = text.split('<div class="tiles">')[1].split('</div>\n\n')[0]
    assert '<span>Hosts</span><b>100</b>' in tiles and '<span>Pools</span><b>400</b>' in tiles
    assert '<span>Provisioned</span><b>39.1&nbsp;TiB</b>' in tiles, 'the sum of the pools\' provisioned facts'
    # the hosts table: largest capacity first (capacity grows with the host number)
    hosts = re.findall(r'<td><a href="#host-(\d+)">(hv\d+)</a></td>', text.split('id="hosts"')[1].split('</section>')[0])
    assert [host for _id, host in hosts] == list(reversed(_hosts()))
    # within a host, pools largest first: scratch (index 2) > backup > images
    section = text.split('<details class="host" id="host-7"')[1].split('</details>')[0]
    order = re.findall(r'data-pool="(\w+)"', section)
    assert order == ['iso', 'scratch', 'backup', 'images'][1:] + ['iso']
    assert len(text) < 3 * 1024 * 1024, 'the page of 100 hosts stays under 3 MiB: %d bytes' % len(text)
    for forbidden in ('<script', '<link', 'https://'):
        assert forbidden not in text


def test_fleet_history_has_a_point_per_active_pool(fleet_report):
    with open(str(fleet_report['out'] / 'capacity-history.jsonl'), encoding='utf-8') as handle:
        points = [json.loads(line) for line in handle]
    assert len(points) == fleet_report['seeded'] + HOSTS * (len(POOLS) - 1)
    points = points[fleet_report['seeded']:]
    assert {point['pool'] for point in points} == set(POOLS) - {'iso'}
    assert all(point['provisioned'] == 100 * GIB for point in points)
    assert len({point['time'] for point in points}) == 1, 'one time for the whole run'
