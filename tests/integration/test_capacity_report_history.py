"""The memory of playbooks/capacity_report.yml against the real libvirtd: three runs over a pool
whose history file was seeded with earlier synthetic points (rising towards today) and over a pool
new to the history. The history grows by one point per pool and run, is replaced whole each time
(a new file renamed over the old one, nothing left beside it), a cut last line is skipped and
dropped; the HTML draws each pool's history as inline SVG, gives the fill date of the rising pool
(checked against a least-squares fit computed here) and "no estimate" for the new one."""

import datetime
import json
import os
import re
import time

import pytest

from helpers import REPO, remove_pool, run_playbook, virsh, virsh_dir_pool

pytestmark = pytest.mark.libvirt

PLAYBOOK = os.path.join(REPO, 'playbooks', 'capacity_report.yml')
DAY = 86400
SEEDED_DAYS = 6


def _info(name):
    """(capacity, allocation, available) of a pool, in bytes, as libvirt reports them."""
    found = dict(re.findall(r'^(Capacity|Allocation|Available):\s+(\d+)', virsh('pool-info', '--bytes', name),
                            re.MULTILINE))
    return int(found['Capacity']), int(found['Allocation']), int(found['Available'])


def _time(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


@pytest.fixture(scope='module')
def pools(tmp_path_factory):
    tag = os.getpid()
    base = tmp_path_factory.mktemp('it-hist')
    names = {'grow': 'it-hist-grow-%d' % tag, 'fresh': 'it-hist-fresh-%d' % tag}
    made = []
    try:
        for key, name in sorted(names.items()):
            made.append(name)
            virsh_dir_pool(name, str(base / key))
        virsh('vol-create-as', names['grow'], 'disk.raw', '16M', '--allocation', '16M', '--format', 'raw')
        yield dict(names, dir=base)
    finally:
        for name in made:
            remove_pool(name)


def _seed(path, name):
    """Daily points of the last SEEDED_DAYS days for pool ``name``, rising to its allocation now at a
    rate that fills what is available in about 200 days; returns the points."""
    capacity, allocation, available = _info(name)
    step = max(available // 200, 1)
    now = time.time()
    points = [{'time': _time(now - (SEEDED_DAYS - day) * DAY), 'host': 'localhost', 'pool': name,
               'capacity': capacity, 'allocation': max(allocation - (SEEDED_DAYS - day) * step, 0),
               'available': min(available + (SEEDED_DAYS - day) * step, capacity)} for day in range(SEEDED_DAYS)]
    with open(str(path), 'w') as handle:
        handle.write(''.join(json.dumps(point) + '\n' for point in points))
    return points


def _lines(path):
    with open(str(path), encoding='utf-8') as handle:
        return handle.read().split('\n')


def _expected_date(points):
    """The fill date by a least-squares line through the points, computed here on its own."""
    xs = [datetime.datetime.strptime(p['time'], '%Y-%m-%dT%H:%M:%SZ').replace(
        tzinfo=datetime.timezone.utc).timestamp() for p in points]
    ys = [p['allocation'] for p in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)
    limit = points[-1]['allocation'] + points[-1]['available']
    full = max(mean_x + (limit - mean_y) / slope, xs[-1])
    return datetime.datetime.fromtimestamp(full, datetime.timezone.utc)


def _row(html, pool):
    return html.split('data-pool="%s"' % pool)[1].split('</tr>')[0]


def test_three_runs_grow_the_history_and_forecast(pools):
    out = pools['dir'] / 'out'
    out.mkdir()
    history = out / 'capacity-history.jsonl'
    seeded = _seed(history, pools['grow'])
    extra = {'report_dir': str(out), 'report_pools': [pools['grow'], pools['fresh']],
             'ansible_python_interpreter': os.path.join(REPO, '.venv', 'bin', 'python')}
    inodes = [os.stat(str(history)).st_ino]
    for run_number in range(1, 4):
        if run_number == 3:
            # a write cut short after the second run: half a line, no newline
            with open(str(history), 'a') as handle:
                handle.write('{"time": "2026-01-01T00:00:00Z", "host": "localhost", "po')
        run = run_playbook(PLAYBOOK, extra_vars=extra)
        assert run.rc == 0, run.output
        lines = _lines(history)
        assert lines[-1] == '', 'the file ends with a newline'
        points = [json.loads(line) for line in lines[:-1]]
        assert len(points) == SEEDED_DAYS + 2 * run_number, 'one point per pool and run'
        assert points[:SEEDED_DAYS] == seeded, 'the earlier points are kept as they were'
        this_run = dict((p['pool'], p) for p in points[-2:])
        assert sorted(this_run) == sorted([pools['grow'], pools['fresh']])
        # provisioned, from the facts: the sum of the capacities of the pool's volumes
        assert this_run[pools['grow']]['provisioned'] == 16 * 1024 * 1024
        assert this_run[pools['fresh']]['provisioned'] == 0
        assert len({p['time'] for p in this_run.values()}) == 1
        inodes.append(os.stat(str(history)).st_ino)
        skipped = [task for task in run.tasks if task['_task'] == 'Say which lines of the history were skipped'
                   and task['_status'] != 'skipped']
        if run_number == 3:
            assert len(skipped) == 1 and 'line %d' % (SEEDED_DAYS + 5) in skipped[0]['msg'], skipped
        else:
            assert not skipped
    assert len(set(inodes)) == len(inodes), 'each run renames a new file over the history'
    assert sorted(os.listdir(str(out))) == ['capacity-history.jsonl', 'capacity.csv', 'capacity.html']

    grow_points = [p for p in points if p['pool'] == pools['grow']]
    capacity, _allocation, _available = _info(pools['grow'])
    assert [p['capacity'] for p in grow_points] == [capacity] * (SEEDED_DAYS + 3)
    html = (out / 'capacity.html').read_text(encoding='utf-8')
    grow, fresh = _row(html, pools['grow']), _row(html, pools['fresh'])
    assert '<svg class="trend"' in grow and '<polyline class="fit"' in grow
    assert '<svg class="prov"' in grow and '16.0&nbsp;MiB' in grow, 'the provisioned bar'
    assert '%d points' % (SEEDED_DAYS + 3) in grow
    estimated = re.search(r'<b class="fill-date">(\d{4}-\d\d-\d\d)</b>', grow)
    assert estimated, grow
    expected = _expected_date(grow_points)
    assert estimated.group(1) == expected.strftime('%Y-%m-%d'), (estimated.group(1), expected)
    assert expected - datetime.datetime.now(datetime.timezone.utc) > datetime.timedelta(days=30)
    assert '<svg class="trend"' in fresh and '3 points' in fresh
    assert '<span class="no-estimate">no estimate</span>' in fresh
    assert re.search(r'the points span 0\.\d h \(needs 24 h\)', fresh), fresh
    assert 'fill-date' not in fresh


def test_no_history_when_report_history_is_empty(pools):
    out = pools['dir'] / 'no-history'
    run = run_playbook(PLAYBOOK, extra_vars={
        'report_dir': str(out), 'report_pools': [pools['fresh']], 'report_history': '',
        'ansible_python_interpreter': os.path.join(REPO, '.venv', 'bin', 'python')})
    assert run.rc == 0, run.output
    assert sorted(os.listdir(str(out))) == ['capacity.csv', 'capacity.html']
    row = _row((out / 'capacity.html').read_text(encoding='utf-8'), pools['fresh'])
    assert 'only 1 point (needs 3)' in row
