"""What lead search reads: one row per lead with its folded text, apart from the lead row.

Scoring updates every lead row on each rescoring run; an index on the lead table is written
on every such update. The trigram index lives here instead, on a table written only when a
lead's name, email, phone, company name or external ids change (leadhub.search.refresh_search_text).
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import F


class LeadSearch(models.Model):
    lead = models.OneToOneField("leadhub.Lead", primary_key=True, on_delete=models.CASCADE, related_name="search_text")
    # " first last email phone company external-ids", folded (leadhub.search.search_document).
    document = models.TextField()
    # Folded "first last" and email: what exact and prefix matches rank first by.
    name = models.TextField(blank=True)
    email = models.TextField(blank=True)

    class Meta:
        verbose_name = "lead search text"
        indexes = [
            # Every word of a search is a LIKE '%word%' on the document; PostgreSQL only.
            GinIndex(OpClass(F("document"), name="gin_trgm_ops"), name="leadsearch_document_trgm"),
            # Exact and prefix matches of a full name or email: a broad search's first tiers.
            models.Index(fields=["name"], opclasses=["text_pattern_ops"], name="leadsearch_name_prefix"),
            models.Index(fields=["email"], opclasses=["text_pattern_ops"], name="leadsearch_email_prefix"),
        ]

    def __str__(self):
        return self.document
