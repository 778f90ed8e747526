# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The memory of the capacity report (playbooks/capacity_report.yml): the points each run adds, the
history file they are kept in, and each pool's trend with the date it fills. The filters in
plugins/filter/capacity.py are thin wrappers around these functions.

A point is one pool of one host at one time::

    {"time": "2026-12-02T14:00:00Z", "host": "hv1", "pool": "images",
     "capacity": 107374182400, "allocation": 53687091200, "available": 53687091200,
     "provisioned": 161061273600}

``provisioned`` (the sum of the capacities of the pool's volumes) is there when the facts had it.
The history file holds one point per line, as JSON (JSON lines), oldest first. A line that is not a
point (a line cut short by a full disk, an edit by hand) is skipped and its number reported; the
next write leaves it out. Growth is bounded: a pool keeps its last ``keep`` points, and points more
than ``days`` days older than the newest point of the file are dropped (so a pool that is gone
leaves the file after ``days`` days).

The fill estimate: a least-squares line of allocation over time, fitted to the points of the last
``window_days`` days since the pool's capacity last changed. It is given only when that window has
at least ``min_points`` points spanning at least ``min_hours`` hours and the line rises; the date is
where the line reaches the pool's limit, its latest allocation plus available (what libvirt says
the pool can still hold), and more than ten years away is no estimate.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import datetime
import functools
import json
import re

SIZE_FIELDS = ('capacity', 'allocation', 'available')
OPTIONAL_FIELDS = ('provisioned',)
TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'
_TIME_RE = re.compile(r'^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$')
DAY = 86400.0
HORIZON_DAYS = 3650

DEFAULTS = {
    'keep': 500,
    'days': 366,
    'min_points': 3,
    'min_hours': 24.0,
    'window_days': 30.0,
    'chart_points': 90,
}

# the trend chart: a viewBox of WIDTH x HEIGHT with PAD around the plot
WIDTH, HEIGHT, PAD = 240, 56, 3


def parse_time(text):
    """Seconds since the epoch of a ``YYYY-MM-DDTHH:MM:SSZ`` time (UTC); ValueError otherwise."""
    match = _TIME_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError('not a time of the form YYYY-MM-DDTHH:MM:SSZ: %r' % (text,))
    fields = tuple(int(part) for part in match.groups())
    datetime.datetime(*fields)  # ValueError for a month 13, a 31 February...
    return calendar.timegm(fields + (0, 0, 0))


@functools.lru_cache(maxsize=4096)  # the points of one run share their time
def _valid_time(text):
    """True for a ``YYYY-MM-DDTHH:MM:SSZ`` time. Times in that form sort as text in time order."""
    if not isinstance(text, str):
        return False
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


def format_time(seconds, fmt=TIME_FORMAT):
    """A time in seconds since the epoch as UTC text (``fmt`` for strftime)."""
    return (datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)).strftime(fmt)


def _size(value):
    """``value`` as a size in bytes (an int of at least 0, not a bool), or None."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return int(value)


def as_point(obj):
    """The point ``obj`` describes (a new dict in the file's field order), or None when it is not one."""
    if not isinstance(obj, dict):
        return None
    time, host, pool = obj.get('time'), obj.get('host'), obj.get('pool')
    if not isinstance(host, str) or not host or not isinstance(pool, str) or not pool:
        return None
    if not isinstance(time, str) or not _valid_time(time):
        return None
    point = {'time': str(time), 'host': str(host), 'pool': str(pool)}
    for field in SIZE_FIELDS:
        value = _size(obj.get(field))
        if value is None:
            return None
        point[field] = value
    for field in OPTIONAL_FIELDS:
        if obj.get(field) is not None:
            value = _size(obj[field])
            if value is None:
                return None
            point[field] = value
    return point


def run_points(facts_by_host, hosts, time):
    """The points of one run: one per active pool with a capacity, of each host in ``hosts``.

    ``facts_by_host`` maps a host to its variables (``hostvars``) or directly to its
    ``libvirt_storage`` facts; ``time`` is the run's time (``YYYY-MM-DDTHH:MM:SSZ``)."""
    parse_time(time)
    points = []
    for host in sorted(set(hosts)):
        data = facts_by_host.get(host) or {}
        if 'pools' not in data:
            data = (data.get('ansible_facts') or {}).get('libvirt_storage') or {}
        pools = data.get('pools') or {}
        for name in sorted(pools):
            pool = pools[name]
            if pool.get('state') != 'active' or not pool.get('capacity'):
                continue  # an inactive pool reports no figures
            point = {'time': str(time), 'host': str(host), 'pool': str(name)}
            for field in SIZE_FIELDS:
                point[field] = int(pool.get(field) or 0)
            for field in OPTIONAL_FIELDS:
                if pool.get(field) is not None:
                    point[field] = int(pool[field])
            points.append(point)
    return points


def parse_history(text):
    """(points, skipped): the points of a history file's text and the numbers (from 1) of the
    lines that are not points; empty lines are neither."""
    points, skipped = [], []
    loads = json.loads
    for number, line in enumerate((text or '').split('\n'), 1):
        if not line or line.isspace():
            continue
        try:
            point = as_point(loads(line))
        except ValueError:
            point = None
        if point is None:
            skipped.append(number)
        else:
            points.append(point)
    return points, skipped


def merge(old, new, keep=DEFAULTS['keep'], days=DEFAULTS['days'], old_checked=False):
    """The history after a run: ``old`` points and then ``new`` ones (a point of the same host, pool
    and time replaces the earlier one), oldest first, each pool cut to its last ``keep`` points and
    points older than ``days`` days before the newest one left out. Items that are not points are
    left out; ``old_checked`` says the old ones are points already (from parse_history())."""
    keep, days = int(keep), float(days)
    if keep < 1 or days <= 0:
        raise ValueError('keep must be at least 1 and days above 0 (got keep=%r, days=%r)' % (keep, days))
    by_key = {}
    checked = (old if old_checked else (as_point(point) for point in old), (as_point(point) for point in new))
    for points in checked:
        for point in points:
            if point is not None:
                by_key[(point['host'], point['pool'], point['time'])] = point
    if not by_key:
        return []
    newest = max(time for _host, _pool, time in by_key)
    oldest = format_time(parse_time(newest) - days * DAY)
    series = {}
    for (host, pool, time), point in by_key.items():
        if time >= oldest:
            series.setdefault((host, pool), []).append(point)
    kept = []
    for items in series.values():
        items.sort(key=lambda point: point['time'])
        kept.extend(items[-keep:])
    kept.sort(key=lambda point: (point['time'], point['host'], point['pool']))
    return kept


def dump_history(points):
    """The text of a history file: one JSON object per line, each line ending with a newline."""
    dumps = json.JSONEncoder(separators=(', ', ': ')).encode
    return ''.join([dumps(point) + '\n' for point in points])


def update_history(text, new, keep=DEFAULTS['keep'], days=DEFAULTS['days']):
    """A history file's text with the points ``new`` added (see merge()): a dict with the new ``text``,
    its number of ``points`` and the numbers of the lines of the old text that were ``skipped``."""
    old, skipped = parse_history(text)
    points = merge(old, new, keep, days, old_checked=True)
    return {'text': dump_history(points), 'points': len(points), 'skipped': skipped}


def fit(xs, ys):
    """(slope, intercept) of the least-squares line through the points; None when every x is the same."""
    count = len(xs)
    if count < 2 or count != len(ys):
        return None
    mean_x, mean_y = sum(xs) / count, sum(ys) / count
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sxx
    return slope, mean_y - slope * mean_x


def _plural(count, word):
    return '%d %s%s' % (count, word, '' if count == 1 else 's')


def estimate(times, points, min_points=DEFAULTS['min_points'], min_hours=DEFAULTS['min_hours'],
             window_days=DEFAULTS['window_days']):
    """The fill estimate of one pool's points (oldest first) and their times in seconds: a dict with
    ``estimate`` (YYYY-MM-DD or None), ``reason`` (why there is none), ``days_left``, ``growth_per_day``
    (bytes), ``limit``, ``fit_points``, ``span_hours``, ``line`` ((slope, intercept) or None) and
    ``full_at`` (seconds or None)."""
    last = points[-1]
    limit = last['allocation'] + last['available']
    start = len(points) - 1
    since = times[-1] - float(window_days) * DAY
    while start > 0 and points[start - 1]['capacity'] == last['capacity'] and times[start - 1] >= since:
        start -= 1
    resized = start > 0 and points[start - 1]['capacity'] != last['capacity'] and times[start - 1] >= since
    xs = [seconds - times[start] for seconds in times[start:]]
    ys = [point['allocation'] for point in points[start:]]
    span = xs[-1]
    result = {'estimate': None, 'reason': None, 'days_left': None, 'growth_per_day': None, 'limit': limit,
              'fit_points': len(xs), 'span_hours': round(span / 3600.0, 1), 'line': None, 'full_at': None}
    after = ' since the capacity changed' if resized else ''
    if len(xs) < int(min_points):
        result['reason'] = 'only %s%s (needs %d)' % (_plural(len(xs), 'point'), after, int(min_points))
        return result
    if span < float(min_hours) * 3600 or span == 0:
        result['reason'] = 'the points%s span %.1f h (needs %g h)' % (after, span / 3600.0, float(min_hours))
        return result
    slope, intercept = fit(xs, ys)
    result['line'] = (slope, intercept - slope * times[start])  # allocation = slope * seconds + intercept
    result['growth_per_day'] = int(round(slope * DAY))
    if slope <= 0:
        result['reason'] = 'usage is not growing'
        return result
    full_at = times[start] + (limit - intercept) / slope
    full_at = max(full_at, times[-1])
    if full_at - times[-1] > HORIZON_DAYS * DAY:
        result['reason'] = 'more than %d years away at the current rate' % (HORIZON_DAYS // 365)
        return result
    result['full_at'] = full_at
    result['estimate'] = format_time(full_at, '%Y-%m-%d')
    result['days_left'] = round((full_at - times[-1]) / DAY, 1)
    return result


def _sample(items, count):
    """At most ``count`` of ``items``, evenly spread, the first and the last always among them."""
    if len(items) <= count or count < 2:
        return list(items)
    step = (len(items) - 1) / float(count - 1)
    return [items[int(round(index * step))] for index in range(count)]


def chart(times, points, forecast, chart_points=DEFAULTS['chart_points']):
    """The geometry of a pool's trend chart (SVG coordinates in a WIDTH x HEIGHT viewBox)."""
    start, end = times[0], times[-1]
    if forecast['full_at'] is not None:
        # the future shown is at most as long as the past, and at least a day
        end = max(end, min(forecast['full_at'], end + max(end - start, DAY)))
    top = max([point['capacity'] for point in points] + [forecast['limit'], 1])

    def x_of(seconds):
        if end == start:
            return float(WIDTH - PAD)
        return PAD + (seconds - start) * (WIDTH - 2 * PAD) / float(end - start)

    def y_of(size):
        size = min(max(size, 0), top)
        return HEIGHT - PAD - size * (HEIGHT - 2 * PAD) / float(top)

    shown = _sample(list(zip(times, points)), int(chart_points))
    used = ['%.1f,%.1f' % (x_of(seconds), y_of(point['allocation'])) for seconds, point in shown]
    capacity = ['%.1f,%.1f' % (x_of(seconds), y_of(point['capacity'])) for seconds, point in shown]
    base = y_of(0)
    geometry = {
        'width': WIDTH, 'height': HEIGHT, 'top': top,
        'used': ' '.join(used), 'capacity': ' '.join(capacity),
        'area': 'M%.1f,%.1f L%s L%.1f,%.1f Z' % (x_of(shown[0][0]), base, ' L'.join(used),
                                                 x_of(shown[-1][0]), base),
        'last_x': round(x_of(times[-1]), 1), 'last_y': round(y_of(points[-1]['allocation']), 1),
        'start': format_time(start, '%Y-%m-%d'), 'end': format_time(end, '%Y-%m-%d'),
        'fit': '', 'fill_x': None, 'fill_y': None,
    }
    if forecast['line'] is not None:
        slope, intercept = forecast['line']
        first = times[len(times) - forecast['fit_points']]
        geometry['fit'] = '%.1f,%.1f %.1f,%.1f' % (x_of(first), y_of(slope * first + intercept),
                                                   x_of(end), y_of(slope * end + intercept))
    if forecast['full_at'] is not None and forecast['full_at'] <= end:
        geometry['fill_x'] = round(x_of(forecast['full_at']), 1)
        geometry['fill_y'] = round(y_of(forecast['limit']), 1)
    return geometry


def trends(history, min_points=DEFAULTS['min_points'], min_hours=DEFAULTS['min_hours'],
           window_days=DEFAULTS['window_days'], chart_points=DEFAULTS['chart_points']):
    """``{host: {pool: trend}}`` of a history (the text of a history file, or a list of points): for each
    pool its point count, first and last time, the latest point, the fill estimate (see estimate())
    and the chart geometry (see chart())."""
    if history is None or isinstance(history, str):
        points = parse_history(history)[0]
    else:
        points = [point for point in (as_point(item) for item in history) if point is not None]
    series = {}
    seconds_of = {}
    for point in points:
        time = point['time']
        if time not in seconds_of:
            seconds_of[time] = parse_time(time)
        series.setdefault((point['host'], point['pool']), []).append((seconds_of[time], point))
    result = {}
    for (host, pool), items in sorted(series.items()):
        items.sort(key=lambda item: item[0])
        times = [seconds for seconds, _point in items]
        pool_points = [point for _seconds, point in items]
        forecast = estimate(times, pool_points, min_points, min_hours, window_days)
        trend = dict(forecast, points=len(items), first=pool_points[0]['time'], last=pool_points[-1]['time'],
                     latest=pool_points[-1], chart=chart(times, pool_points, forecast, chart_points))
        del trend['line']
        result.setdefault(host, {})[pool] = trend
    return result
