"""Read queries for scoring."""


def lead_score_context(lead):
    """Template context for the lead page's score section (templates/qualification/_lead_score.html)."""
    return {}
