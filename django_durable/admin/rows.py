"""The executions list's table, built in Python: one ``format_html`` per cell.

Django's own ``result_list`` looks each column up again for every cell (field, label,
empty value, link...), which was most of the list's time; the columns here are known, so
the table is written directly, with the same markup (the checkboxes work with Django's
``actions.js`` as before).
"""

from __future__ import annotations

from django.contrib.admin import helpers
from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

SELECT_ALL = (
    '<th scope="col" class="action-checkbox-column"><div class="text"><span>'
    '<input type="checkbox" id="action-toggle" '
    'aria-label="Select all objects on this page for an action"></span></div>'
    '<div class="clear"></div></th>'
)


def table_parts(model_admin, list_display, rows) -> tuple[SafeString, list[SafeString]]:
    """The header row and one ``<tr>`` per execution, for ``list_display``'s columns.

    The first column after the checkbox links to the execution's page.
    """
    with_checkbox = list_display[0] == "action_checkbox"
    columns = [name for name in list_display if name != "action_checkbox"]
    methods = [getattr(model_admin, name) for name in columns]
    header = [SELECT_ALL] if with_checkbox else []
    for name, method in zip(columns, methods, strict=True):
        label = getattr(method, "short_description", name)
        header.append(
            format_html(
                '<th scope="col" class="column-{}"><div class="text"><span>{}</span></div>'
                '<div class="clear"></div></th>',
                name,
                label[:1].upper() + label[1:],
            )
        )
    opts = model_admin.opts
    # One reverse() for the page; each row's link replaces the placeholder id.
    change_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=["~id~"])
    lines = []
    for obj in rows:
        cells = []
        if with_checkbox:
            cells.append(
                format_html(
                    '<td class="action-checkbox"><input type="checkbox" name="{}" value="{}" '
                    'class="action-select" aria-label="Select this object for an action - {}">'
                    "</td>",
                    helpers.ACTION_CHECKBOX_NAME,
                    obj.pk,
                    str(obj),
                )
            )
        first, *rest = zip(columns, methods, strict=True)
        cells.append(
            format_html(
                '<th class="field-{}"><a href="{}">{}</a></th>',
                first[0],
                change_url.replace("~id~", quote(obj.pk)),
                first[1](obj),
            )
        )
        for name, method in rest:
            cells.append(format_html('<td class="field-{}">{}</td>', name, method(obj)))
        lines.append(mark_safe("<tr>" + "".join(cells) + "</tr>"))
    return mark_safe("<tr>" + "".join(header) + "</tr>"), lines
