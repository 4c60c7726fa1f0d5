"""The forms behind the admin's actions. Each bad input becomes a one-line message."""

from __future__ import annotations

import inspect
import json
from typing import Any

from django import forms

from .. import queues, step_ids
from ..registry import register

# A select of every recorded step stays usable up to here; past it, a text box.
MAX_STEP_CHOICES = 2000


def parse_json(text: str, what: str, *, require_object: bool = False) -> Any:
    """Parse JSON from a form field; raise a one-line ``ValidationError`` when it is bad."""
    text = (text or "").strip()
    if not text:
        return {} if require_object else None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(
            f"{what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise forms.ValidationError(f"{what} is nested too deeply") from None
    if require_object and not isinstance(value, dict):
        raise forms.ValidationError(
            f'{what} must be a JSON object of keyword arguments, like {{"user_id": 7}}, '
            f"not a JSON {type(value).__name__}"
        )
    return value


def _text_problem(value: str, what: str, max_length: int = step_ids.MAX_LENGTH) -> str:
    problem = step_ids.text_problem(value, max_length=max_length)
    if problem:
        raise forms.ValidationError(f"{what} {problem}")
    return value


class CancelForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Stored on the execution and shown in its history.",
    )


class SignalForm(forms.Form):
    name = forms.CharField(max_length=step_ids.MAX_SIGNAL_NAME_LENGTH)
    payload = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60, "class": "dd-mono"}),
        help_text='JSON, e.g. {"approved": true}. Empty sends null.',
    )

    def clean_name(self):
        return _text_problem(
            self.cleaned_data["name"], "A signal name", step_ids.MAX_SIGNAL_NAME_LENGTH
        )

    def clean_payload(self):
        return parse_json(self.cleaned_data["payload"], "The payload")


class ForkForm(forms.Form):
    workflow_id = forms.CharField(
        required=False,
        max_length=step_ids.MAX_LENGTH,
        label="New execution id",
        help_text="Optional; a new UUID when empty.",
    )

    def __init__(self, *args, step_choices: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        if len(step_choices) <= MAX_STEP_CHOICES:
            field = forms.ChoiceField(choices=step_choices)
        else:
            field = forms.CharField(max_length=step_ids.MAX_LENGTH)
        field.label = "From step"
        field.help_text = (
            "The new execution keeps the steps recorded before this one and runs from it."
        )
        self.fields = {"from_step": field, **self.fields}

    def clean_workflow_id(self):
        value = self.cleaned_data["workflow_id"].strip()
        return _text_problem(value, "An execution id") if value else None


class StartForm(forms.Form):
    workflow = forms.ChoiceField()
    input = forms.CharField(
        required=False,
        initial="{}",
        widget=forms.Textarea(attrs={"rows": 5, "cols": 60, "class": "dd-mono"}),
        help_text='The inputs as a JSON object, e.g. {"user_id": 7}.',
    )
    workflow_id = forms.CharField(
        required=False,
        max_length=step_ids.MAX_LENGTH,
        label="Execution id",
        help_text="Optional; a new UUID when empty. Starting with an id that exists fails.",
    )
    queue = forms.ChoiceField(
        required=False,
        help_text="Optional; the workflow's own queue when empty.",
    )
    priority = forms.IntegerField(
        required=False,
        min_value=queues.MIN_PRIORITY,
        max_value=queues.MAX_PRIORITY,
        help_text="Its place in the queue: lower runs first (0 when empty).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workflow"].choices = [("", "---------")] + [
            (name, f"{name}{signature_of(name)}") for name in sorted(register.workflows)
        ]
        try:
            names = sorted(queues.configured())
        except queues.QueueSettingError:
            names = [queues.DEFAULT_QUEUE]
        self.fields["queue"].choices = [("", "(the workflow's)")] + [(q, q) for q in names]

    def clean_input(self):
        return parse_json(self.cleaned_data["input"], "The input", require_object=True)

    def clean_workflow_id(self):
        value = self.cleaned_data["workflow_id"].strip()
        return _text_problem(value, "An execution id") if value else None


FINISHED_ORDER = ("COMPLETED", "FAILED", "CANCELED", "TIMED_OUT")


class PruneForm(forms.Form):
    older_than_days = forms.FloatField(
        min_value=0,
        label="Ended more than (days) ago",
        help_text="Only executions that ended this many days ago or earlier are deleted.",
    )
    statuses = forms.MultipleChoiceField(
        choices=[(s, s.capitalize().replace("_", " ")) for s in FINISHED_ORDER],
        widget=forms.CheckboxSelectMultiple,
        label="That ended",
    )
    # What the confirmation page counted: deleting needs the same choices.
    counted = forms.CharField(required=False, widget=forms.HiddenInput)

    def preview_key(self) -> str:
        data = self.cleaned_data
        return f"{data['older_than_days']:g}|{','.join(sorted(data['statuses']))}"


def signature_of(name: str) -> str:
    """A workflow's inputs as written in its code: "(user_id: int)"."""
    try:
        signature = inspect.signature(register.workflows[name].fn)
    except (KeyError, TypeError, ValueError):
        return ""
    parameters = list(signature.parameters.values())[1:]  # the first is ctx
    return "(" + ", ".join(str(p) for p in parameters) + ")"
