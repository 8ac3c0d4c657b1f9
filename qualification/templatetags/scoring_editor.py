"""Template filters of the scoring editor."""

from django import template
from django.utils.safestring import mark_safe

from qualification import rule_text

register = template.Library()


@register.filter
def rule_sentence(rule):
    """“Title contains Consultant: −10” for a fit or engagement rule."""
    return rule_text.sentence(rule)


@register.simple_tag
def rule_rows(inline_admin_formset):
    """The rule rows of one group, rendered by Jinja2 (templates/jinja2/qualification/rule_rows.html)."""
    from django.template import engines

    template = engines["jinja2"].get_template("qualification/rule_rows.html")
    labels = rule_text.custom_labels([form.instance for form in inline_admin_formset.formset.initial_forms])

    def sentence(rule):
        return rule_text.sentence(rule, labels)

    return mark_safe(template.render({"inline_admin_formset": inline_admin_formset, "sentence": sentence}))


@register.filter
def run_sentence(run):
    """(headline, detail) of a rescoring run in plain words (qualification.run_text)."""
    from qualification.run_text import run_sentence as sentence

    return sentence(run)
