"""``manage.py stats_rollup``: build or rebuild the daily statistics roll-ups."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from mediabao.accounts.models import Team
from mediabao.stats import rollup


class Command(BaseCommand):
    help = ("Roll up the daily statistics from the source rows (a backfill for teams never rolled "
            "up, or a rebuild of a range).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--team", type=int, action="append", help="team id (repeatable; default: all)")
        parser.add_argument("--start", type=date.fromisoformat,
                            help="first day, YYYY-MM-DD (default: where the team's roll-ups end)")
        parser.add_argument("--end", type=date.fromisoformat, help="last day (default: today)")
        parser.add_argument("--all", action="store_true", help="from each team's first row")

    def handle(self, *args, team=None, start=None, end=None, all=False, **options) -> None:
        if start and all:
            raise CommandError("--start and --all exclude each other")
        if start and end and end < start:
            raise CommandError("--end is before --start")
        teams = team or list(Team.objects.order_by("pk").values_list("pk", flat=True))
        for team_id in teams:
            first = rollup.first_day(team_id) if all else start
            if all and first is None:
                self.stdout.write(f"team {team_id}: no rows")
                continue
            last = rollup.build(team_id, start=first, end=end)
            self.stdout.write(f"team {team_id}: rolled up to {last or 'nothing to do'}")
