from django.db import models


class ModelStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    ARCHIVED = "archived", "Archived"


class FitField(models.TextChoices):
    """The standard fields fit rules read; custom fields are `attributes.<key>` (see language.py)."""

    INDUSTRY = "industry", "Industry"
    EMPLOYEE_COUNT = "employee_count", "Employee count"
    ANNUAL_REVENUE = "annual_revenue", "Annual revenue (USD)"
    TITLE = "title", "Title"
    COUNTRY = "country", "Country"
    EMAIL_DOMAIN = "email_domain", "Email domain"
    CHANNEL = "channel", "Channel"
    CAMPAIGN = "campaign", "Campaign"
    PHONE = "phone", "Phone"
    FIRST_NAME = "first_name", "First name"
    LAST_NAME = "last_name", "Last name"
    COMPANY_NAME = "company_name", "Company name"
    COMPANY_COUNTRY = "company_country", "Company country"


NUMERIC_FIELDS = frozenset({FitField.EMPLOYEE_COUNT, FitField.ANNUAL_REVENUE})
ATTRIBUTE_PREFIX = "attributes."


class Operator(models.TextChoices):
    EQUALS = "equals", "equals"
    IS_NOT = "is_not", "is not"
    IN = "in", "is one of"
    NOT_IN = "not_in", "is not one of"
    CONTAINS = "contains", "contains"
    STARTS_WITH = "starts_with", "starts with"
    GTE = "gte", "≥"
    LTE = "lte", "≤"
    BETWEEN = "between", "between"
    IS_EMPTY = "is_empty", "is empty"
    IS_NOT_EMPTY = "is_not_empty", "is not empty"


# Which operators make sense on which type of field (language.field_type).
EMPTINESS = frozenset({Operator.IS_EMPTY, Operator.IS_NOT_EMPTY})
TEXT_OPERATORS = frozenset(
    {Operator.EQUALS, Operator.IS_NOT, Operator.IN, Operator.NOT_IN, Operator.CONTAINS, Operator.STARTS_WITH} | EMPTINESS
)
CHOICE_OPERATORS = frozenset({Operator.EQUALS, Operator.IS_NOT, Operator.IN, Operator.NOT_IN} | EMPTINESS)
NUMERIC_OPERATORS = frozenset({Operator.EQUALS, Operator.IS_NOT, Operator.GTE, Operator.LTE, Operator.BETWEEN} | EMPTINESS)
DATE_OPERATORS = NUMERIC_OPERATORS
BOOLEAN_OPERATORS = frozenset({Operator.EQUALS, Operator.IS_NOT} | EMPTINESS)
OPERATORS_BY_TYPE = {
    "text": TEXT_OPERATORS,
    "choice": CHOICE_OPERATORS,
    "number": NUMERIC_OPERATORS,
    "date": DATE_OPERATORS,
    "boolean": BOOLEAN_OPERATORS,
}


class Aggregate(models.TextChoices):
    EACH = "", "each occurrence (decayed)"
    COUNT = "count", "count within the window"
    SUM = "sum", "sum of a property within the window"


class RequiredField(models.TextChoices):
    FIRST_NAME = "first_name", "First name"
    LAST_NAME = "last_name", "Last name"
    TITLE = "title", "Title"
    PHONE = "phone", "Phone"
    COUNTRY = "country", "Country"
    COMPANY = "company", "Company"


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


ACTIVE_RUN_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING)


class RunKind(models.TextChoices):
    PUBLISH = "publish", "Publish"
    NIGHTLY = "nightly", "Nightly decay"
    MANUAL = "manual", "Manual"
