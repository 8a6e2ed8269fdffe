"""Imported redemption-code pools of award tiers.

A tier with an imported pool hands out its codes instead of generated ones: a claim
(made when the tier is reached) takes the next free code of the pool the first time
the fan's page, the console or an import looks at it. Taking a code is one
``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``, under the claim's
row lock, so concurrent claims never get the same code and a claim never gets two.
When the pool is empty the claim waits: the fan's page says so, the operator sees the
waiting claims on the activity page, and the next import serves them (and tells them).
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from mediabao.campaigns.models import Activity, AwardTier, RewardClaim, RewardCode

log = logging.getLogger(__name__)

#: Limits of one import and of a tier's pool.
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_CODES = 50_000
MAX_POOL_CODES = 200_000
MAX_CODE_LENGTH = 64
#: How many bad lines a report lists (the rest are only counted).
BAD_LINES_SHOWN = 20


class ImportRefused(Exception):
    """The whole import is refused (too big, not text); the message is translated."""


@dataclass
class ImportReport:
    added: int = 0
    duplicates: int = 0
    blank: int = 0
    bad: int = 0
    bad_lines: list[tuple[int, str, str]] = field(default_factory=list)
    available: int = 0
    served: int = 0

    def as_dict(self) -> dict:
        return {"added": self.added, "duplicates": self.duplicates, "blank": self.blank, "bad": self.bad,
                "bad_lines": [{"line": n, "value": v, "reason": r} for n, v, r in self.bad_lines],
                "available": self.available, "served": self.served}


def decode(data: bytes) -> str:
    """An uploaded file as text (UTF-8 with or without BOM, else GB18030 from Excel)."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefused(_("The file is larger than %(mb)d MB.") % {"mb": MAX_IMPORT_BYTES // 2**20})
    if b"\x00" in data[:4096]:
        raise ImportRefused(_("This is not a text or CSV file."))
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportRefused(_("The file is not UTF-8 or GB18030 text."))


def _typable(value: str) -> bool:
    """Printable and without spaces: what a fan can type at a counter or paste into a shop."""
    return value.isprintable() and not any(ch.isspace() for ch in value)


def parse(text: str) -> tuple[list[str], ImportReport]:
    """Codes of a paste or a CSV (the first column of each line), in order, deduplicated;
    the report counts blank, bad and repeated lines."""
    if len(text.encode("utf-8", "ignore")) > MAX_IMPORT_BYTES:
        raise ImportRefused(_("The text is larger than %(mb)d MB.") % {"mb": MAX_IMPORT_BYTES // 2**20})
    report = ImportReport()
    seen: set[str] = set()
    codes: list[str] = []
    for number, row in enumerate(csv.reader(io.StringIO(text.lstrip("\ufeff"))), start=1):
        value = (row[0] if row else "").strip()
        if not value:
            report.blank += 1
            continue
        reason = ""
        if len(value) > MAX_CODE_LENGTH:
            reason = _("longer than %(n)d characters") % {"n": MAX_CODE_LENGTH}
        elif not _typable(value):
            reason = _("contains spaces or control characters")
        if reason:
            report.bad += 1
            if len(report.bad_lines) < BAD_LINES_SHOWN:
                report.bad_lines.append((number, value[:80], reason))
            continue
        if value in seen:
            report.duplicates += 1
            continue
        seen.add(value)
        codes.append(value)
        if len(codes) > MAX_IMPORT_CODES:
            raise ImportRefused(_("More than %(n)d codes in one import.") % {"n": MAX_IMPORT_CODES})
    return codes, report


def import_codes(tier: AwardTier, text: str) -> ImportReport:
    """Add the codes of ``text`` to the tier's pool (codes already in it count as
    duplicates), then serve the claims waiting for a code."""
    codes, report = parse(text)
    existing = RewardCode.objects.filter(tier=tier).count()
    if existing + len(codes) > MAX_POOL_CODES:
        raise ImportRefused(_("A tier holds at most %(n)d codes (it has %(have)d).")
                            % {"n": MAX_POOL_CODES, "have": existing})
    now = timezone.now()
    for start in range(0, len(codes), 5000):
        batch = codes[start:start + 5000]
        known = set(RewardCode.objects.filter(tier=tier, code__in=batch).values_list("code", flat=True))
        rows = [RewardCode(team_id=tier.team_id, tier=tier, code=c, created_at=now) for c in batch
                if c not in known]
        created = RewardCode.objects.bulk_create(rows, ignore_conflicts=True)
        report.duplicates += len(batch) - len(rows)
        report.added += len(created)
    report.served = serve_waiting(tier)
    report.available = free_codes(tier)
    return report


def has_pool(tier: AwardTier) -> bool:
    return RewardCode.objects.filter(tier=tier).exists()


def free_codes(tier: AwardTier) -> int:
    return RewardCode.objects.filter(tier=tier, claim__isnull=True).count()


def take(claim: RewardClaim) -> str | None:
    """The claim's pool code, taken now if it has none; None when the pool is empty.

    Runs in its own transaction: the claim's row is locked, then one free code is
    moved to it with ``SKIP LOCKED`` (a concurrent claim takes the next one)."""
    with transaction.atomic():
        locked = RewardClaim.objects.select_for_update().get(pk=claim.pk)
        if locked.code_from_pool:
            return locked.code
        table = RewardCode._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET claim_id = %s, used_at = %s WHERE id = ("  # noqa: S608 - table name
                f"SELECT id FROM {table} WHERE tier_id = %s AND claim_id IS NULL "
                "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING code",
                [locked.pk, timezone.now(), locked.tier_id])
            row = cursor.fetchone()
        if row is None:
            return None
        RewardClaim.objects.filter(pk=locked.pk).update(code=row[0], code_from_pool=True)
    claim.code, claim.code_from_pool = row[0], True
    return row[0]


def code_for(claim: RewardClaim) -> tuple[str, bool]:
    """What to show for a claim: ``(code, waiting)``. A claim of a tier with a pool shows
    a pool code (taken now when needed) or waits; other claims keep their generated code."""
    if claim.code_from_pool:
        return claim.code, False
    if not has_pool(claim.tier):
        return claim.code, False
    code = take(claim)
    if code is None:
        log.warning("campaign tier %s: out of redemption codes (claim %s waits)", claim.tier_id, claim.pk)
        return "", True
    return code, False


def pool_tier_ids(tier_ids) -> set[int]:
    """Which of these tiers have an imported pool (one query)."""
    return set(RewardCode.objects.filter(tier_id__in=set(tier_ids)).values_list("tier_id", flat=True)
               .distinct())


def shown(claim: RewardClaim, pool_tiers: set[int]) -> str:
    """The code to show for a claim without taking one: a claim of a pool tier that has
    no pool code yet shows nothing (it waits)."""
    return claim.code if claim.code_from_pool or claim.tier_id not in pool_tiers else ""


def waiting(tier: AwardTier):
    return RewardClaim.objects.filter(tier=tier, code_from_pool=False, shipped=False)


def serve_waiting(tier: AwardTier) -> int:
    """Give free codes to the tier's claims without one (oldest first) and tell each fan."""
    from mediabao.campaigns.services import queue_notice

    served = 0
    queue = waiting(tier).select_related("participant", "tier").order_by("created_at", "id")
    for claim in queue[:MAX_IMPORT_CODES]:
        code = take(claim)
        if code is None:
            break
        served += 1
        text = _("Your redemption code for “%(prize)s”: %(code)s") % {"prize": tier.prize, "code": code}
        queue_notice(claim.participant, f"code:{claim.pk}", text)
    return served


@dataclass
class PoolRow:
    tier: AwardTier
    total: int
    free: int
    waiting: int

    @property
    def out(self) -> bool:
        return self.total > 0 and self.free == 0


def pools(activity: Activity, tiers: list | None = None) -> list[PoolRow]:
    """Per tier: codes imported, codes free, claims waiting for a code (grouped queries;
    ``tiers``, the activity's tiers by level, when the caller has them already)."""
    tiers = list(activity.tiers.order_by("level")) if tiers is None else tiers
    counts = {row["tier_id"]: row for row in RewardCode.objects.filter(tier__activity=activity)
              .values("tier_id").annotate(total=Count("id"), free=Count("id", filter=Q(claim__isnull=True)))}
    pool_tiers = [t.pk for t in tiers if t.pk in counts]
    waits = dict(RewardClaim.objects.filter(tier_id__in=pool_tiers, code_from_pool=False, shipped=False)
                 .values("tier_id").annotate(n=Count("id")).values_list("tier_id", "n"))
    empty = {"total": 0, "free": 0}
    return [PoolRow(tier=t, total=counts.get(t.pk, empty)["total"], free=counts.get(t.pk, empty)["free"],
                    waiting=waits.get(t.pk, 0)) for t in tiers]
