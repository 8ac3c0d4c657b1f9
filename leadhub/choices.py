from django.db import models


class Stage(models.TextChoices):
    NEW = "new", "New"
    NURTURE = "nurture", "Nurture"
    MQL = "mql", "MQL"
    SAL = "sal", "SAL"
    SQL = "sql", "SQL"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    DISQUALIFIED = "disqualified", "Disqualified"


class DefaultChannel(models.TextChoices):
    INBOUND_FORM = "inbound_form", "Inbound form"
    EVENT = "event", "Event"
    INTERACTION = "interaction", "Interaction"
    PAID = "paid", "Paid"
    REFERRAL = "referral", "Referral"
    IMPORT = "import", "Import"
    OTHER = "other", "Other"


class DefaultActivityKind(models.TextChoices):
    PAGE_VIEW = "page_view", "Page view"
    PRICING_PAGE_VIEW = "pricing_page_view", "Pricing page view"
    EMAIL_OPEN = "email_open", "Email open"
    EMAIL_CLICK = "email_click", "Email click"
    EMAIL_REPLY = "email_reply", "Email reply"
    CONTENT_DOWNLOAD = "content_download", "Content download"
    DEMO_REQUEST = "demo_request", "Demo request"
    CONTACT_REQUEST = "contact_request", "Contact request"
    WEBINAR_REGISTERED = "webinar_registered", "Webinar registered"
    WEBINAR_ATTENDED = "webinar_attended", "Webinar attended"
    EVENT_CONVERSATION = "event_conversation", "Event conversation"
    SOCIAL_ENGAGEMENT = "social_engagement", "Social engagement"


class DefaultIndustry(models.TextChoices):
    SOFTWARE = "software", "Software"
    FINANCIAL_SERVICES = "financial_services", "Financial services"
    MANUFACTURING = "manufacturing", "Manufacturing"
    HEALTHCARE = "healthcare", "Healthcare"
    RETAIL = "retail", "Retail"
    EDUCATION = "education", "Education"
    LOGISTICS = "logistics", "Logistics"
    PROFESSIONAL_SERVICES = "professional_services", "Professional services"
    MEDIA = "media", "Media"
    PUBLIC_SECTOR = "public_sector", "Public sector"
    OTHER = "other", "Other"


class Grade(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"
    D = "D", "D"
