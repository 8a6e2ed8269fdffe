from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from mediabao.core.forms import BootstrapMixin
from mediabao.keywords.models import KeywordRule

MAX_IMAGE_BYTES = 2 * 1024 * 1024  # WeChat's image limit for material (WECHAT.md §1.5)


class KeywordRuleForm(BootstrapMixin, forms.ModelForm):
    image = forms.ImageField(label=_("Image (JPEG or PNG, at most 2 MB)"), required=False)

    class Meta:
        model = KeywordRule
        fields = ["account", "keyword", "match", "reply_type", "text", "image", "news_title",
                  "news_description", "news_url", "news_picurl", "enabled", "active_from",
                  "active_until", "position"]
        widgets = {
            "text": forms.Textarea(attrs={"rows": 3}),
            "active_from": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "active_until": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        }

    def __init__(self, *args, accounts=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts
        self.fields["account"].empty_label = None

    def clean_keyword(self) -> str:
        keyword = self.cleaned_data["keyword"].strip()
        if not keyword:
            raise forms.ValidationError(_("Please enter a keyword."))
        return keyword

    def clean_image(self):
        image = self.cleaned_data.get("image")
        if image and image.size > MAX_IMAGE_BYTES:
            raise forms.ValidationError(_("The image is larger than 2 MB."))
        pillow_image = getattr(image, "image", None) if image else None
        if pillow_image is not None and pillow_image.format not in ("JPEG", "PNG"):
            raise forms.ValidationError(_("Please upload a JPEG or PNG image."))
        return image

    def clean(self):
        data = super().clean()
        kind = data.get("reply_type")
        if kind == KeywordRule.ReplyType.TEXT and not (data.get("text") or "").strip():
            self.add_error("text", _("Please enter the reply text."))
        if kind == KeywordRule.ReplyType.IMAGE and not data.get("image") and not (
                self.instance and self.instance.image_media_id):
            self.add_error("image", _("Please upload the reply image."))
        if kind == KeywordRule.ReplyType.NEWS:
            for field in ("news_title", "news_url"):
                if not data.get(field):
                    self.add_error(field, _("A news card needs a title and a link."))
        start, end = data.get("active_from"), data.get("active_until")
        if start and end and end <= start:
            self.add_error("active_until", _("The end must be after the start."))
        return data
