"""Form helpers shared by the console apps."""

from __future__ import annotations

from django import forms


class BootstrapMixin:
    """Give every widget Bootstrap's classes, and mark invalid fields after validation.

    The invalid marking happens in ``full_clean`` (not ``__init__``): validating in
    ``__init__`` would run before subclasses narrow their querysets to the team.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            css = "form-select" if isinstance(widget, forms.Select) else "form-control"
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()
