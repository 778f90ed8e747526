# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the capacity report's tables, history and forecasts; documented in the .yml file of
each filter beside this one. The work is done in module_utils/capacity_history.py and
module_utils/capacity_tables.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.kvmops.storage.plugins.module_utils import capacity_history as history
from ansible_collections.kvmops.storage.plugins.module_utils import capacity_tables as tables

D = history.DEFAULTS


def _checked(name, call, *args):
    try:
        return call(*args)
    except (ValueError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError('kvmops.storage.%s: %s' % (name, exc))


def capacity_points(facts, hosts, time):
    """The history points of this run (see capacity_points.yml)."""
    return _checked('capacity_points', history.run_points, facts, list(hosts), time)


def capacity_history(text, points=None, keep=D['keep'], days=D['days']):
    """A history file's text with this run's points added (see capacity_history.yml)."""
    if text is not None and not isinstance(text, str):
        raise AnsibleFilterError('kvmops.storage.capacity_history: expects the text of a history file, got %s'
                                 % type(text).__name__)
    return _checked('capacity_history', history.update_history, text, list(points or []), keep, days)


def capacity_trends(points, min_points=D['min_points'], min_hours=D['min_hours'], window_days=D['window_days'],
                    chart_points=D['chart_points']):
    """Each pool's trend, fill estimate and chart (see capacity_trends.yml)."""
    if points is not None and not isinstance(points, str):
        points = list(points)
    return _checked('capacity_trends', history.trends, points, int(min_points), float(min_hours),
                    float(window_days), int(chart_points))


def capacity_tables(facts, hosts, threshold=80, top=10, unused_top=50, time=None, csv=False):
    """The pools, largest and unused volumes of the HTML report, and with ``csv``/``time`` the CSV and
    the history points of the run (see capacity_tables.yml)."""
    if time is not None:
        _checked('capacity_tables', history.parse_time, time)
    return _checked('capacity_tables', tables.fleet_tables, facts, list(hosts), float(threshold), int(top),
                    int(unused_top), time, bool(csv))


def capacity_csv(facts, hosts, threshold=80):
    """The CSV of every volume of the fleet (see capacity_csv.yml)."""
    return _checked('capacity_csv', tables.fleet_csv, facts, list(hosts), float(threshold))


class FilterModule(object):
    """The capacity report's filters."""

    def filters(self):
        return {
            'capacity_points': capacity_points,
            'capacity_history': capacity_history,
            'capacity_trends': capacity_trends,
            'capacity_tables': capacity_tables,
            'capacity_csv': capacity_csv,
        }
