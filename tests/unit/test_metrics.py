"""Unit tests of module_utils/metrics.py with fakes: the exposition text from the facts, escaping, the
cardinality switch, the atomic write, a failing run, and the dashboard's expressions."""

import json
import os
import re
import subprocess
import sys

import pytest

from fake_libvirt import DIR_PATH, GIB, MIB, FakeConn, volume_xml
from ansible_collections.kvmops.storage.plugins.module_utils import facts as factsu
from ansible_collections.kvmops.storage.plugins.module_utils import metrics
from ansible_collections.kvmops.storage.plugins.module_utils.errors import ConnectionFailedError
from test_facts import add_pool

pytestmark = pytest.mark.usefixtures('directories_answer')  # the fake pools' directories

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(REPO, 'roles', 'storage_metrics')
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')


def parse(text):
    """{(name, ((label, value), ...)): value} of an exposition text, unescaping the label values; checks
    that every family has HELP and TYPE before its samples and that a family's samples are together."""
    samples, seen, current = {}, [], None
    for line in text.splitlines():
        if line.startswith('# HELP '):
            name = line.split(' ')[2]
            assert name not in seen, 'family %s written twice' % name
            seen.append(name)
            current = name
            continue
        if line.startswith('# TYPE '):
            assert line.split(' ')[2:] == [current, 'gauge']
            continue
        match = SAMPLE.match(line)
        assert match, 'not a sample line: %r' % line
        name, labels, value = match.groups()
        assert name == current, '%s outside its family' % name
        pairs = tuple(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', labels or ''))
        pairs = tuple((key, re.sub(r'\\(.)', lambda m: {'n': '\n'}.get(m.group(1), m.group(1)), raw))
                      for key, raw in pairs)
        samples[(name, pairs)] = float(value)
    return samples


def host():
    conn = FakeConn()
    images = add_pool(conn, 'images', capacity=100 * GIB, allocation=25 * GIB, available=75 * GIB)
    path = '%s/images' % DIR_PATH
    images.add(volume_xml('vm1.qcow2', 80 * GIB, fmt='qcow2', path=path + '/vm1.qcow2', allocation=GIB,
                          physical=2 * GIB))
    images.add(volume_xml('vm2.raw', 60 * GIB, path=path + '/vm2.raw', allocation=60 * GIB))
    add_pool(conn, 'offline', active=False, autostart=True)
    return conn


def test_pool_and_volume_series_are_the_facts_numbers():
    conn = host()
    facts, warnings = metrics.collect(conn)
    expected = factsu.FactsManager(host(), {'gather': ['pools', 'volumes']}).facts()
    assert facts == expected
    samples = parse(metrics.render(facts, started=1700000000.5, duration=0.25, warnings=len(warnings)))
    images = (('pool', 'images'),)
    assert samples[('libvirt_storage_pool_capacity_bytes', images)] == 100 * GIB
    assert samples[('libvirt_storage_pool_allocation_bytes', images)] == 25 * GIB
    assert samples[('libvirt_storage_pool_available_bytes', images)] == 75 * GIB
    assert samples[('libvirt_storage_pool_provisioned_bytes', images)] == 140 * GIB
    assert samples[('libvirt_storage_pool_overcommit_ratio', images)] == 1.4
    assert samples[('libvirt_storage_pool_volumes', images)] == 2
    assert samples[('libvirt_storage_pool_active', images)] == 1
    assert samples[('libvirt_storage_pool_state', images + (('state', 'active'),))] == 1
    assert samples[('libvirt_storage_pool_state', images + (('state', 'inactive'),))] == 0
    info = [key for key in samples if key[0] == 'libvirt_storage_pool_info' and key[1][0] == ('pool', 'images')]
    assert dict(info[0][1]) == {'pool': 'images', 'type': 'dir', 'uuid': 'uuid-of-images',
                                'target_path': '%s/images' % DIR_PATH, 'persistent': 'true', 'thin_provisioned': 'true'}
    vm1 = images + (('volume', 'vm1.qcow2'),)
    assert samples[('libvirt_storage_volume_capacity_bytes', vm1)] == 80 * GIB
    assert samples[('libvirt_storage_volume_allocation_bytes', vm1)] == GIB
    assert samples[('libvirt_storage_volume_physical_bytes', vm1)] == 2 * GIB
    # no <physical> in the XML: no physical series (not a made-up 0)
    assert ('libvirt_storage_volume_physical_bytes', images + (('volume', 'vm2.raw'),)) not in samples
    # the inactive autostart pool: flagged, its unknown figures left out
    offline = (('pool', 'offline'),)
    assert samples[('libvirt_storage_pool_autostart_not_running', offline)] == 1
    assert samples[('libvirt_storage_pool_active', offline)] == 0
    assert samples[('libvirt_storage_pool_state', offline + (('state', 'inactive'),))] == 1
    assert ('libvirt_storage_pool_provisioned_bytes', offline) not in samples
    assert ('libvirt_storage_pool_overcommit_ratio', offline) not in samples
    assert samples[('libvirt_storage_collector_success', ())] == 1
    assert samples[('libvirt_storage_collector_last_run_timestamp_seconds', ())] == 1700000000.5
    assert samples[('libvirt_storage_collector_duration_seconds', ())] == 0.25
    assert samples[('libvirt_storage_collector_warnings', ())] == 1  # the autostart pool that is not running
    assert samples[('libvirt_storage_collector_volume_series', ())] == 1
    assert {name for name, _labels in samples} <= set(metrics.metric_names())


def test_names_follow_the_conventions():
    for name in metrics.metric_names():
        assert re.match(r'^libvirt_storage_[a-z_]+$', name), name
        assert not name.endswith('_total'), 'gauges only: %s' % name
    units = [name for name in metrics.metric_names() if 'bytes' in name or 'seconds' in name]
    assert all(name.endswith(('_bytes', '_seconds')) for name in units)


def test_label_values_with_quote_backslash_and_newline_are_escaped():
    assert metrics.escape_label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    name = 'we"ird\\po\nol'
    conn = FakeConn()
    pool = add_pool(conn, 'placeholder')
    pool.xml = pool.xml.replace('<name>placeholder</name>', '<name>we&quot;ird\\po\nol</name>')
    conn.pools = {name: pool}
    pool.add(volume_xml('v"1\nx', MIB, path='%s/v1' % DIR_PATH))
    facts, _warnings = metrics.collect(conn)
    assert list(facts['pools']) == [name]
    text = metrics.render(facts)
    assert 'libvirt_storage_pool_capacity_bytes{pool="we\\"ird\\\\po\\nol"} ' in text
    assert 'libvirt_storage_volume_capacity_bytes{pool="we\\"ird\\\\po\\nol",volume="v\\"1\\nx"} 1048576' in text
    samples = parse(text)
    assert samples[('libvirt_storage_volume_capacity_bytes', (('pool', name), ('volume', 'v"1\nx')))] == MIB
    assert len(text.splitlines()) == len([line for line in text.split('\n') if line])


def test_volume_series_lines_in_pool_and_volume_order():
    def volume(name, **fields):
        found = {'name': name, 'type': 'file', 'format': 'qcow2', 'path': '/p/' + name, 'capacity': 2 * MIB,
                 'allocation': MIB, 'physical': 3 * MIB}
        found.update(fields)
        return found
    pool = {'name': 'p', 'state': 'active', 'active': True, 'autostart': False, 'autostart_not_running': False,
            'capacity': 10 * MIB, 'allocation': MIB, 'available': 9 * MIB, 'provisioned': None,
            'overcommit_ratio': None}
    facts = {'pools': {
        'q': dict(pool, name='q', volumes={'z': volume('z')}),
        'p': dict(pool, volumes={'b': volume('b', type=None, format=None, path=None, physical=None),
                                 'a': volume('a', allocation=1.5)})}}
    lines = [line for line in metrics.render(facts, volume_limit=-1).splitlines()
             if line.startswith('libvirt_storage_volume_')]
    assert lines == [
        'libvirt_storage_volume_info{pool="p",volume="a",type="file",format="qcow2",path="/p/a"} 1',
        'libvirt_storage_volume_info{pool="p",volume="b",type="",format="",path=""} 1',
        'libvirt_storage_volume_info{pool="q",volume="z",type="file",format="qcow2",path="/p/z"} 1',
        'libvirt_storage_volume_capacity_bytes{pool="p",volume="a"} 2097152',
        'libvirt_storage_volume_capacity_bytes{pool="p",volume="b"} 2097152',
        'libvirt_storage_volume_capacity_bytes{pool="q",volume="z"} 2097152',
        'libvirt_storage_volume_allocation_bytes{pool="p",volume="a"} 1.5',
        'libvirt_storage_volume_allocation_bytes{pool="p",volume="b"} 1048576',
        'libvirt_storage_volume_allocation_bytes{pool="q",volume="z"} 1048576',
        'libvirt_storage_volume_physical_bytes{pool="p",volume="a"} 3145728',
        'libvirt_storage_volume_physical_bytes{pool="q",volume="z"} 3145728',
    ]


@pytest.mark.parametrize('limit, volume_series', [(-1, True), (2, True), (1, False), (0, False)])
def test_volume_limit_is_the_cardinality_switch(limit, volume_series):
    facts, _warnings = metrics.collect(host())
    samples = parse(metrics.render(facts, volume_limit=limit))
    names = {name for name, _labels in samples}
    assert ('libvirt_storage_volume_capacity_bytes' in names) is volume_series
    assert ('libvirt_storage_volume_info' in names) is volume_series
    assert samples[('libvirt_storage_collector_volume_series', ())] == int(volume_series)
    # the pool series stay whatever the switch says
    assert samples[('libvirt_storage_pool_provisioned_bytes', (('pool', 'images'),))] == 140 * GIB


class FailingConnection:
    is_local = True

    def __init__(self, uri):
        self.uri = uri

    def open(self):
        raise ConnectionFailedError('cannot connect to libvirt at uri=%s: no daemon' % self.uri, uri=self.uri)

    def close(self):
        pass


def test_refresh_is_the_facts_refresh():
    conn = host()
    metrics.collect(conn)
    assert not conn.calls_of('refresh')
    metrics.collect(conn, refresh=True)
    refreshed = [call for call in conn.calls if call[0] == 'refresh']
    assert len(refreshed) == 1  # the active pool only


def test_a_failed_run_writes_the_collector_series_with_success_0():
    clock = iter([100.0, 101.5])
    text, success, messages = metrics.run('qemu:///nowhere', clock=lambda: next(clock),
                                          connection_class=FailingConnection)
    assert success is False and 'no daemon' in messages[0]
    samples = parse(text)
    assert samples == {('libvirt_storage_collector_success', ()): 0,
                       ('libvirt_storage_collector_last_run_timestamp_seconds', ()): 100.0,
                       ('libvirt_storage_collector_duration_seconds', ()): 1.5,
                       ('libvirt_storage_collector_warnings', ()): 0,
                       ('libvirt_storage_collector_volume_series', ()): 1}


def test_write_textfile_replaces_the_file_atomically(tmp_path, monkeypatch):
    target = tmp_path / 'kvmops_storage.prom'
    target.write_text('old\n')
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, 'fsync', lambda fd: synced.append(fd) or real_fsync(fd))
    metrics.write_textfile(str(target), 'new\n')
    assert target.read_text() == 'new\n'
    assert oct(target.stat().st_mode & 0o777) == '0o644'
    assert len(synced) == 2  # the file, then its directory
    assert os.listdir(str(tmp_path)) == ['kvmops_storage.prom']

    # a write that fails leaves the old file and no temporary file behind
    def broken_rename(src, dst):
        raise OSError('disk gone')
    monkeypatch.setattr(os, 'rename', broken_rename)
    with pytest.raises(OSError):
        metrics.write_textfile(str(target), 'newer\n')
    assert target.read_text() == 'new\n'
    assert os.listdir(str(tmp_path)) == ['kvmops_storage.prom']


def test_the_temporary_file_is_not_read_by_node_exporter(tmp_path, monkeypatch):
    seen = []
    real_rename = os.rename
    monkeypatch.setattr(os, 'rename', lambda src, dst: seen.append(os.path.basename(src)) or real_rename(src, dst))
    metrics.write_textfile(str(tmp_path / 'x.prom'), 'a 1\n')
    assert seen and not seen[0].endswith('.prom') and os.path.dirname(seen[0]) == ''


def test_main_prints_or_writes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(metrics, 'run', lambda uri, limit, refresh: ('libvirt_storage_collector_success 1\n', True, ['w1']))
    assert metrics.main(['--output', '-']) == 0
    out, err = capsys.readouterr()
    assert out == 'libvirt_storage_collector_success 1\n' and err == 'warning: w1\n'
    monkeypatch.setattr(metrics, 'run', lambda uri, limit, refresh: ('libvirt_storage_collector_success 0\n', False, ['e']))
    assert metrics.main(['--output', str(tmp_path / 'm.prom'), '--uri', 'test:///x']) == 1
    assert (tmp_path / 'm.prom').read_text() == 'libvirt_storage_collector_success 0\n'


# ---- the dashboard and the alerts use only the collector's metric names ---------------------------
PROMQL_WORDS = {'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool',
                'offset', 'inf', 'nan'}


def metric_names_in(expression):
    """The metric names an expression uses: identifiers that are no function, keyword, label or variable."""
    text = re.sub(r'\$\{?\w+\}?', ' ', expression)             # Grafana variables
    text = re.sub(r'"(?:[^"\\]|\\.)*"', ' ', text)              # strings
    text = re.sub(r'\{[^}]*\}', ' ', text)                      # label matchers
    text = re.sub(r'\[[^\]]*\]', ' ', text)                     # ranges
    text = re.sub(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', ' ', text)
    names = set()
    for match in re.finditer(r'[a-zA-Z_:][a-zA-Z0-9_:]*', text):
        word = match.group(0)
        after = text[match.end():].lstrip()
        if after.startswith('(') or word.lower() in PROMQL_WORDS or re.match(r'^\d', word):
            continue
        names.add(word)
    return names


def dashboard_expressions(node):
    if isinstance(node, dict) and node.get('type') == 'datasource':
        return  # the data source variable: its query is the data source type
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ('expr', 'query', 'definition') and isinstance(value, str):
                yield value
            else:
                yield from dashboard_expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from dashboard_expressions(item)


def test_metric_names_in_recognises_what_is_a_metric():
    assert metric_names_in('topk(10, sum by (pool) (foo_bytes{pool=~"$pool"}) / on(pool) bar[5m])') == {
        'foo_bytes', 'bar'}
    assert metric_names_in('label_values(libvirt_storage_pool_info{instance="$instance"}, pool)') == {
        'libvirt_storage_pool_info', 'pool'}


def test_dashboard_uses_only_the_collectors_metrics():
    with open(os.path.join(ROLE, 'files', 'dashboard.json')) as stream:
        dashboard = json.load(stream)
    assert dashboard['title'] and dashboard['panels']
    expressions = list(dashboard_expressions(dashboard))
    assert len(expressions) >= 6
    emitted = set(metrics.metric_names())
    used = set()
    for expression in expressions:
        names = metric_names_in(re.sub(r'label_values\(([^,()]+(?:\{[^}]*\})?),\s*\w+\)', r'\1', expression))
        assert names, 'no metric in %r' % expression
        assert names <= emitted, '%r uses %s, which the collector does not write' % (expression, names - emitted)
        used |= names
    # the panels the role promises: usage over time, overcommit, largest volumes
    assert {'libvirt_storage_pool_allocation_bytes', 'libvirt_storage_pool_capacity_bytes',
            'libvirt_storage_pool_overcommit_ratio', 'libvirt_storage_volume_allocation_bytes'} <= used


def test_alerts_use_only_the_collectors_metrics():
    import yaml
    with open(os.path.join(ROLE, 'files', 'alerts.yml')) as stream:
        rules = yaml.safe_load(stream)
    emitted = set(metrics.metric_names())
    alerts = [rule for group in rules['groups'] for rule in group['rules']]
    assert len(alerts) == 6
    for rule in alerts:
        names = metric_names_in(rule['expr'])
        assert names and names <= emitted, (rule['alert'], names - emitted)


def promtool(*args):
    proc = subprocess.run(['promtool'] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False, cwd=REPO)
    return proc.returncode, proc.stdout


def test_promtool_checks_the_rules_and_runs_their_tests():
    """promtool (Debian's prometheus package, installed by scripts/setup.sh): the rules are valid and each
    alert fires on its synthetic series where tests/prometheus/alerts_test.yml says, and nowhere else."""
    code, out = promtool('check', 'rules', 'roles/storage_metrics/files/alerts.yml')
    assert code == 0 and 'SUCCESS: 6 rules found' in out, out
    code, out = promtool('test', 'rules', 'tests/prometheus/alerts_test.yml')
    assert code == 0 and 'SUCCESS' in out, out
    with open(os.path.join(REPO, 'tests', 'prometheus', 'alerts_test.yml')) as stream:
        tested = set(re.findall(r'alertname: (\w+)', stream.read()))
    with open(os.path.join(ROLE, 'files', 'alerts.yml')) as stream:
        shipped = set(re.findall(r'alert: (\w+)', stream.read()))
    assert tested == shipped


def test_promtool_finds_the_rendered_text_clean():
    facts, _warnings = metrics.collect(host())
    facts['pools']['images']['name'] = 'odd "name"\nhere'
    text = metrics.render(facts, started=1.0, duration=0.1)
    proc = subprocess.run(['promtool', 'check', 'metrics'], input=text, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0 and proc.stdout == '', proc.stdout


def test_role_defaults_are_what_its_argument_spec_documents():
    import yaml
    with open(os.path.join(ROLE, 'defaults', 'main.yml')) as stream:
        defaults = yaml.safe_load(stream)
    with open(os.path.join(ROLE, 'meta', 'argument_specs.yml')) as stream:
        options = yaml.safe_load(stream)['argument_specs']['main']['options']
    assert sorted(defaults) == sorted(options)
    for name, spec in options.items():
        assert spec['default'] == defaults[name], name
        assert spec.get('description'), name
    assert defaults['storage_metrics_textfile_dir'] == '/var/lib/prometheus/node-exporter'
    assert defaults['storage_metrics_volume_limit'] == metrics.DEFAULT_VOLUME_LIMIT
    assert os.path.join(defaults['storage_metrics_textfile_dir'], defaults['storage_metrics_file_name']) == \
        metrics.DEFAULT_OUTPUT


def _pack(source, archive, *files):
    script = os.path.join(ROLE, 'files', 'pack_collector.py')
    proc = subprocess.run([sys.executable, script, str(source), str(archive)] + [str(path) for path in files],
                          stdout=subprocess.PIPE, universal_newlines=True, check=True)
    return proc.stdout.strip()


def test_pack_collector_packs_the_collector_and_the_module_utils_sources(tmp_path):
    import tarfile
    archive = tmp_path / 'm.tar.gz'
    source = os.path.join(REPO, 'plugins', 'module_utils')
    collector = os.path.join(ROLE, 'files', 'kvmops_storage_metrics.py')
    digest = _pack(source, archive, collector)
    with tarfile.open(str(archive)) as tar:
        members = tar.getmembers()
        marker = tar.extractfile('PACKED').read().decode()
    names = sorted(member.name for member in members)
    prefix = 'ansible_collections/kvmops/storage/plugins/module_utils/'
    expected = sorted(['kvmops_storage_metrics.py', 'PACKED'] + [
        prefix + os.path.relpath(os.path.join(directory, name), source)
        for directory, _dirs, files in os.walk(source) if '__pycache__' not in directory
        for name in files if name.endswith('.py')])
    assert names == expected
    assert members[-1].name == 'PACKED' and marker == digest and len(digest) == 64
    assert prefix + 'metrics.py' in names and prefix + 'backends/dir.py' in names
    assert all(member.isfile() and member.mode == 0o644 and member.uid == 0 for member in members)


def test_pack_collector_digest_changes_with_a_name_or_a_content_only(tmp_path):
    source = tmp_path / 'src'
    source.mkdir()
    (source / 'a.py').write_text('x = 1\n')
    (source / 'notes.txt').write_text('not packed\n')
    first = _pack(source, tmp_path / '1.tgz')
    assert _pack(source, tmp_path / '2.tgz') == first, 'the same files, the same digest'
    (source / 'notes.txt').write_text('changed, still not packed\n')
    assert _pack(source, tmp_path / '3.tgz') == first
    os.utime(str(source / 'a.py'), (1, 1))
    assert _pack(source, tmp_path / '4.tgz') == first, 'a modification time alone is no change'
    (source / 'a.py').write_text('x = 2\n')
    changed = _pack(source, tmp_path / '5.tgz')
    (source / 'a.py').rename(source / 'b.py')
    renamed = _pack(source, tmp_path / '6.tgz')
    assert len({first, changed, renamed}) == 3
