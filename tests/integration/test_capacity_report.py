"""playbooks/capacity_report.yml against the real libvirtd on localhost: the CSV rows, the HTML
contents, and the page rendered by headless Chromium (a screenshot that is a real, non-blank PNG,
and the DOM Chromium built)."""

import csv
import os
import shutil
import struct
import subprocess
import zlib

import pytest

from helpers import REPO, define_domain, run_playbook, virsh

pytestmark = pytest.mark.libvirt

PLAYBOOK = os.path.join(REPO, 'playbooks', 'capacity_report.yml')
MIB = 1024 * 1024
ODD = 'odd<b>&"name.raw'
# the bar colour of a pool over the threshold (templates/capacity_report.html.j2)
OVER_RGB = (0xd9, 0x48, 0x3b)


@pytest.fixture(scope='module')
def fleet(tmp_path_factory):
    """A started dir pool (a golden image, an overlay on it, a big unused volume, a volume with
    HTML in its name, a volume a defined domain uses, an image only an overlay in another pool is
    backed by), that other pool, and an inactive pool."""
    tag = os.getpid()
    base = tmp_path_factory.mktemp('it-fct-report')
    name, off, other = 'it-fct-rep-%d' % tag, 'it-fct-rep-off-%d' % tag, 'it-fct-rep-ovl-%d' % tag
    path = str(base / 'pool')
    domain = 'it-fct-rep-dom-%d' % tag
    pools, defined = [], []
    try:
        virsh('pool-define-as', name, 'dir', '--target', path)
        pools.append(name)
        virsh('pool-build', name)
        virsh('pool-start', name)
        virsh('pool-define-as', off, 'dir', '--target', str(base / 'off'))
        pools.append(off)
        virsh('vol-create-as', name, 'golden.qcow2', '2G', '--format', 'qcow2')
        virsh('vol-create-as', name, 'web1.qcow2', '2G', '--format', 'qcow2',
              '--backing-vol', os.path.join(path, 'golden.qcow2'), '--backing-vol-format', 'qcow2')
        virsh('vol-create-as', name, 'big.raw', '20G', '--format', 'raw')
        virsh('vol-create-as', name, 'db.raw', '64M', '--allocation', '64M', '--format', 'raw')
        virsh('vol-create-as', name, 'base2.qcow2', '1G', '--format', 'qcow2')
        virsh('pool-define-as', other, 'dir', '--target', str(base / 'ovl'))
        pools.append(other)
        virsh('pool-build', other)
        virsh('pool-start', other)
        virsh('vol-create-as', other, 'clone.qcow2', '1G', '--format', 'qcow2',
              '--backing-vol', os.path.join(path, 'base2.qcow2'), '--backing-vol-format', 'qcow2')
        odd_xml = base / 'odd.xml'
        odd_xml.write_text("<volume><name>odd&lt;b&gt;&amp;\"name.raw</name><capacity unit='M'>8</capacity>"
                           "<target><format type='raw'/></target></volume>")
        virsh('vol-create', name, str(odd_xml))
        define_domain(domain, os.path.join(path, 'db.raw'), 'raw', base)
        defined.append(domain)
        yield {'pool': name, 'off': off, 'other': other, 'path': path, 'domain': domain, 'dir': base}
    finally:
        for dom in defined:
            virsh('undefine', dom, check=False)
        for pool in pools:
            virsh('pool-destroy', pool, check=False)
            virsh('pool-undefine', pool, check=False)


@pytest.fixture(scope='module')
def report(fleet):
    out = fleet['dir'] / 'out'
    run = run_playbook(PLAYBOOK, extra_vars={
        'report_dir': str(out), 'report_threshold': 0.01, 'report_top': 3,
        'report_pools': [fleet['pool'], fleet['off'], fleet['other']], 'report_title': 'it-fct <fleet> report',
        'ansible_python_interpreter': os.path.join(REPO, '.venv', 'bin', 'python')})
    assert run.rc == 0, run.output
    assert run.recap['localhost']['failures'] == 0
    html = out / 'capacity.html'
    csv_path = out / 'capacity.csv'
    assert html.is_file() and csv_path.is_file()
    return {'html': str(html), 'csv': str(csv_path), 'text': html.read_text(encoding='utf-8')}


def test_csv_rows(fleet, report):
    with open(report['csv'], newline='', encoding='utf-8') as handle:
        rows = list(csv.DictReader(handle))
    mine = dict((row['volume'], row) for row in rows if row['pool'] == fleet['pool'])
    assert sorted(mine) == sorted(['base2.qcow2', 'big.raw', 'db.raw', 'golden.qcow2', 'web1.qcow2', ODD])
    assert mine['big.raw']['volume_capacity'] == str(20 * 1024 * MIB)
    assert mine['db.raw']['used_by'] == fleet['domain']
    assert mine['web1.qcow2']['backing_store'] == os.path.join(fleet['path'], 'golden.qcow2')
    assert mine[ODD]['volume_path'] == os.path.join(fleet['path'], ODD), 'quotes survive the CSV round trip'
    for row in mine.values():
        assert row['host'] == 'localhost' and row['pool_state'] == 'active' and row['over_threshold'] == 'yes'
        assert int(row['pool_capacity']) > 0 and float(row['pool_usage_percent']) > 0
    # the pool's provisioned bytes are its volumes' capacities; a sparse raw file's physical size is its length
    provisioned = sum(int(row['volume_capacity']) for row in mine.values())
    assert {row['pool_provisioned'] for row in mine.values()} == {str(provisioned)}
    assert {float(row['pool_overcommit_ratio']) for row in mine.values()} == {
        round(float(provisioned) / int(mine['big.raw']['pool_capacity']), 3)}
    assert mine['big.raw']['volume_physical'] == str(20 * 1024 * MIB)
    off = [row for row in rows if row['pool'] == fleet['off']]
    assert len(off) == 1 and off[0]['volume'] == '' and off[0]['pool_state'] == 'inactive'
    assert off[0]['pool_usage_percent'] == '' and off[0]['over_threshold'] == 'no'
    assert {row['pool'] for row in rows} == {fleet['pool'], fleet['off'], fleet['other']}


def test_html_contents(fleet, report):
    text = report['text']
    assert text.startswith('<!DOCTYPE html>')
    assert fleet['pool'] in text and fleet['off'] in text
    assert 'odd&lt;b&gt;&amp;&#34;name.raw' in text and ODD not in text, 'names are HTML-escaped'
    assert 'it-fct &lt;fleet&gt; report' in text
    assert '<tr class="over"><td>localhost</td><td>%s</td>' % fleet['pool'] in text
    assert '<tr><td>localhost</td><td>%s</td>' % fleet['off'] in text, 'an inactive pool is not highlighted'
    assert text.count('<details class="host"') == 1 and '<details class="host" id="host-1" open>' in text
    assert text.count('<svg class="bar"') == 3 and '#d9483b' in text, 'a usage bar per pool, red over the threshold'
    assert text.count('<svg class="trend"') == 2, 'a history chart per active pool'
    assert '<svg class="trend"' not in text.split('data-pool="%s"' % fleet['off'])[1].split('</tr>')[0]
    largest = text.split('id="largest"')[1].split('</section>')[0]
    assert largest.index('big.raw') < largest.index('golden.qcow2') and 'db.raw' not in largest, 'top 3 by capacity'
    unused = text.split('id="unused"')[1].split('</section>')[0]
    assert 'big.raw' in unused and 'web1.qcow2' in unused
    assert 'db.raw' not in unused, 'a disk of a defined domain is used'
    assert 'golden.qcow2' not in unused, 'a backing store is used'
    assert 'base2.qcow2' not in unused, 'a backing store of an overlay in another pool is used'
    for forbidden in ('http://', 'https://', '<script', '<link'):
        assert forbidden not in text.replace('http://www.w3.org/2000/svg', ''), forbidden


def _chromium(tmp_path, *args):
    exe = shutil.which('chromium')
    if exe is None:
        pytest.fail('chromium is not installed (scripts/setup.sh installs it)')
    profile = tmp_path / ('profile-%d' % len(list(tmp_path.iterdir())))
    profile.mkdir()
    argv = [exe, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
            '--user-data-dir=%s' % profile] + list(args)
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=180, check=False)


def _png_rows(path, max_rows):
    """(width, height, rows of RGB tuples) of an 8-bit, non-interlaced RGB or RGBA PNG; only the
    first ``max_rows`` rows are decoded."""
    with open(path, 'rb') as handle:
        data = handle.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        crc = struct.unpack('>I', data[pos + 8 + length:pos + 12 + length])[0]
        assert zlib.crc32(kind + chunk) & 0xffffffff == crc, 'bad CRC in chunk %r' % kind
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', chunk)
        elif kind == b'IDAT':
            idat.append(chunk)
        elif kind == b'IEND':
            break
        pos += 12 + length
    width, height, depth, color, _comp, _filter, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(b''.join(idat))
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(min(height, max_rows)):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xff
        elif kind == 2:
            line = bytearray((a + b) & 0xff for a, b in zip(line, prev))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xff
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xff
        rows.append([tuple(line[i:i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def test_rendered_in_headless_chromium(fleet, report, tmp_path):
    png = tmp_path / 'report.png'
    url = 'file://' + report['html']
    shot = _chromium(tmp_path, '--screenshot=%s' % png, '--window-size=1280,2000', url)
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert png.is_file() and png.stat().st_size > 20000, 'a screenshot of non-trivial size'
    width, height, rows = _png_rows(str(png), 600)
    assert (width, height) == (1280, 2000)
    colours = set(pixel for row in rows for pixel in row)
    assert len(colours) > 50, 'not a blank page: %d distinct colours in the top rows' % len(colours)
    assert OVER_RGB in colours, 'the usage bar of the pool over the threshold is drawn in red'

    dom = _chromium(tmp_path, '--dump-dom', url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert fleet['pool'] in dom.stdout and fleet['off'] in dom.stdout
    assert 'odd&lt;b&gt;&amp;"name.raw' in dom.stdout, 'the odd name is text, not markup'
    assert '<tr class="over"><td>localhost</td><td>%s</td>' % fleet['pool'] in dom.stdout


def test_unused_list_is_capped_in_the_html(fleet, report):
    out = fleet['dir'] / 'capped'
    run = run_playbook(PLAYBOOK, extra_vars={
        'report_dir': str(out), 'report_unused_top': 1, 'report_pools': [fleet['pool']],
        'ansible_python_interpreter': os.path.join(REPO, '.venv', 'bin', 'python')})
    assert run.rc == 0, run.output
    unused = (out / 'capacity.html').read_text(encoding='utf-8').split('id="unused"')[1].split('</section>')[0]
    # big.raw, web1.qcow2, the odd name and base2.qcow2 (its overlay is in a pool this report leaves
    # out) are unused; the largest allocation is listed, three are counted
    assert unused.count('<tr><td>localhost</td>') == 1
    assert 'and 3 more' in unused
    with open(str(out / 'capacity.csv'), newline='', encoding='utf-8') as handle:
        assert len(list(csv.DictReader(handle))) == 6, 'the CSV keeps every volume'
