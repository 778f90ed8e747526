# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizes in and out, with libvirt's unit convention.

``K``, ``M``, ``G``... and ``KiB``, ``MiB``, ``GiB``... are powers of 1024;
``KB``, ``MB``, ``GB``... are powers of 1000; ``b``/``bytes`` or no unit are
bytes.  Units are case-insensitive except that the ``B`` in ``KB`` selects
decimal, exactly as ``virsh vol-create-as`` reads them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re
from decimal import Decimal, InvalidOperation

from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError

_PREFIXES = 'kmgtpe'
_SIZE_RE = re.compile(r'^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)\s*$')
ACCEPTED_UNITS = 'b, bytes, K/KiB, M/MiB, G/GiB, T/TiB, P/PiB, E/EiB (powers of 1024), KB, MB, GB, TB, PB, EB (powers of 1000)'


def _unit_factor(unit):
    """Return the byte multiplier for ``unit`` or None if unknown."""
    low = unit.lower()
    if low in ('', 'b', 'byte', 'bytes'):
        return 1
    prefix, rest = low[0], low[1:]
    if prefix not in _PREFIXES:
        return None
    power = _PREFIXES.index(prefix) + 1
    if rest in ('', 'ib'):
        return 1024 ** power
    if rest == 'b':
        return 1000 ** power
    return None


def parse_size(value, option='size'):
    """Turn ``40G``, ``"1.5 TB"``, ``42949672960`` into an integer of bytes.

    Raises ValidationError naming ``option`` on anything else.
    """
    if isinstance(value, bool):
        raise ValidationError(option, '%s: expected a size, got a boolean' % option)
    if isinstance(value, int):
        number, unit = Decimal(value), ''
    elif isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValidationError(option, '%s: %r is not a size' % (option, value))
        number, unit = Decimal(repr(value)), ''
    else:
        match = _SIZE_RE.match(str(value))
        if not match:
            raise ValidationError(
                option, '%s: cannot read %r as a size; write a number with an optional unit: %s'
                % (option, value, ACCEPTED_UNITS))
        try:
            number = Decimal(match.group(1))
        except InvalidOperation:  # pragma: no cover - the regex admits only decimals
            raise ValidationError(option, '%s: %r is not a number' % (option, value))
        unit = match.group(2)
    factor = _unit_factor(unit)
    if factor is None:
        raise ValidationError(
            option, '%s: unknown unit %r in %r; accepted units: %s' % (option, unit, value, ACCEPTED_UNITS))
    if number < 0:
        raise ValidationError(option, '%s: %r is negative; a size must be 0 or more' % (option, value))
    return int(number * factor)


def human_size(num_bytes):
    """Render bytes for people: ``1.5 GiB``."""
    num = float(num_bytes)
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'):
        if abs(num) < 1024 or unit == 'PiB':
            if unit == 'B':
                return '%d B' % num_bytes
            return ('%.1f %s' % (num, unit)).replace('.0 ', ' ')
        num /= 1024.0
    return '%d B' % num_bytes  # pragma: no cover
