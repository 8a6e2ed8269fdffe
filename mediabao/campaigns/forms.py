"""Activity forms: one organised form (basics, accounts, tiers, poster, notices, anti-fraud).

The API reuses :class:`ActivityForm` for validation, so both paths enforce SPEC §5.1 the
same way: end after start, tiers strictly increasing, the keyword unique among the
account's activities that are not over, a real background image that fits the layout.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mediabao.campaigns import services
from mediabao.campaigns.models import Activity, AwardTier, Participant
from mediabao.core.forms import BootstrapMixin
from mediabao.wechat.models import OfficialAccount

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
LAYOUT_FIELDS = ("avatar_x", "avatar_y", "avatar_size", "nickname_x", "nickname_y", "nickname_size",
                 "nickname_color", "qr_x", "qr_y", "qr_size")
LAYOUT_LABELS = {
    "avatar_x": _("Avatar X"), "avatar_y": _("Avatar Y"), "avatar_size": _("Avatar size"),
    "nickname_x": _("Nickname X"), "nickname_y": _("Nickname Y"), "nickname_size": _("Nickname font size"),
    "nickname_color": _("Nickname colour"), "qr_x": _("QR code X"), "qr_y": _("QR code Y"),
    "qr_size": _("QR code size"),
}
NOTICE_FIELDS = ("assist_notice", "tier_notice", "unfollow_notice", "out_of_stock_notice", "welcome_text")
MAX_TIERS = 3


def _dt_widget() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT)


class ActivityForm(BootstrapMixin, forms.ModelForm):
    start_time = forms.DateTimeField(label=_("Start"), widget=_dt_widget(),
                                     input_formats=[DATETIME_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"])
    end_time = forms.DateTimeField(label=_("End"), widget=_dt_widget(),
                                   input_formats=[DATETIME_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"])
    accounts = forms.ModelMultipleChoiceField(label=_("Official accounts"),
                                              queryset=OfficialAccount.objects.none(),
                                              widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Activity
        fields = ["name", "start_time", "end_time", "accounts", "protection", "deduct_on_unfollow",
                  "join_keyword", "rules", "poster_background", *NOTICE_FIELDS, "fraud_max_per_minute",
                  "fraud_unfollow_percent", "fraud_unfollow_minutes", "fraud_action"]
        widgets = {"rules": forms.Textarea(attrs={"rows": 4}),
                   "poster_background": forms.FileInput(attrs={"accept": "image/png,image/jpeg"})}

    def __init__(self, *args, team=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.team = team
        self.fields["accounts"].queryset = OfficialAccount.objects.for_team(team)
        self.fields["accounts"].error_messages["invalid_choice"] = _(
            "Choose among your team's official accounts.")
        self.fields["poster_background"].help_text = _("PNG or JPEG, at most 5 MB and 4096 pixels a side.")
        for level in range(1, MAX_TIERS + 1):
            required = level == 1
            self.fields[f"tier{level}_invites"] = forms.IntegerField(
                label=_("Tier %(n)d: invites") % {"n": level}, min_value=1, max_value=100000,
                required=required)
            self.fields[f"tier{level}_prize"] = forms.CharField(
                label=_("Tier %(n)d: prize") % {"n": level}, max_length=100, required=required)
            self.fields[f"tier{level}_stock"] = forms.IntegerField(
                label=_("Tier %(n)d: stock") % {"n": level}, min_value=0, max_value=10_000_000,
                required=False, help_text=_("Empty: unlimited."))
        from mediabao.campaigns.posters import PosterLayout

        defaults = PosterLayout().to_dict()
        current = {**defaults, **((self.instance.poster_layout or {}) if self.instance.pk else {})}
        for name in LAYOUT_FIELDS:
            field: forms.Field = (forms.CharField(max_length=20) if name == "nickname_color"
                                  else forms.IntegerField(min_value=0, max_value=10000))
            field.label = LAYOUT_LABELS[name]
            field.initial = current[name]
            field.required = True
            self.fields[f"layout_{name}"] = field
        if self.instance.pk:
            for tier in self.instance.tiers.all():
                self.initial[f"tier{tier.level}_invites"] = tier.invites_needed
                self.initial[f"tier{tier.level}_prize"] = tier.prize
                self.initial[f"tier{tier.level}_stock"] = tier.stock
        else:
            self.fields["poster_background"].required = True
        # BootstrapMixin ran before the extra fields existed.
        for name, field in self.fields.items():
            if name.startswith(("tier", "layout_")):
                field.widget.attrs.setdefault("class", "form-control")

    # --- field checks ---
    def clean_join_keyword(self) -> str:
        keyword = (self.cleaned_data.get("join_keyword") or "").strip()
        if not keyword:
            raise ValidationError(_("Enter the keyword fans send to join."), code="required")
        return keyword

    def clean_poster_background(self):
        upload = self.cleaned_data.get("poster_background")
        if upload is False:
            raise ValidationError(_("An activity needs a poster background."), code="required")
        if isinstance(upload, UploadedFile):
            from mediabao.campaigns.posters import validate_background

            self.background_size = validate_background(upload)
            upload.seek(0)
        return upload

    def _clean_notice(self, name: str) -> None:
        value = self.cleaned_data.get(name) or ""
        bad = services.unknown_placeholders(value)
        if bad:
            self.add_error(name, _("Unknown placeholder(s): %(names)s. Use %(known)s.") % {
                "names": ", ".join(bad), "known": ", ".join(f"{{{p}}}" for p in services.PLACEHOLDERS)})

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("start_time"), data.get("end_time")
        if start and end and end <= start:
            self.add_error("end_time", _("The end must be after the start."))
        for name in NOTICE_FIELDS:
            self._clean_notice(name)
        self._clean_tiers(data)
        self._clean_keyword(data)
        self._clean_layout(data)
        return data

    def _clean_tiers(self, data: dict) -> None:
        self.tier_rows: list[tuple[int, int, str, int | None]] = []
        previous = 0
        gap = False
        for level in range(1, MAX_TIERS + 1):
            invites, prize = data.get(f"tier{level}_invites"), (data.get(f"tier{level}_prize") or "").strip()
            stock = data.get(f"tier{level}_stock")
            if invites is None and not prize:
                if f"tier{level}_invites" not in self.errors:
                    gap = True
                continue
            if gap:
                self.add_error(f"tier{level}_invites", _("Fill the tiers in order: tier %(n)d is empty.")
                               % {"n": level - 1})
                continue
            if invites is None or not prize:
                self.add_error(f"tier{level}_invites" if invites is None else f"tier{level}_prize",
                               _("A tier needs both an invite count and a prize."))
                continue
            if invites <= previous:
                self.add_error(f"tier{level}_invites",
                               _("Each tier must need more invites than the one before (%(n)d).")
                               % {"n": previous})
            previous = invites
            self.tier_rows.append((level, invites, prize, stock))

    def _clean_keyword(self, data: dict) -> None:
        keyword, accounts = data.get("join_keyword"), data.get("accounts")
        start, end = data.get("start_time"), data.get("end_time")
        if not keyword or not accounts or not start or not end:
            return
        clash = (Activity.objects.for_team(self.team)
                 .filter(join_keyword=keyword, accounts__in=accounts, start_time__lt=end,
                         end_time__gt=max(start, timezone.now())).distinct())
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        other = clash.first()
        if other is not None:
            self.add_error("join_keyword", _("The activity “%(name)s” of the same account already uses "
                                             "this keyword at that time.") % {"name": other.name})

    def _clean_layout(self, data: dict) -> None:
        from mediabao.campaigns.posters import PosterLayout

        values = {name: data.get(f"layout_{name}") for name in LAYOUT_FIELDS}
        if any(v is None for v in values.values()):
            return
        try:
            layout = PosterLayout.from_dict(values)
            size = getattr(self, "background_size", None)
            if size is None and self.instance.pk and self.instance.background_width:
                size = (self.instance.background_width, self.instance.background_height)
            if size:
                layout.check_fits(*size)
        except ValidationError as exc:
            self.add_error(None, exc)
            return
        self.layout = layout

    # --- saving ---
    @transaction.atomic
    def save(self, commit: bool = True) -> Activity:
        activity: Activity = super().save(commit=False)
        activity.team = self.team
        activity.poster_layout = self.layout.to_dict()
        activity.save()
        self.save_m2m()
        save_tiers(activity, self.tier_rows)
        return activity


def save_tiers(activity: Activity, rows: list[tuple[int, int, str, int | None]]) -> None:
    """Tiers as edited; ``remaining`` = stock minus prizes already taken."""
    keep = {level for level, *_rest in rows}
    activity.tiers.exclude(level__in=keep).filter(claims__isnull=True).delete()
    taken = dict(AwardTier.objects.filter(activity=activity).annotate(n=Count("claims"))
                 .values_list("level", "n"))
    for level, invites, prize, stock in rows:
        remaining = None if stock is None else max(0, stock - taken.get(level, 0))
        AwardTier.objects.update_or_create(
            activity=activity, level=level,
            defaults={"team_id": activity.team_id, "invites_needed": invites, "prize": prize,
                      "stock": stock, "remaining": remaining})


STATE_CHOICES = [("", _("All states")), ("upcoming", _("Not started")), ("running", _("Running")),
                 ("ended", _("Ended"))]


class ActivityFilterForm(BootstrapMixin, forms.Form):
    q = forms.CharField(label=_("Name"), required=False, max_length=100)
    state = forms.ChoiceField(label=_("State"), choices=STATE_CHOICES, required=False)
    account = forms.TypedChoiceField(label=_("Official account"), coerce=int, required=False,
                                     empty_value=None)

    def __init__(self, *args, team=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = [("", _("All accounts"))] + [
            (a.pk, a.name) for a in OfficialAccount.objects.for_team(team)]

    def filter(self, queryset):
        if not self.is_bound or not self.is_valid():
            return queryset
        data, now = self.cleaned_data, timezone.now()
        if data.get("q"):
            queryset = queryset.filter(name__icontains=data["q"])
        if data.get("account"):
            queryset = queryset.filter(accounts__pk=data["account"]).distinct()
        state = data.get("state")
        if state == "upcoming":
            queryset = queryset.filter(start_time__gt=now)
        elif state == "running":
            queryset = queryset.filter(start_time__lte=now, end_time__gt=now)
        elif state == "ended":
            queryset = queryset.filter(end_time__lte=now)
        return queryset


YES_NO = [("", _("Any")), ("1", _("Yes")), ("0", _("No"))]


class ParticipantFilterForm(BootstrapMixin, forms.Form):
    q = forms.CharField(label=_("Nickname or OpenID"), required=False, max_length=64)
    activity = forms.TypedChoiceField(label=_("Activity"), coerce=int, required=False, empty_value=None)
    account = forms.TypedChoiceField(label=_("Official account"), coerce=int, required=False,
                                     empty_value=None)
    following = forms.ChoiceField(label=_("Following"), choices=YES_NO, required=False)
    joined = forms.ChoiceField(label=_("Joined (has a poster)"), choices=YES_NO, required=False)
    blacklisted = forms.ChoiceField(label=_("Blacklisted"), choices=YES_NO, required=False)
    flagged = forms.ChoiceField(label=_("Flagged"), choices=YES_NO, required=False)
    origin = forms.ChoiceField(label=_("Origin"), required=False, choices=[
        ("", _("Any")), ("poster", _("Poster")), ("channel", _("Promo code")), ("other", _("Other"))])
    tier = forms.TypedChoiceField(label=_("Tiers completed at least"), coerce=int, required=False,
                                  empty_value=None, choices=[("", _("Any")), (1, "1"), (2, "2"), (3, "3")])

    def __init__(self, *args, team=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["activity"].choices = [("", _("All activities"))] + [
            (a.pk, a.name) for a in Activity.objects.for_team(team)]
        self.fields["account"].choices = [("", _("All accounts"))] + [
            (a.pk, a.name) for a in OfficialAccount.objects.for_team(team)]

    def filter(self, queryset):
        if not self.is_bound or not self.is_valid():
            return queryset
        data = self.cleaned_data
        if data.get("q"):
            from django.db.models import Q

            queryset = queryset.filter(Q(nickname__icontains=data["q"]) | Q(openid=data["q"]))
        if data.get("activity"):
            queryset = queryset.filter(activity_id=data["activity"])
        if data.get("account"):
            queryset = queryset.filter(account_id=data["account"])
        for name in ("following", "joined", "blacklisted", "flagged"):
            if data.get(name) in ("0", "1"):
                queryset = queryset.filter(**{name: data[name] == "1"})
        if data.get("tier"):
            queryset = queryset.filter(tiers_completed__gte=data["tier"])
        origin = data.get("origin")
        if origin:
            from django.db.models import Exists, OuterRef

            from mediabao.fans.models import Fan

            by_channel = Exists(Fan.objects.filter(account_id=OuterRef("account_id"),
                                                   openid=OuterRef("openid"), source=Fan.Source.CHANNEL))
            if origin == "poster":
                queryset = queryset.filter(inviter__isnull=False)
            elif origin == "channel":
                queryset = queryset.filter(by_channel, inviter__isnull=True)
            else:
                queryset = queryset.filter(~by_channel, inviter__isnull=True)
        return queryset


class AddressForm(BootstrapMixin, forms.Form):
    """Where a physical prize goes (filled by the fan on the mobile page)."""

    name = forms.CharField(label=_("Recipient"), max_length=50)
    phone = forms.RegexField(label=_("Phone"), regex=r"^\+?[0-9][0-9 -]{4,19}$", max_length=30,
                             error_messages={"invalid": _("Enter a valid phone number.")})
    address = forms.CharField(label=_("Address"), max_length=300, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise ValidationError(_("Enter the recipient's name."), code="required")
        return name

    def clean_address(self) -> str:
        address = self.cleaned_data["address"].strip()
        if len(address) < 5:
            raise ValidationError(_("Enter the full address."), code="short")
        return address


def participant_rows(queryset):
    return queryset.select_related("activity", "account", "inviter").order_by("-invites", "id")


__all__ = ["ActivityForm", "ActivityFilterForm", "ParticipantFilterForm", "Participant"]


class CodeImportForm(BootstrapMixin, forms.Form):
    """Redemption codes for one tier: pasted, or a text/CSV file (first column)."""

    tier = forms.TypedChoiceField(label=_("Tier"), coerce=int)
    text = forms.CharField(label=_("Codes"), required=False, widget=forms.Textarea(attrs={"rows": 4}),
                           help_text=_("One code per line; for a CSV file, the first column."))
    file = forms.FileField(label=_("Or a file"), required=False,
                           help_text=_("Text or CSV, UTF-8 or GB18030, at most 2 MB."))

    def __init__(self, *args, activity: Activity, tiers: list | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.activity = activity
        tiers = tiers if tiers is not None else activity.tiers.order_by("level")
        self.fields["tier"].choices = [(t.pk, f"{t.level} · {t.prize}") for t in tiers]
        self.fields["text"].widget.attrs["placeholder"] = "ABCD-1234\nEFGH-5678"

    def clean(self):
        from mediabao.campaigns import codes

        data = super().clean()
        upload: UploadedFile | None = data.get("file")
        if upload is not None:
            if upload.size > codes.MAX_IMPORT_BYTES:
                raise ValidationError(_("The file is larger than %(mb)d MB.")
                                      % {"mb": codes.MAX_IMPORT_BYTES // 2**20})
            try:
                data["content"] = codes.decode(upload.read())
            except codes.ImportRefused as exc:
                raise ValidationError(str(exc)) from exc
        else:
            data["content"] = data.get("text") or ""
        if not data["content"].strip():
            raise ValidationError(_("Paste some codes or choose a file."))
        return data

    def tier_obj(self) -> AwardTier:
        return self.activity.tiers.get(pk=self.cleaned_data["tier"])


class RehearsalForm(BootstrapMixin, forms.Form):
    """A simulated crowd against the activity (wxsim's crowd driver, sandbox only)."""

    account = forms.TypedChoiceField(label=_("Official account"), coerce=int)
    seeds = forms.IntegerField(label=_("Seed fans"), min_value=1, max_value=200, initial=5)
    share_rate = forms.IntegerField(label=_("Share rate (%)"), min_value=0, max_value=100, initial=60,
                                    help_text=_("Chance that a friend who sees a poster scans it."))
    branching = forms.IntegerField(label=_("Friends per poster"), min_value=0, max_value=20, initial=3)
    unfollow_rate = forms.IntegerField(label=_("Unfollow rate (%)"), min_value=0, max_value=100, initial=10)
    max_fans = forms.IntegerField(label=_("Max fans"), min_value=1, max_value=5000, initial=200)
    duration = forms.IntegerField(label=_("Duration (seconds)"), min_value=10, max_value=1800, initial=120)

    def __init__(self, *args, activity: Activity, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = [(a.pk, a.name) for a in activity.accounts.order_by("name")]
