from django.db import models


class ModelStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    ARCHIVED = "archived", "Archived"


class FitField(models.TextChoices):
    INDUSTRY = "industry", "Industry"
    EMPLOYEE_COUNT = "employee_count", "Employee count"
    ANNUAL_REVENUE = "annual_revenue", "Annual revenue (USD)"
    TITLE = "title", "Title"
    COUNTRY = "country", "Country"
    EMAIL_DOMAIN = "email_domain", "Email domain"


NUMERIC_FIELDS = frozenset({FitField.EMPLOYEE_COUNT, FitField.ANNUAL_REVENUE})


class Operator(models.TextChoices):
    EQUALS = "equals", "equals"
    IN = "in", "is one of"
    CONTAINS = "contains", "contains"
    GTE = "gte", "≥"
    LTE = "lte", "≤"
    BETWEEN = "between", "between"


# Which operators make sense on which kind of field.
TEXT_OPERATORS = frozenset({Operator.EQUALS, Operator.IN, Operator.CONTAINS})
NUMERIC_OPERATORS = frozenset({Operator.EQUALS, Operator.GTE, Operator.LTE, Operator.BETWEEN})


class ConditionProperty(models.TextChoices):
    # Conditions read numeric properties that the daily rollups keep (see rollups.py);
    # a new property means a new rollup column.
    MINUTES = "minutes", "minutes"


class ConditionOperator(models.TextChoices):
    GTE = "gte", "≥"
    LTE = "lte", "≤"
    EQUALS = "equals", "="


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
