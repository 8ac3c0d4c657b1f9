"""Read queries for the sales-acceptance queue."""


def lead_handoff_context(lead, user):
    """Template context for the lead page's handoff section (templates/handoff/_lead_handoff.html)."""
    return {}
