"""Believable demo data for lead records, written in bulk (COPY on PostgreSQL).

Rows get explicit ids so activities can point at leads without reading them back; the
id sequences are reset afterwards. Everything is drawn from one seeded random generator,
so the same --seed gives the same data.
"""

import json
import math
import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from .choices import DefaultActivityKind, DefaultChannel
from .demo_data import (  # noqa: F401
    ACTIVITY_WEIGHTS,
    CAMPAIGNS,
    CHANNEL_WEIGHTS,
    COUNTRIES,
    DEMO_PASSWORD,
    DEMO_USERS,
    ENGAGED_WEIGHTS,
    FIRST_NAMES,
    FREE_MAIL,
    HISTORY_DAYS,
    INDUSTRY_WEIGHTS,
    LAST_NAMES,
    NAME_PARTS_A,
    NAME_PARTS_B,
    PAGES,
    TITLES,
)
from .models import Activity, Company, Lead
from .search import refresh_search_text


def _weighted(rng, weights):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def ensure_demo_users():
    """The demo users, all with DEMO_PASSWORD, in their role groups. Returns them by username."""
    User = get_user_model()
    password = make_password(DEMO_PASSWORD)
    users = {}
    for username, first, last, role, is_staff in DEMO_USERS:
        user, _ = User.objects.update_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@leadhub.example",
                "is_staff": is_staff,
                "is_superuser": username == "admin",
                "password": password,
                "is_active": True,
            },
        )
        if role:
            user.groups.set([Group.objects.get(name=role)])
        users[username] = user
    return users


class BulkWriter:
    """Insert rows fast: COPY on PostgreSQL, multi-row INSERT elsewhere."""

    def __init__(self, model, fields):
        self.model = model
        self.fields = fields
        self.columns = [model._meta.get_field(f).column for f in fields]

    def write(self, rows):
        if not rows:
            return
        if connection.vendor == "postgresql":
            table = self.model._meta.db_table
            with connection.cursor() as cursor:
                with cursor.copy(f"COPY {table} ({', '.join(self.columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        else:
            objs = [self.model(**dict(zip(self.fields, row, strict=True))) for row in rows]
            self.model.objects.bulk_create(objs, batch_size=500)


def reset_sequences(models):
    sql = connection.ops.sequence_reset_sql(no_style(), models)
    if sql:
        with connection.cursor() as cursor:
            for statement in sql:
                cursor.execute(statement)


def _next_id(model):
    return (model.objects.aggregate(m=Max("id"))["m"] or 0) + 1


def seed_companies(rng, count, now):
    rows, domains = [], []
    start = _next_id(Company)
    seen = set()
    for i in range(count):
        while True:
            name = f"{rng.choice(NAME_PARTS_A)} {rng.choice(NAME_PARTS_B)}"
            domain = name.lower().replace(" ", "") + (f"{rng.randint(2, 999)}" if name in seen else "") + ".com"
            if domain not in seen:
                break
        seen.add(name)
        seen.add(domain)
        employees = int(math.exp(rng.uniform(math.log(5), math.log(20000))))
        revenue = round(employees * rng.uniform(80_000, 260_000), -3)
        industry = _weighted(rng, INDUSTRY_WEIGHTS)
        rows.append((start + i, domain, name, industry, employees, revenue, rng.choice(COUNTRIES), now))
        domains.append((start + i, domain))
    BulkWriter(Company, ["id", "domain", "name", "industry", "employee_count", "annual_revenue", "country", "created_at"]).write(
        rows
    )
    return domains


LEAD_FIELDS = [
    "id",
    "email",
    "first_name",
    "last_name",
    "title",
    "phone",
    "country",
    "company_id",
    "source",
    "campaign",
    "stage",
    "fit_score",
    "engagement_score",
    "total_score",
    "grade",
    "recycle_count",
    "last_activity_at",
    "created_at",
    "updated_at",
    "attributes",
]
ACTIVITY_FIELDS = ["lead_id", "kind", "occurred_at", "properties", "source", "external_id", "created_at"]


def _activity_properties(rng, kind):
    if kind in (DefaultActivityKind.PAGE_VIEW,):
        return {"url": rng.choice(PAGES)}
    if kind == DefaultActivityKind.PRICING_PAGE_VIEW:
        return {"url": "/pricing"}
    if kind == DefaultActivityKind.WEBINAR_ATTENDED:
        return {"minutes": rng.choice([8, 15, 25, 35, 45, 55])}
    if kind == DefaultActivityKind.CONTENT_DOWNLOAD:
        return {"asset": rng.choice(["data-playbook.pdf", "roi-calculator.xlsx", "analyst-report.pdf"])}
    return {}


def seed_leads(*, leads, activities_per_lead=4.0, seed=7, progress=None, chunk_size=5000, now=None):
    """Create `leads` leads (with companies and activities over the 90 days before `now`)."""
    rng = random.Random(seed)
    now = now or timezone.now()
    company_count = max(40, leads // 6)
    with transaction.atomic():
        companies = seed_companies(rng, company_count, now)
    lead_writer = BulkWriter(Lead, LEAD_FIELDS)
    activity_writer = BulkWriter(Activity, ACTIVITY_FIELDS)
    next_lead_id = _next_id(Lead)
    title_names = [t for t, _ in TITLES]
    title_weights = [w for _, w in TITLES]
    channels = list(CHANNEL_WEIGHTS)
    channel_weights = list(CHANNEL_WEIGHTS.values())
    kinds, kind_weights = list(ACTIVITY_WEIGHTS), list(ACTIVITY_WEIGHTS.values())
    ekinds, ekind_weights = list(ENGAGED_WEIGHTS), list(ENGAGED_WEIGHTS.values())
    no_attributes = "{}" if connection.vendor == "postgresql" else {}  # COPY takes JSON text
    made = 0
    total_activities = 0
    seen_emails = set()
    while made < leads:
        batch = min(chunk_size, leads - made)
        lead_rows, activity_rows = [], []
        for _ in range(batch):
            lead_id = next_lead_id + made
            made += 1
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            channel = rng.choices(channels, weights=channel_weights)[0]
            title = rng.choices(title_names, weights=title_weights)[0]
            # Paid social brings in students and free-mail sign-ups; that is the story
            # marketing's feedback page tells.
            student_odds = 0.12 if channel == DefaultChannel.PAID else 0.02
            if rng.random() < student_odds:
                title = rng.choice(["Student", "Graduate Student", "Intern"])
            free_mail_odds = 0.18 if channel == DefaultChannel.PAID else 0.06
            if rng.random() < free_mail_odds or title.endswith("Student"):
                company_id, domain = None, rng.choice(FREE_MAIL)
            else:
                company_id, domain = companies[rng.randrange(len(companies))]
            local = f"{first}.{last}".lower().replace("ü", "ue")
            email = f"{local}@{domain}"
            # Numbered addresses when the plain one is taken (or for big sets, where
            # remembering every address would cost memory).
            if made > 50_000 or email in seen_emails:
                email = f"{local}.{lead_id}@{domain}"
            elif email not in seen_emails:
                seen_emails.add(email)
            created = now - timedelta(days=rng.uniform(0, HISTORY_DAYS))
            engaged = rng.random() < 0.14
            count = int(rng.expovariate(1 / activities_per_lead)) if activities_per_lead else 0
            if engaged:
                count += rng.randint(3, 8)
            last_at = None
            span = max((now - created).total_seconds(), 60)
            for n in range(count):
                kind = (
                    rng.choices(ekinds, weights=ekind_weights)[0]
                    if engaged and n % 2
                    else rng.choices(kinds, weights=kind_weights)[0]
                )
                at = created + timedelta(seconds=rng.uniform(0, span))
                last_at = at if last_at is None or at > last_at else last_at
                activity_rows.append(
                    (lead_id, kind, at, json.dumps(_activity_properties(rng, kind)), "demo", f"demo-{lead_id}-{n}", at)
                )
            country = rng.choice(COUNTRIES)
            phone = f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}" if rng.random() < 0.6 else ""
            campaign = rng.choice(CAMPAIGNS[channel])
            if rng.random() < 0.03:
                first_name, last_name, title_value = "", "", ""  # incomplete profiles exist too
            else:
                first_name, last_name, title_value = first, last, title
            lead_rows.append(
                (
                    lead_id,
                    email,
                    first_name,
                    last_name,
                    title_value,
                    phone,
                    country,
                    company_id,
                    channel,
                    campaign,
                    "new",
                    0,
                    0,
                    0,
                    "",
                    0,
                    last_at,
                    created,
                    created,
                    no_attributes,
                )
            )
        with transaction.atomic():
            lead_writer.write(lead_rows)
            refresh_search_text([row[0] for row in lead_rows])
            if connection.vendor != "postgresql":
                activity_rows = [(*row[:3], json.loads(row[3]), *row[4:]) for row in activity_rows]
            activity_writer.write(activity_rows)
        total_activities += len(activity_rows)
        if progress:
            progress(batch)
    reset_sequences([Company, Lead, Activity])
    return {"companies": len(companies), "leads": leads, "activities": total_activities}
