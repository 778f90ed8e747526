"""units.parse_size / human_size: libvirt's unit convention."""

import pytest

from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError
from ansible_collections.kvmops.storage.plugins.module_utils.units import ACCEPTED_UNITS, human_size, parse_size

KiB, MiB, GiB, TiB, PiB, EiB = (1024 ** n for n in range(1, 7))


@pytest.mark.parametrize('value, expected', [
    ('40G', 40 * GiB),
    ('40GiB', 40 * GiB),
    ('40GB', 40 * 10 ** 9),
    ('1.5 TB', 1500 * 10 ** 9),
    ('1.5 TiB', int(1.5 * TiB)),
    (42949672960, 42949672960),
    ('42949672960', 42949672960),
    ('512', 512),
    ('512b', 512),
    ('512 bytes', 512),
    ('1 byte', 1),
    ('1.5 KiB', 1536),
    ('1.5K', 1536),
    ('2KB', 2000),
    (0, 0),
    ('0', 0),
    ('0G', 0),
    ('10M', 10 * MiB),
    ('10MB', 10 * 10 ** 6),
    ('1P', PiB),
    ('1PB', 10 ** 15),
    ('1E', EiB),
    ('1EB', 10 ** 18),
    ('  7 GiB  ', 7 * GiB),
    ('.5G', GiB // 2),
    ('1.', 1),
    (3.0, 3),
])
def test_parse_size(value, expected):
    result = parse_size(value)
    assert result == expected
    assert type(result) is int  # pylint: disable=unidiomatic-typecheck


@pytest.mark.parametrize('value, expected', [
    ('40g', 40 * GiB),
    ('40gib', 40 * GiB),
    ('40GIB', 40 * GiB),
    ('40gb', 40 * 10 ** 9),   # the B selects decimal whatever its case, as virsh reads it
    ('40Gb', 40 * 10 ** 9),
    ('40m', 40 * MiB),
    ('3k', 3 * KiB),
    ('3t', 3 * TiB),
    ('9B', 9),
    ('9BYTES', 9),
])
def test_parse_size_units_are_case_insensitive(value, expected):
    assert parse_size(value) == expected


def test_parse_size_unknown_unit_names_option_and_lists_units():
    with pytest.raises(ValidationError) as info:
        parse_size('10 parsecs', 'capacity')
    err = info.value
    assert err.option == 'capacity'
    assert err.details['option'] == 'capacity'
    assert err.msg.startswith('capacity:')
    assert 'parsecs' in err.msg
    assert ACCEPTED_UNITS in err.msg
    for unit in ('KiB', 'GiB', 'GB', 'TB', 'bytes'):
        assert unit in err.msg


@pytest.mark.parametrize('value', ['-5G', 'G', '', '   ', '1e3', '1,5G', '5 G B', '0x10', 'ten', '1Ki', '5Q', None, [], {}])
def test_parse_size_rejects(value):
    with pytest.raises(ValidationError) as info:
        parse_size(value, 'allocation')
    assert info.value.option == 'allocation'
    assert 'allocation' in info.value.msg


@pytest.mark.parametrize('value', ['G', '', '1e3', '-5G'])
def test_parse_size_unreadable_lists_units(value):
    with pytest.raises(ValidationError) as info:
        parse_size(value, 'capacity')
    assert ACCEPTED_UNITS in info.value.msg
    assert repr(value) in info.value.msg


@pytest.mark.parametrize('value', [True, False])
def test_parse_size_rejects_booleans(value):
    # bool is an int in Python: YAML "capacity: yes" must not become 1 byte
    with pytest.raises(ValidationError) as info:
        parse_size(value, 'capacity')
    assert info.value.option == 'capacity'
    assert 'boolean' in info.value.msg


@pytest.mark.parametrize('value', [-5, -1.5])
def test_parse_size_rejects_negative_numbers(value):
    with pytest.raises(ValidationError) as info:
        parse_size(value, 'min_available')
    assert info.value.option == 'min_available'
    assert 'negative' in info.value.msg


def test_parse_size_default_option_name():
    with pytest.raises(ValidationError) as info:
        parse_size('lots')
    assert info.value.option == 'size'


@pytest.mark.parametrize('value', [float('inf'), float('nan')])
def test_parse_size_rejects_non_finite_floats(value):
    with pytest.raises(ValidationError) as info:
        parse_size(value, 'min_available')
    assert info.value.option == 'min_available'


@pytest.mark.parametrize('num, expected', [
    (0, '0 B'),
    (1, '1 B'),
    (1023, '1023 B'),
    (1024, '1 KiB'),
    (1536, '1.5 KiB'),
    (10 * MiB, '10 MiB'),
    (40 * GiB, '40 GiB'),
    (int(1.5 * TiB), '1.5 TiB'),
    (100 * GiB, '100 GiB'),
    (PiB, '1 PiB'),
    (2048 * PiB, '2048 PiB'),   # PiB is the largest unit
])
def test_human_size(num, expected):
    assert human_size(num) == expected


def test_human_size_reads_back():
    for text in ('1.5 KiB', '40 GiB', '10 MiB', '3 TiB'):
        assert human_size(parse_size(text)) == text
