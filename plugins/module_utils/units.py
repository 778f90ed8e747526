# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizes in and out, with libvirt's unit convention.

``K``, ``M``, ``G``... and ``KiB``, ``MiB``, ``GiB``... are powers of 1024;
``KB``, ``MB``, ``GB``... are powers of 1000; ``b``/``bytes`` or no unit are
bytes, as ``virsh vol-create-as`` reads them.

What a task writes is read strictly, so that a typo cannot make a volume of
the wrong size: a number without a unit must be a whole number of bytes
(``1.5`` is refused: ``1.5G`` was meant, or ``1.5 bytes`` cannot be); the
prefix letter takes either case (``40g``, ``kB``), but a unit that ends in a
lowercase ``b`` after a prefix (``Mb``, ``gb``, ``Gib``) reads as bits and is
refused, and so are the one-letter ``p`` and ``e`` in lowercase (``10 p`` is
10 PiB: write ``P``/``PiB`` or ``PB``).  A fraction of a byte left by a
fractional size with a unit (``1.1G``) is dropped.

Sizes in libvirt XML follow libvirt's own, case-insensitive reading
(``libvirt_units=True``): there ``unit='mb'`` is 10**6 bytes.
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
    """Return the byte multiplier for ``unit`` (libvirt's case-insensitive reading) or None if unknown."""
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


def _ambiguity(unit):
    """Why ``unit`` (one libvirt reads) is refused in a task, or None: a lowercase b after a prefix
    reads as bits, a lone lowercase p or e as anything but a size."""
    letter = unit[:1].upper()
    if len(unit) > 1 and unit[0].lower() in _PREFIXES and unit[-1] == 'b':
        return ('the unit %r ends in a lowercase b, which reads as bits; write %sB (powers of 1000) or %s/%siB '
                '(powers of 1024)' % (unit, letter, letter, letter))
    if unit in ('p', 'e'):
        return ('the unit %r is easily a typo (it would mean 1024**%d bytes); write %s or %siB (powers of 1024), '
                'or %sB (powers of 1000)' % (unit, _PREFIXES.index(unit) + 1, letter, letter, letter))
    return None


def parse_size(value, option='size', libvirt_units=False):
    """Turn ``40G``, ``"1.5 TB"``, ``42949672960`` into an integer of bytes.

    Raises ValidationError naming ``option`` on anything else (see the module docstring for what
    is refused as ambiguous); with ``libvirt_units`` units are read as libvirt reads XML units.
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
    problem = None if libvirt_units else _ambiguity(unit)
    if problem:
        raise ValidationError(option, '%s: %r: %s' % (option, value, problem))
    if factor == 1 and number != number.to_integral_value():
        if unit:
            raise ValidationError(option, '%s: %r is not a whole number of bytes' % (option, value))
        raise ValidationError(
            option, '%s: %r has no unit, so it is bytes, and it is not a whole number of bytes; write the unit, '
            'e.g. %sG (%s)' % (option, value, str(value).strip(), ACCEPTED_UNITS))
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
