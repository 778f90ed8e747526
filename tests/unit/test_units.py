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
    ('40giB', 40 * GiB),
    ('40GIB', 40 * GiB),
    ('40gB', 40 * 10 ** 9),   # the prefix takes either case; the B must be a capital
    ('40kB', 40 * 10 ** 3),
    ('40m', 40 * MiB),
    ('3k', 3 * KiB),
    ('3t', 3 * TiB),
    ('3P', 3 * PiB),
    ('3E', 3 * EiB),
    ('9B', 9),
    ('9b', 9),
    ('9BYTES', 9),
])
def test_parse_size_prefix_letters_take_either_case(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize('value, unit, hint', [
    ('10 Mb', 'Mb', 'write MB (powers of 1000) or M/MiB (powers of 1024)'),
    ('10mb', 'mb', 'write MB (powers of 1000) or M/MiB (powers of 1024)'),
    ('40gb', 'gb', 'write GB (powers of 1000) or G/GiB (powers of 1024)'),
    ('40Gib', 'Gib', 'write GB (powers of 1000) or G/GiB (powers of 1024)'),
    ('1kb', 'kb', 'write KB (powers of 1000) or K/KiB (powers of 1024)'),
])
def test_parse_size_refuses_a_lowercase_b_after_a_prefix(value, unit, hint):
    with pytest.raises(ValidationError) as info:
        parse_size(value, 'capacity')
    assert info.value.option == 'capacity'
    assert info.value.msg == 'capacity: %r: the unit %r ends in a lowercase b, which reads as bits; %s' % (
        value, unit, hint)


@pytest.mark.parametrize('value, unit, power', [('10 p', 'p', 5), ('10p', 'p', 5), ('2 e', 'e', 6)])
def test_parse_size_refuses_a_lone_lowercase_p_or_e(value, unit, power):
    with pytest.raises(ValidationError) as info:
        parse_size(value, 'capacity')
    letter = unit.upper()
    expected = ('capacity: %r: the unit %r is easily a typo (it would mean 1024**%d bytes); write %s or %siB (powers '
                'of 1024), or %sB (powers of 1000)' % (value, unit, power, letter, letter, letter))
    assert info.value.msg == expected


@pytest.mark.parametrize('value, expected', [('10 Mb', 10 * 10 ** 6), ('10 p', 10 * PiB), ('1gib', GiB), ('2kb', 2000)])
def test_parse_size_libvirt_units_reads_xml_units_as_libvirt_does(value, expected):
    # <capacity unit='mb'> is libvirt's own XML: libvirt reads units case-insensitively there
    assert parse_size(value, 'xml <capacity>', libvirt_units=True) == expected


@pytest.mark.parametrize('value', [1.5, '1.5', ' 1.5 ', '.5', 0.25, '1.5b', '2.5 bytes'])
def test_parse_size_refuses_a_fraction_of_a_byte(value):
    with pytest.raises(ValidationError) as info:
        parse_size(value, 'volumes[2].capacity')
    assert info.value.option == 'volumes[2].capacity'
    if isinstance(value, str) and value.strip()[-1].isalpha():
        assert info.value.msg == 'volumes[2].capacity: %r is not a whole number of bytes' % (value,)
    else:
        assert info.value.msg == (
            'volumes[2].capacity: %r has no unit, so it is bytes, and it is not a whole number of bytes; write the '
            'unit, e.g. %sG (%s)' % (value, str(value).strip(), ACCEPTED_UNITS))


@pytest.mark.parametrize('value, expected', [(2.0, 2), ('2.0', 2), ('1.1K', 1126), ('0.5K', 512)])
def test_parse_size_whole_bytes_and_fractions_with_a_unit(value, expected):
    # a unitless number that is whole is bytes; with a unit a fraction of a byte is dropped
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
