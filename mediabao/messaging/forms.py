"""Console forms: the composer (built from the chosen template's fields) and SOP schedules.

The forms only collect input; validation is :mod:`.validation`, the same as the API's,
and its field errors are put back on the matching form fields.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from mediabao.core.forms import BootstrapMixin
from mediabao.messaging import rules
from mediabao.messaging.models import DeliverySettings, Schedule, SendJob, Template, Upload

AUDIENCE_CHOICES = [("all", _("All followers")), ("window", _("Interacted in the last 48 hours")),
                    ("tag", _("A tag")), ("openids", _("A list of OpenIDs")), ("fan", _("One fan"))]
MSGTYPES = [("text", _("Text")), ("image", _("Image")), ("news", _("News card"))]


class PickForm(BootstrapMixin, forms.Form):
    """The GET form above the composer: which account, kind and template."""

    account = forms.TypedChoiceField(label=_("Official account"), coerce=int)
    kind = forms.ChoiceField(label=_("Message type"), choices=SendJob.Kind.choices)
    template = forms.TypedChoiceField(label=_("Template"), coerce=int, required=False,
                                      empty_value=None)
    fallback_template = forms.TypedChoiceField(label=_("Fallback template (out of window)"),
                                               coerce=int, required=False, empty_value=None)

    def __init__(self, *args, accounts=(), templates=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = [(a.pk, a.name) for a in accounts]
        choices = [("", _("— choose —"))] + [(t.pk, t.title) for t in templates]
        self.fields["template"].choices = choices
        self.fields["fallback_template"].choices = [("", _("None: skip fans out of window")),
                                                    *choices[1:]]
        for field in self.fields.values():
            field.widget.attrs["data-autosubmit"] = ""


def _field_name(prefix: str, key: str) -> str:
    return f"{prefix}_{key}"


class ComposeForm(BootstrapMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, required=False)
    # template message
    url = forms.CharField(label=_("Link URL"), required=False, max_length=1000)
    mini_appid = forms.CharField(label=_("Mini program AppID"), required=False, max_length=40)
    mini_pagepath = forms.CharField(label=_("Mini program page"), required=False, max_length=500)
    # customer-service message
    msgtype = forms.ChoiceField(label=_("Content"), choices=MSGTYPES, required=False)
    content = forms.CharField(label=_("Text"), required=False, widget=forms.Textarea(attrs={"rows": 4}))
    image = forms.FileField(label=_("Upload an image"), required=False,
                            widget=forms.ClearableFileInput(
                                attrs={"accept": "image/jpeg,image/png,image/gif"}))
    upload = forms.TypedChoiceField(label=_("or reuse an image"), coerce=int, required=False,
                                    empty_value=None)
    title = forms.CharField(label=_("Title"), required=False, max_length=64)
    description = forms.CharField(label=_("Description"), required=False, max_length=120)
    article_url = forms.CharField(label=_("Article link"), required=False, max_length=1000)
    picurl = forms.CharField(label=_("Picture URL"), required=False, max_length=1000)
    # audience
    audience = forms.ChoiceField(label=_("Send to"), choices=AUDIENCE_CHOICES)
    tag = forms.IntegerField(label=_("Tag id"), required=False, min_value=0)
    openids = forms.CharField(label=_("OpenIDs, one per line"), required=False,
                              widget=forms.Textarea(attrs={"rows": 4}))
    openid = forms.CharField(label=_("OpenID"), required=False, max_length=64)
    confirm = forms.BooleanField(label=_("Send to the valid OpenIDs and leave the bad lines out"),
                                 required=False)
    send_at = forms.DateTimeField(label=_("Send at (empty: now)"), required=False,
                                  widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    def __init__(self, *args, kind: str = "template", template: Template | None = None,
                 fallback: Template | None = None, uploads=(), **kwargs) -> None:
        self.kind, self.template, self.fallback = kind, template, fallback
        super().__init__(*args, **kwargs)
        self.fields["upload"].choices = [("", "—")] + [(u.pk, u.name) for u in uploads]
        self.template_fields = self._add_fields("f", template) if kind == "template" else []
        self.fallback_fields = self._add_fields("fb", fallback) if kind == "custom" else []
        for name in [n for n, _k, _c in self.template_fields + self.fallback_fields]:
            self.fields[name].widget.attrs.setdefault("class", "form-control")

    def _add_fields(self, prefix: str, template: Template | None) -> list[tuple[str, str, str]]:
        out = []
        if template is None:
            return out
        for key in template.keys:
            name = _field_name(prefix, key)
            hidden = template.kind == "legacy" and key in rules.HIDDEN_KEYS
            label = rules.label_of(template.content, key)
            help_text = _("Not shown to fans since 2023-05-04") if hidden else (rules.key_type(key) or "")
            self.fields[name] = forms.CharField(label=f"{label} ({key})", required=False,
                                                max_length=rules.MAX_VALUE, help_text=help_text)
            color = ""
            if prefix == "f" and template.kind == "legacy":
                color = _field_name("c", key)
                self.fields[color] = forms.CharField(
                    label=_("Color"), required=False, max_length=7,
                    widget=forms.TextInput(attrs={"placeholder": "#173177", "class": "form-control"}))
            out.append((name, key, color))
        return out

    # --- payloads for the services ---------------------------------------------------------
    def _data(self, prefix: str, template: Template | None) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key in template.keys if template else []:
            value = self.data.get(_field_name(prefix, key), "")
            color = self.data.get(_field_name("c", key), "") if prefix == "f" else ""
            if value or color:
                data[key] = {"value": value, **({"color": color} if color else {})}
        return data

    def message_payload(self, upload_id: int | None = None) -> dict:
        d = self.cleaned_data
        if self.kind == "template":
            msg: dict[str, Any] = {"template": self.template.pk if self.template else None,
                                   "data": self._data("f", self.template), "url": d.get("url") or ""}
            if d.get("mini_appid"):
                msg["miniprogram"] = {"appid": d["mini_appid"], "pagepath": d.get("mini_pagepath") or ""}
            return msg
        msgtype = d.get("msgtype") or "text"
        if msgtype == "text":
            return {"msgtype": "text", "text": {"content": d.get("content") or ""}}
        if msgtype == "image":
            return {"msgtype": "image", "image": {"upload": upload_id or d.get("upload")}}
        return {"msgtype": "news", "news": {"articles": [{
            "title": d.get("title") or "", "description": d.get("description") or "",
            "url": d.get("article_url") or "", "picurl": d.get("picurl") or ""}]}}

    def fallback_payload(self) -> dict | None:
        if self.kind != "custom" or self.fallback is None:
            return None
        return {"template": self.fallback.pk, "data": self._data("fb", self.fallback)}

    def audience_payload(self) -> dict:
        d = self.cleaned_data
        kind = d.get("audience") or "all"
        return {"type": kind, "tag": d.get("tag"), "openids": d.get("openids") or "",
                "openid": d.get("openid") or "", "confirm": bool(d.get("confirm"))}

    # --- errors from the services back onto fields -----------------------------------------
    FIELD_MAP = {"content": "content", "upload": "image", "title": "title", "description": "description",
                 "url": "url", "picurl": "picurl", "miniprogram": "mini_appid", "tag": "tag",
                 "openids": "openids", "openid": "openid", "msgtype": "msgtype"}

    def add_service_errors(self, fields: dict) -> None:
        for section, value in fields.items():
            if section in ("message", "fallback") and isinstance(value, dict):
                prefix = "f" if section == "message" else "fb"
                for key, errs in value.items():
                    if key == "data" and isinstance(errs, dict):
                        for data_key, msgs in errs.items():
                            self._put(_field_name(prefix, data_key), msgs)
                    elif section == "message" and key == "url" and self.kind == "custom":
                        self._put("article_url", errs)
                    else:
                        self._put(self.FIELD_MAP.get(key) if section == "message" else None, errs)
            elif section == "audience" and isinstance(value, dict):
                for key, errs in value.items():
                    if key != "bad_lines":
                        self._put(self.FIELD_MAP.get(key, "audience"), errs)
            else:
                self._put(self.FIELD_MAP.get(section), value)

    def _put(self, field: str | None, msgs: Any) -> None:
        msgs = msgs if isinstance(msgs, list) else [msgs]
        for msg in msgs:
            if isinstance(msg, dict):
                msg = "; ".join(f"{k}: {v}" for k, v in msg.items())
            self.add_error(field if field in self.fields else None, str(msg))


class ScheduleForm(BootstrapMixin, forms.Form):
    recurrence = forms.ChoiceField(label=_("Repeat"), choices=Schedule.Recurrence.choices)
    run_at = forms.DateTimeField(label=_("First time"),
                                 widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    weekdays = forms.TypedMultipleChoiceField(
        label=_("Weekdays"), required=False, coerce=int,
        choices=[(0, _("Mon")), (1, _("Tue")), (2, _("Wed")), (3, _("Thu")), (4, _("Fri")),
                 (5, _("Sat")), (6, _("Sun"))], widget=forms.CheckboxSelectMultiple)
    cron = forms.CharField(label=_("Cron (minute hour day month weekday)"), required=False,
                           max_length=100)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["weekdays"].widget.attrs["class"] = "form-check-input"


def upload_choices(team, account) -> list[Upload]:
    return list(Upload.objects.for_team(team).filter(account=account).defer("data")[:50])


class DeliverySettingsForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = DeliverySettings
        fields = ["concurrency", "rate_per_second", "notice_template"]
        help_texts = {
            "concurrency": _("Requests in flight per worker (default 100)."),
            "rate_per_second": _("Messages per second for this account, shared by all workers."),
            "notice_template": _("Sent to operators out of their 48-hour window when a job "
                                 "finishes or stops."),
        }

    def __init__(self, *args, account=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["notice_template"].queryset = Template.objects.filter(account=account, removed=False)
        for name, top in (("concurrency", 1000), ("rate_per_second", 100_000)):
            self.fields[name].validators += [MinValueValidator(1), MaxValueValidator(top)]
