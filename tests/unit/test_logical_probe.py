"""LogicalBackend.probe: what a logical pool's build would find, with the host commands faked."""

import pytest
from lxml import etree

from ansible_collections.kvmops.storage.plugins.module_utils.backends import logical
from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import BUILT, FOREIGN, MISSING
from ansible_collections.kvmops.storage.plugins.module_utils.backends.logical import LogicalBackend

POOL = ('<pool type="logical"><name>vg_kvm</name><source><device path="/dev/vdb"/><device path="/dev/vdc"/>'
        '<name>vg_kvm</name></source></pool>')


def probe_with(monkeypatch, answers):
    """Probe POOL where each command (its argv as a tuple) answers from ``answers`` (rc, stdout)."""
    def fake(argv):
        return answers[tuple(argv)]
    monkeypatch.setattr(logical, 'run_probe', fake)
    monkeypatch.setattr(logical, 'blkid_value',
                        lambda device, field: answers[('blkid', device)])
    return LogicalBackend({'name': 'vg_kvm'}).probe(etree.fromstring(POOL))


VGS_NONE = {('vgs', '--noheadings', '-o', 'vg_name', 'vg_kvm'): (5, '')}


def test_existing_volume_group_is_built(monkeypatch):
    result = probe_with(monkeypatch, {('vgs', '--noheadings', '-o', 'vg_name', 'vg_kvm'): (0, 'vg_kvm')})
    assert result.state == BUILT


def test_blank_devices_are_missing(monkeypatch):
    result = probe_with(monkeypatch, {**VGS_NONE, ('blkid', '/dev/vdb'): '', ('blkid', '/dev/vdc'): ''})
    assert result.state == MISSING


def test_file_system_is_foreign(monkeypatch):
    result = probe_with(monkeypatch, {**VGS_NONE, ('blkid', '/dev/vdb'): 'ext4', ('blkid', '/dev/vdc'): ''})
    assert result.state == FOREIGN and result.what == '/dev/vdb holds ext4'


def test_physical_volume_of_another_group_is_foreign(monkeypatch):
    answers = {**VGS_NONE, ('blkid', '/dev/vdb'): '', ('blkid', '/dev/vdc'): 'LVM2_member',
               ('pvs', '--noheadings', '-o', 'vg_name', '/dev/vdc'): (0, '  vg_other')}
    result = probe_with(monkeypatch, answers)
    assert result.state == FOREIGN
    assert result.what == '/dev/vdc is a physical volume of volume group vg_other'


@pytest.mark.parametrize('pvs, state', [((0, ''), MISSING), ((5, ''), None)])
def test_orphan_physical_volume(monkeypatch, pvs, state):
    """A physical volume in no group may be built on; when pvs cannot tell, the probe cannot either."""
    answers = {**VGS_NONE, ('blkid', '/dev/vdb'): 'LVM2_member', ('blkid', '/dev/vdc'): '',
               ('pvs', '--noheadings', '-o', 'vg_name', '/dev/vdb'): pvs}
    result = probe_with(monkeypatch, answers)
    assert (result.state if result is not None else None) == state
