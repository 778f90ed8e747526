"""playbooks/capacity_report.yml at the size of a fleet, against the real libvirtd.

- A history of 30 runs: 29 daily synthetic points seeded before the run (a pool whose allocation
  rises, a pool whose allocation stays flat), plus the point of the run itself; the page is
  rendered by headless Chromium, its DOM checked for the fill date and the 30-point trend of the
  rising pool, its screenshot for being a real PNG of the window's size that is not blank.
  With KVMOPS_REPORT_SCREENSHOT=<path> the screenshot is also copied there (docs/capacity_report.png
  is made that way).
- A fleet of 100 hosts: an inventory of 100 aliases of the local host (ansible_connection=local),
  each reporting one or two of the same pools: 100 collapsible host sections, the totals, the
  hosts largest first, the time the report part took (printed, not asserted).
"""

import datetime
import json
import os
import re
import shutil
import time

import pytest

from helpers import REPO, remove_pool, run_playbook, virsh, virsh_dir_pool
from test_capacity_report import _chromium, _png_rows

pytestmark = pytest.mark.libvirt

PLAYBOOK = os.path.join(REPO, 'playbooks', 'capacity_report.yml')
PYTHON = os.path.join(REPO, '.venv', 'bin', 'python')
DAY = 86400
RUNS = 30
HOSTS = 100
WINDOW = (1280, 1400)


def _info(name):
    """(capacity, allocation, available) of a pool, in bytes, as libvirt reports them."""
    found = dict(re.findall(r'^(Capacity|Allocation|Available):\s+(\d+)', virsh('pool-info', '--bytes', name),
                            re.MULTILINE))
    return int(found['Capacity']), int(found['Allocation']), int(found['Available'])


def _time(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _seconds(text):
    return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc).timestamp()


@pytest.fixture(scope='module')
def pools(tmp_path_factory):
    tag = os.getpid()
    base = tmp_path_factory.mktemp('it-fleet')
    names = {'grow': 'it-fleet-grow-%d' % tag, 'flat': 'it-fleet-flat-%d' % tag}
    made = []
    try:
        for key, name in sorted(names.items()):
            made.append(name)
            virsh_dir_pool(name, str(base / key))
        virsh('vol-create-as', names['grow'], 'disk.raw', '8M', '--allocation', '8M', '--format', 'raw')
        yield dict(names, dir=base)
    finally:
        for name in made:
            remove_pool(name)


def _seed(path, hosts_pools, grow):
    """RUNS - 1 daily points before now for each (host, pool): the allocation of pool ``grow`` rises
    by a 40th of its allocation now each day (to what libvirt reports now), the others stay flat."""
    now = time.time()
    info = dict((pool, _info(pool)) for pool in set(pool for _host, pool in hosts_pools))
    lines = []
    for day in range(RUNS - 1, 0, -1):
        for host, pool in hosts_pools:
            capacity, allocation, available = info[pool]
            step = allocation // 40 if pool == grow else 0
            lines.append(json.dumps({'time': _time(now - day * DAY), 'host': host, 'pool': pool,
                                     'capacity': capacity, 'allocation': allocation - day * step,
                                     'available': available + day * step}))
    with open(str(path), 'w') as handle:
        handle.write(''.join(line + '\n' for line in lines))


def _expected_date(points):
    """The fill date of a least-squares line through the points, computed here on its own."""
    xs = [_seconds(p['time']) for p in points]
    ys = [p['allocation'] for p in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)
    full = mean_x + (points[-1]['allocation'] + points[-1]['available'] - mean_y) / slope
    return datetime.datetime.fromtimestamp(max(full, xs[-1]), datetime.timezone.utc).strftime('%Y-%m-%d')


def _history(path):
    with open(str(path), encoding='utf-8') as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _row(html, pool):
    return html.split('data-pool="%s"' % pool)[1].split('</tr>')[0]


def _report_seconds(run):
    """Seconds from the start of the first task of the report part to the end of the run."""
    starts = dict((task, at) for task, at in run.task_starts if task is not None)
    return run.task_starts[-1][1] - starts['Take the time of this run']


@pytest.fixture(scope='module')
def thirty_runs(pools):
    out = pools['dir'] / 'thirty'
    out.mkdir()
    history = out / 'capacity-history.jsonl'
    _seed(history, [('localhost', pools['grow']), ('localhost', pools['flat'])], pools['grow'])
    run = run_playbook(PLAYBOOK, extra_vars={
        'report_dir': str(out), 'report_pools': [pools['grow'], pools['flat']], 'report_title': 'Storage capacity',
        'ansible_python_interpreter': PYTHON})
    assert run.rc == 0, run.output
    return {'html': str(out / 'capacity.html'), 'history': _history(history)}


def test_thirty_runs_rendered_in_headless_chromium(pools, thirty_runs, tmp_path):
    grow = [p for p in thirty_runs['history'] if p['pool'] == pools['grow']]
    assert len(grow) == RUNS and len([p for p in thirty_runs['history'] if p['pool'] == pools['flat']]) == RUNS
    url = 'file://' + thirty_runs['html']

    dom = _chromium(tmp_path, '--dump-dom', url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert '<html lang="en">' in dom.stdout and dom.stdout.rstrip().endswith('</html>'), dom.stdout[:200]
    row = _row(dom.stdout, pools['grow'])
    found = re.search(r'<b class="fill-date">(\d{4}-\d\d-\d\d)</b>', row)
    assert found, row
    assert found.group(1) == _expected_date(grow)
    assert found.group(1) > datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d')
    assert '<svg class="trend"' in row and '%d points' % RUNS in row
    used = re.findall(r'<polyline points="([^"]+)"[^>]*stroke="#3a6fd8"', row)
    assert len(used) == 1, row
    xy = [tuple(float(v) for v in pair.split(',')) for pair in used[0].split()]
    assert len(xy) == RUNS, 'one vertex per run'
    assert [x for x, _y in xy] == sorted(x for x, _y in xy)
    assert xy[-1][1] < xy[0][1], 'the rising allocation goes up the chart (SVG y grows downwards)'
    assert '<polyline class="fit"' in row
    flat = _row(dom.stdout, pools['flat'])
    assert '<svg class="trend"' in flat and '%d points' % RUNS in flat
    assert 'fill-date' not in flat and '<span class="no-estimate">no estimate</span>' in flat, flat

    png = tmp_path / 'report.png'
    shot = _chromium(tmp_path, '--screenshot=%s' % png, '--window-size=%d,%d' % WINDOW,
                     '--hide-scrollbars', url)
    assert shot.returncode == 0, shot.stderr[-2000:]
    width, height, rows = _png_rows(str(png), WINDOW[1])
    assert (width, height) == WINDOW
    colours = set(pixel for line in rows for pixel in line)
    assert len(colours) > 100, 'not a blank page: %d distinct colours' % len(colours)
    blank = sum(1 for line in rows if len(set(line)) == 1)
    assert blank < height * 0.8, '%d of %d rows are a single colour' % (blank, height)
    assert (0x3a, 0x6f, 0xd8) in colours, 'the accent blue of the charts and the header is drawn'
    copy_to = os.environ.get('KVMOPS_REPORT_SCREENSHOT')
    if copy_to:
        shutil.copyfile(str(png), copy_to)


@pytest.fixture(scope='module')
def fleet(pools, tmp_path_factory):
    """An inventory of HOSTS aliases of localhost; every tenth one (kvm-007, kvm-017...) reports both
    pools, the others the flat pool only, so the largest hosts are not the first by name."""
    base = tmp_path_factory.mktemp('it-fleet-inv')
    hosts = {}
    for index in range(1, HOSTS + 1):
        name = 'kvm-%03d' % index
        both = index % 10 == 7
        hosts[name] = {'ansible_connection': 'local', 'ansible_python_interpreter': PYTHON,
                       'report_pools': [pools['grow'], pools['flat']] if both else [pools['flat']]}
    inventory = base / 'fleet.yml'
    inventory.write_text(json.dumps({'all': {'hosts': hosts}}, indent=1))
    out = base / 'out'
    out.mkdir()
    pairs = [(host, pool) for host, spec in sorted(hosts.items()) for pool in spec['report_pools']]
    _seed(out / 'capacity-history.jsonl', pairs, pools['grow'])
    started = time.time()
    run = run_playbook(PLAYBOOK, inventory=str(inventory), extra_vars={'report_dir': str(out)},
                       env={'ANSIBLE_FORKS': '10'})
    total = time.time() - started
    assert run.rc == 0, run.output[-4000:]
    report = _report_seconds(run)
    print('\n%d-host capacity report: whole run %.1f s, the report part %.1f s' % (HOSTS, total, report))
    return {'hosts': hosts, 'run': run, 'html': (out / 'capacity.html').read_text(encoding='utf-8'),
            'history': _history(out / 'capacity-history.jsonl')}


def test_fleet_of_100_hosts(pools, fleet):
    run, html, hosts = fleet['run'], fleet['html'], fleet['hosts']
    assert sorted(run.recap) == sorted(hosts)
    assert all(counts['failures'] == 0 and counts['unreachable'] == 0 for counts in run.recap.values())
    both = sorted(name for name, spec in hosts.items() if len(spec['report_pools']) == 2)
    assert len(both) == 10
    assert html.count('<details class="host"') == HOSTS
    # closed, as no host needs a look (a pool over the threshold or filling within 30 days)
    assert html.count('<details class="host" id="host-') == HOSTS and '" open>' not in html
    assert '<div class="tile"><span>Hosts</span><b>%d</b></div>' % HOSTS in html
    assert '<div class="tile"><span>Pools</span><b>%d</b></div>' % (HOSTS + len(both)) in html
    assert '<div class="tile"><span>Volumes</span><b>%d</b></div>' % len(both) in html
    assert '%d hosts &middot;' % HOSTS in html

    table = html.split('<section id="hosts">')[1].split('</section>')[0]
    order = re.findall(r'<tr class="[^"]*"><td><a href="#host-\d+">([^<]+)</a></td><td class="num">(\d+)</td>', table)
    assert len(order) == HOSTS
    assert sorted(name for name, _count in order[:len(both)]) == both, 'the two-pool hosts first'
    assert all(count == '2' for _name, count in order[:len(both)])
    assert all(count == '1' for _name, count in order[len(both):])
    assert [name for name, _count in order][:len(both)] != sorted(hosts)[:len(both)]

    for name in both:
        section = html.split('<summary><b>%s</b>' % name)[1].split('</details>')[0]
        row = _row(section, pools['grow'])
        assert re.search(r'<b class="fill-date">\d{4}-\d\d-\d\d</b>', row), row
        assert '%d points' % RUNS in row
    assert len(fleet['history']) == RUNS * (HOSTS + len(both))
    assert {p['host'] for p in fleet['history'][-(HOSTS + len(both)):]} == set(hosts), 'a point per host this run'
