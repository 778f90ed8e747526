"""The CSV of playbooks/capacity_report.yml: a volume whose name a spreadsheet would run as a formula
comes out as text."""

import csv
import os

import pytest

from helpers import REPO, run_playbook, virsh

pytestmark = pytest.mark.libvirt

PLAYBOOK = os.path.join(REPO, 'playbooks', 'capacity_report.yml')
# names a spreadsheet reads as formulas, and names that only contain the characters
FORMULAS = ['=HYPERLINK("x","y")', '+1+2', '-2+3', '@SUM(1)']
PLAIN = ['vi-a=b.raw', 'vi-plain.raw']


@pytest.fixture
def pool(tmp_path):
    name = 'vi-csv-%d' % os.getpid()
    path = str(tmp_path / 'pool')
    virsh('pool-define-as', name, 'dir', '--target', path)
    try:
        virsh('pool-build', name)
        virsh('pool-start', name)
        for index, vol in enumerate(FORMULAS + PLAIN):
            xml = tmp_path / ('vol%d.xml' % index)
            xml.write_text("<volume><name>%s</name><capacity unit='M'>1</capacity><target><format type='raw'/>"
                           "</target></volume>" % vol.replace('&', '&amp;').replace('<', '&lt;'))
            virsh('vol-create', name, str(xml))
        yield name, path
    finally:
        virsh('pool-destroy', name, check=False)
        virsh('pool-undefine', name, check=False)


def test_formula_cells_are_neutralized(pool, tmp_path):
    name, path = pool
    out = tmp_path / 'out'
    run = run_playbook(PLAYBOOK, extra_vars={
        'report_dir': str(out), 'report_pools': [name],
        'ansible_python_interpreter': os.path.join(REPO, '.venv', 'bin', 'python')})
    assert run.rc == 0, run.output
    text = (out / 'capacity.csv').read_text(encoding='utf-8')
    assert '"\'=HYPERLINK(""x"",""y"")"' in text
    with open(str(out / 'capacity.csv'), newline='', encoding='utf-8') as handle:
        rows = dict((row['volume'], row) for row in csv.DictReader(handle))
    assert sorted(rows) == sorted(["'" + vol for vol in FORMULAS] + PLAIN)
    for vol in FORMULAS + PLAIN:
        row = rows[("'" + vol) if vol in FORMULAS else vol]
        # the path begins with /, so it is written as it is
        assert row['volume_path'] == os.path.join(path, vol)
        assert row['volume_capacity'] == str(1024 * 1024)
        assert row['pool'] == name and row['volume_format'] == 'raw'
    # no text cell of any row begins with a character a spreadsheet runs
    for row in rows.values():
        for column, value in row.items():
            assert value[:1] not in ('=', '+', '-', '@'), (column, value)
