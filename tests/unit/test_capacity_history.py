"""The capacity report's history and forecast (module_utils/capacity_history.py and the filters
over it): the least-squares fit, the rule for an estimate, appending to the history file, lines
that are not points, the bounds, and the filters' documentation."""

import inspect
import json
import os
import subprocess
import sys

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.kvmops.storage.plugins.filter import capacity as filters
from ansible_collections.kvmops.storage.plugins.module_utils import capacity_history as history

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GIB = 1024 ** 3
HOUR = 3600
T0 = history.parse_time('2026-11-01T00:00:00Z')


def point(hours, allocation, capacity=100 * GIB, host='hv1', pool='images', available=None, **extra):
    found = {'time': history.format_time(T0 + hours * HOUR), 'host': host, 'pool': pool, 'capacity': capacity,
             'allocation': allocation, 'available': capacity - allocation if available is None else available}
    found.update(extra)
    return found


def trend(points, **options):
    return history.trends(points, **options)[points[0]['host']][points[0]['pool']]


# ---- time -----------------------------------------------------------------------------------
def test_time_round_trip_and_bad_times():
    assert history.format_time(history.parse_time('2026-02-28T23:59:59Z')) == '2026-02-28T23:59:59Z'
    assert history.parse_time('1970-01-02T00:00:00Z') == 86400
    for bad in ('2026-02-30T00:00:00Z', '2026-11-01 00:00:00', '2026-11-01T00:00:00+01:00', 5, None):
        with pytest.raises(ValueError):
            history.parse_time(bad)


# ---- the fit ---------------------------------------------------------------------------------
def test_fit_recovers_an_exact_line():
    slope, intercept = history.fit([0, 1, 2, 3], [5, 7, 9, 11])
    assert slope == pytest.approx(2) and intercept == pytest.approx(5)


def test_fit_is_least_squares():
    # y = x + noise that sums to zero on each side: the line of least squares is y = x
    slope, intercept = history.fit([0, 1, 2, 3, 4], [0.5, 0.5, 2, 3.5, 3.5])
    assert slope == pytest.approx(0.9) and intercept == pytest.approx(0.2)
    # large x (epoch seconds) and large y (bytes) keep their precision: the mean is taken out first
    xs = [T0 + hour * HOUR for hour in range(10)]
    ys = [40 * GIB + hour * GIB for hour in range(10)]
    slope, intercept = history.fit(xs, ys)
    assert slope * HOUR == pytest.approx(GIB, rel=1e-9)
    assert slope * xs[0] + intercept == pytest.approx(40 * GIB, rel=1e-9)


def test_fit_needs_two_distinct_x():
    assert history.fit([1], [1]) is None
    assert history.fit([3, 3, 3], [1, 2, 3]) is None


# ---- the rule for an estimate ----------------------------------------------------------------------
def test_estimate_with_enough_points_is_where_the_line_meets_the_limit():
    # 10 GiB a day on a 100 GiB pool: 40, 50, 60 GiB on three days; 40 GiB left at 10 GiB a day
    found = trend([point(0, 40 * GIB), point(24, 50 * GIB), point(48, 60 * GIB)])
    assert found['estimate'] == '2026-11-07' and found['reason'] is None
    assert found['days_left'] == pytest.approx(4.0)
    assert found['growth_per_day'] == 10 * GIB and found['limit'] == 100 * GIB
    assert found['fit_points'] == 3 and found['span_hours'] == 48.0 and found['points'] == 3


def test_the_limit_is_allocation_plus_available():
    # a file system pool: 5 GiB of its 100 GiB are reserved, so it is full at 95 GiB
    points = [point(h * 24, (40 + 10 * h) * GIB, available=(55 - 10 * h) * GIB) for h in range(3)]
    found = trend(points)
    assert found['limit'] == 95 * GIB and found['days_left'] == pytest.approx(3.5)


def test_too_few_points_give_no_estimate():
    found = trend([point(0, 40 * GIB), point(48, 60 * GIB)])
    assert found['estimate'] is None and found['reason'] == 'only 2 points (needs 3)'
    assert trend([point(0, 1)])['reason'] == 'only 1 point (needs 3)'
    assert trend([point(0, 40 * GIB), point(48, 60 * GIB)], min_points=2)['estimate'] == '2026-11-07'


def test_points_spanning_too_short_a_time_give_no_estimate():
    found = trend([point(0, 40 * GIB), point(1, 50 * GIB), point(2, 60 * GIB)])
    assert found['estimate'] is None and found['reason'] == 'the points span 2.0 h (needs 24 h)'
    assert trend([point(0, 40 * GIB), point(1, 50 * GIB), point(2, 60 * GIB)], min_hours=2)['estimate']
    same_time = trend([point(0, 1), point(0, 2), point(0, 3)], min_hours=0)
    assert same_time['estimate'] is None and same_time['reason'].startswith('the points span 0.0 h')


def test_a_flat_or_falling_trend_gives_no_estimate():
    for allocations in ([50, 50, 50, 50], [60, 55, 50, 45]):
        found = trend([point(24 * day, size * GIB) for day, size in enumerate(allocations)])
        assert found['estimate'] is None and found['reason'] == 'usage is not growing'
        assert found['growth_per_day'] <= 0 and found['chart']['fit'], 'the flat or falling line is drawn'


def test_a_date_more_than_ten_years_away_is_no_estimate():
    found = trend([point(24 * day, 10 * GIB + day * 1024) for day in range(5)])
    assert found['estimate'] is None and found['reason'] == 'more than 10 years away at the current rate'


def test_a_pool_past_its_limit_fills_now():
    # the line through these points is already above the limit at the latest point
    found = trend([point(0, 10 * GIB), point(24, 50 * GIB), point(48, 99 * GIB, available=0)])
    assert found['days_left'] == 0 and found['estimate'] == '2026-11-03'


def test_only_the_points_since_the_capacity_changed_are_fitted():
    grown = [point(24 * day, (40 + 10 * day) * GIB) for day in range(5)]
    grown += [point(24 * (5 + day), (90 + day) * GIB, capacity=200 * GIB) for day in range(2)]
    found = trend(grown)
    assert found['fit_points'] == 2 and found['points'] == 7
    assert found['reason'] == 'only 2 points since the capacity changed (needs 3)'
    grown.append(point(24 * 7, 92 * GIB, capacity=200 * GIB))
    found = trend(grown)
    assert found['fit_points'] == 3 and found['growth_per_day'] == GIB
    assert found['days_left'] == pytest.approx(108.0)


def test_only_the_points_of_the_window_are_fitted():
    # falling for a month, then rising for three days: with a 4-day window the rise is what counts
    points = [point(24 * day, (80 - day) * GIB) for day in range(30)]
    points += [point(24 * (30 + day), (52 + 5 * day) * GIB) for day in range(4)]
    assert trend(points)['reason'] == 'usage is not growing'
    found = trend(points, window_days=3)
    assert found['fit_points'] == 4 and found['growth_per_day'] == 5 * GIB and found['estimate']


def test_chart_geometry_stays_in_the_view_box():
    found = trend([point(0, 40 * GIB), point(24, 50 * GIB), point(48, 60 * GIB)])
    chart = found['chart']
    coords = [tuple(float(n) for n in pair.split(',')) for pair in (chart['used'] + ' ' + chart['fit']).split()]
    assert all(0 <= x <= chart['width'] and 0 <= y <= chart['height'] for x, y in coords)
    assert len(chart['used'].split()) == 3 and len(chart['fit'].split()) == 2
    # the future drawn is as long as the past (48 h), the fill point (4 days ahead) is beyond it
    assert chart['start'] == '2026-11-01' and chart['end'] == '2026-11-05' and chart['fill_x'] is None
    near = trend([point(0, 40 * GIB), point(24, 70 * GIB), point(48, 90 * GIB)])['chart']
    assert near['fill_x'] is not None and near['fill_x'] <= near['width']
    assert trend([point(0, 1)])['chart']['fit'] == ''


def test_chart_draws_at_most_chart_points():
    found = trend([point(day, GIB + day) for day in range(500)], chart_points=50)
    used = found['chart']['used'].split()
    assert len(used) == 50 and found['points'] == 500
    assert used[-1] == '%.1f,%.1f' % (found['chart']['last_x'], found['chart']['last_y'])


# ---- appending to the history ----------------------------------------------------------------------
def test_appending_keeps_the_old_text_and_adds_lines():
    old = history.dump_history([point(0, GIB), point(0, GIB, pool='iso'), point(24, 2 * GIB)])
    new = [point(48, 3 * GIB), point(48, GIB, pool='iso')]
    merged = filters.capacity_history(old, new)
    text = merged['text']
    assert text.startswith(old) and merged['skipped'] == [] and merged['points'] == 5
    assert text[len(old):].splitlines() == [json.dumps(p, separators=(', ', ': ')) for p in new]
    assert text.endswith('\n') and all(json.loads(line) for line in text.splitlines())


def test_a_partial_last_line_is_skipped_and_not_written_again():
    whole = history.dump_history([point(0, GIB), point(24, 2 * GIB)])
    cut = whole + history.dump_history([point(48, 3 * GIB)])[:40]  # a write cut short
    merged = filters.capacity_history(cut, [point(72, 4 * GIB)])
    assert merged['skipped'] == [3] and merged['points'] == 3
    assert [json.loads(line)['time'] for line in merged['text'].splitlines()] == [
        point(h, 0)['time'] for h in (0, 24, 72)]
    assert merged['text'].startswith(whole) and merged['text'].endswith('\n')


def test_lines_that_are_not_points_are_skipped_with_their_numbers():
    good = point(0, GIB)
    lines = [
        json.dumps(good),
        '{"time": "2026-11-01T01:00:00Z", "host": "hv1"',             # cut
        '\x00\x00\x00',                                              # zeros of a crash
        json.dumps(dict(good, allocation=-1)),                       # a negative size
        json.dumps(dict(good, allocation='1G')),                     # not a number
        json.dumps(dict(good, time='yesterday')),                    # not a time
        json.dumps(dict(good, capacity=True)),                       # a boolean is no size
        json.dumps(dict(good, provisioned='x')),                     # a bad optional field
        '["a", "list"]',
        '',                                                          # an empty line is nothing
        json.dumps(dict(good, time=point(1, 0)['time'], provisioned=5 * GIB)),
    ]
    points, skipped = history.parse_history('\n'.join(lines))
    assert skipped == [2, 3, 4, 5, 6, 7, 8, 9]
    assert len(points) == 2 and points[1]['provisioned'] == 5 * GIB and 'provisioned' not in points[0]
    assert history.parse_history(None) == ([], [])


def test_a_point_of_the_same_time_replaces_the_earlier_one():
    merged = history.merge([point(0, GIB), point(24, GIB)], [point(24, 2 * GIB)])
    assert [p['allocation'] for p in merged] == [GIB, 2 * GIB]


def test_growth_is_bounded_per_pool_and_by_age():
    old = [point(hour, hour) for hour in range(50)] + [point(hour, hour, pool='iso') for hour in range(5)]
    merged = history.merge(old, [point(50, 50)], keep=10)
    images = [p for p in merged if p['pool'] == 'images']
    assert len(images) == 10 and images[-1]['allocation'] == 50 and images[0]['allocation'] == 41
    assert len([p for p in merged if p['pool'] == 'iso']) == 5, 'a pool keeps its own last points'
    # a pool gone for longer than `days` leaves the history
    merged = history.merge(old, [point(24 * 400, 1)], days=366)
    assert [p['pool'] for p in merged] == ['images']
    with pytest.raises(AnsibleFilterError, match='keep must be at least 1'):
        filters.capacity_history('', [], keep=0)


def test_points_are_kept_oldest_first_then_by_host_and_pool():
    merged = history.merge([point(24, 1, host='b'), point(24, 1, host='a'), point(0, 1, host='c')], [])
    assert [(p['time'][8:10], p['host']) for p in merged] == [('01', 'c'), ('02', 'a'), ('02', 'b')]


# ---- the points of a run -------------------------------------------------------------------------
def test_run_points_from_hostvars_or_facts():
    pools = {'images': {'state': 'active', 'capacity': 10, 'allocation': 4, 'available': 6, 'provisioned': 20},
             'old': {'state': 'active', 'capacity': 10, 'allocation': 1, 'available': 9},
             'off': {'state': 'inactive', 'capacity': 0, 'allocation': 0, 'available': 0}}
    hostvars = {'hv1': {'ansible_facts': {'libvirt_storage': {'pools': pools}}}, 'hv2': {'ansible_facts': {}},
                'hv3': {'pools': {'x': dict(pools['old'])}}}
    found = filters.capacity_points(hostvars, ['hv2', 'hv1', 'hv3', 'hv9'], '2026-11-01T00:00:00Z')
    assert [(p['host'], p['pool']) for p in found] == [('hv1', 'images'), ('hv1', 'old'), ('hv3', 'x')]
    assert found[0] == {'time': '2026-11-01T00:00:00Z', 'host': 'hv1', 'pool': 'images', 'capacity': 10,
                        'allocation': 4, 'available': 6, 'provisioned': 20}
    assert 'provisioned' not in found[1]
    with pytest.raises(AnsibleFilterError, match='YYYY-MM-DDTHH:MM:SSZ'):
        filters.capacity_points(hostvars, ['hv1'], 'now')


def test_history_filter_wants_text():
    with pytest.raises(AnsibleFilterError, match='expects the text of a history file'):
        filters.capacity_history(['a list'])


def test_trends_of_a_text_equal_trends_of_its_points():
    points = [point(0, 40 * GIB), point(24, 50 * GIB), point(48, 60 * GIB), point(0, GIB, pool='iso')]
    text = history.dump_history(points) + 'not a point\n'
    assert filters.capacity_trends(text) == filters.capacity_trends(points + [{'time': 'x'}])
    assert sorted(filters.capacity_trends(text)['hv1']) == ['images', 'iso']
    assert filters.capacity_trends('') == {} and filters.capacity_trends(None) == {}


# ---- documentation -------------------------------------------------------------------------------
def test_each_filter_is_documented_with_its_options():
    names = sorted(filters.FilterModule().filters())
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.build', 'unit'),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', ''))
    proc = subprocess.run(['ansible-doc', '-t', 'filter', '--json'] + ['kvmops.storage.%s' % name for name in names],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    docs = json.loads(proc.stdout)
    assert sorted(docs) == ['kvmops.storage.%s' % name for name in names]
    for name, function in filters.FilterModule().filters().items():
        doc = docs['kvmops.storage.%s' % name]
        params = list(inspect.signature(function).parameters)
        assert sorted(doc['doc']['options']) == sorted(['_input'] + params[1:]), name
        for option, spec in doc['doc']['options'].items():
            default = inspect.signature(function).parameters[option].default if option != '_input' else None
            if default not in (None, inspect.Parameter.empty):
                assert spec.get('default') == default, (name, option)
        assert doc['examples'] and doc['return']['_value']['description'], name
