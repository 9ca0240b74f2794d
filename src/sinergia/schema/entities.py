"""Canonical entities, declared once.

Every table in the engine, every mapping target, the docs (`docs/data-model.md`) and the ingestion
validation read these declarations; nobody keeps a second list.

Conventions:
- times are UTC and stored as naive ``TIMESTAMP`` (a mapping says which time zone its source uses);
- money is ``DECIMAL(18,2)`` next to an ISO-4217 ``currency`` column;
- ``attributes`` is a JSON object holding source columns the mapping keeps but the model does not name,
  so nothing a user imports is thrown away.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sinergia.errors import UsageError

#: Logical type → DuckDB type. Mappings and validation speak the logical names.
SQL_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "double": "DOUBLE",
    "money": "DECIMAL(18,2)",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "json": "JSON",
}

JOURNEY_STAGES = ("before", "during", "after")
CHANNELS = ("email", "chat", "phone", "whatsapp", "web", "social", "in_app", "api", "other")
TICKET_STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
SUBSCRIPTION_CHANGE_KINDS = ("new", "expansion", "contraction", "churn", "reactivation")
SURVEY_KINDS = ("nps", "csat", "ces")
LIFECYCLE_STAGES = ("prospect", "trial", "onboarding", "adoption", "renewal", "expansion", "churned", "customer")


@dataclass(frozen=True)
class Field:
    """One column of a canonical entity."""

    name: str
    type: str
    description: str
    required: bool = False
    allowed: tuple[str, ...] = ()
    minimum: float | None = None
    references: str | None = None  # entity name whose key this column holds

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.type]


@dataclass(frozen=True)
class Entity:
    """A canonical table: its key, its columns and how rows are identified."""

    name: str
    description: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    #: When the key column is not mapped, the key is a hash of the row's mapped content
    #: (append-only facts such as usage events); otherwise a missing key is an error.
    key_from_content: bool = False
    #: Column used to match records that arrive under another id (identity resolution).
    identity_field: str | None = None
    system_fields: tuple[Field, ...] = field(default=())

    def field(self, name: str) -> Field:
        for f in self.all_fields:
            if f.name == name:
                return f
        raise UsageError(
            f"entity '{self.name}' has no field '{name}'; fields: {', '.join(f.name for f in self.fields)}"
        )

    @property
    def all_fields(self) -> tuple[Field, ...]:
        return self.fields + SYSTEM_FIELDS

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)


ATTRIBUTES = Field("attributes", "json", "Source columns kept as they came, as a JSON object.")
CURRENCY = Field("currency", "string", "ISO-4217 code of the money columns, upper case (BRL, USD, EUR).")

#: Bookkeeping columns every canonical table carries.
SYSTEM_FIELDS: tuple[Field, ...] = (
    Field("_source", "string", "Preset or mapping name the row came from."),
    Field("_import_id", "string", "Import that last wrote the row (see the `imports` table)."),
    Field("_loaded_at", "timestamp", "UTC time the row was last written."),
)


def _f(name: str, type_: str, description: str, **kw: object) -> Field:
    return Field(name, type_, description, **kw)  # type: ignore[arg-type]


ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity(
            "accounts",
            "A customer company (B2B) or a person who buys (B2C). Hierarchies through `parent_account_id`.",
            key=("account_id",),
            identity_field="domain",
            fields=(
                _f("account_id", "string", "Canonical id (the source's external id).", required=True),
                _f("name", "string", "Display name."),
                _f("domain", "string", "Web domain, lower case without `www.`; used to match companies."),
                _f("parent_account_id", "string", "Parent account for hierarchies.", references="accounts"),
                _f("owner", "string", "Account owner / CSM (e-mail or name)."),
                _f("segment", "string", "Commercial segment (e.g. SMB, Mid-Market, Enterprise)."),
                _f("industry", "string", "Industry."),
                _f("country", "string", "Country (name or ISO code as the source gives it)."),
                _f("region", "string", "State, region or city grouping."),
                _f("plan", "string", "Current plan or tier."),
                _f("persona", "string", "Buyer persona of the account."),
                _f("lifecycle_stage", "string", "Lifecycle stage.", allowed=LIFECYCLE_STAGES),
                _f("employees", "integer", "Company size in employees.", minimum=0),
                _f("licenses", "integer", "Seats or licences contracted.", minimum=0),
                _f("created_at", "timestamp", "When the account became a customer or was created."),
                _f("renewal_at", "timestamp", "Next renewal date of the main contract."),
                CURRENCY,
                ATTRIBUTES,
            ),
        ),
        Entity(
            "contacts",
            "A person at an account: user, champion, admin, buyer.",
            key=("contact_id",),
            identity_field="email",
            fields=(
                _f("contact_id", "string", "Canonical id (the source's external id).", required=True),
                _f("account_id", "string", "Account the person belongs to.", references="accounts"),
                _f("email", "string", "E-mail, lower case; used to match people across sources."),
                _f("name", "string", "Full name."),
                _f("title", "string", "Job title."),
                _f("role", "string", "Role toward us (user, admin, champion, decision_maker, billing)."),
                _f("persona", "string", "Persona used for CX segmentation."),
                _f("language", "string", "Preferred language (pt-BR, en, ...)."),
                _f("created_at", "timestamp", "When the contact was created."),
                ATTRIBUTES,
            ),
        ),
        Entity(
            "subscriptions",
            "A recurring contract line. MRR is normalised to a month (annual plans divided by 12).",
            key=("subscription_id",),
            fields=(
                _f("subscription_id", "string", "Canonical id.", required=True),
                _f("account_id", "string", "Paying account.", required=True, references="accounts"),
                _f("plan", "string", "Plan or product."),
                _f("status", "string", "Status as the billing system gives it (active, trialing, canceled, ...)."),
                _f("started_at", "timestamp", "Start of the subscription.", required=True),
                _f("ended_at", "timestamp", "End or cancellation; null while active."),
                _f("mrr", "money", "Monthly recurring revenue.", required=True, minimum=0),
                CURRENCY,
                _f("quantity", "integer", "Seats / units.", minimum=0),
                _f("billing_period", "string", "Billing period.", allowed=("month", "quarter", "year", "other")),
                _f("is_trial", "boolean", "A trial, not revenue."),
                ATTRIBUTES,
            ),
        ),
        Entity(
            "subscription_changes",
            "One MRR movement of a subscription: new, expansion, contraction, churn or reactivation.",
            key=("change_id",),
            key_from_content=True,
            fields=(
                _f("change_id", "string", "Canonical id; hashed from the row when absent."),
                _f("subscription_id", "string", "Subscription changed.", references="subscriptions"),
                _f("account_id", "string", "Account.", required=True, references="accounts"),
                _f("changed_at", "timestamp", "When the change took effect.", required=True),
                _f("kind", "string", "Movement kind.", required=True, allowed=SUBSCRIPTION_CHANGE_KINDS),
                _f("mrr_before", "money", "MRR before the change.", minimum=0),
                _f("mrr_after", "money", "MRR after the change.", minimum=0),
                CURRENCY,
                ATTRIBUTES,
            ),
        ),
        Entity(
            "orders",
            "An order or invoice (non-contractual and contractual billing alike).",
            key=("order_id",),
            fields=(
                _f("order_id", "string", "Canonical id.", required=True),
                _f("account_id", "string", "Buying account.", references="accounts"),
                _f("contact_id", "string", "Buying person.", references="contacts"),
                _f("kind", "string", "order or invoice.", allowed=("order", "invoice", "credit_note")),
                _f("status", "string", "Status as the source gives it."),
                _f("ordered_at", "timestamp", "Order or invoice date.", required=True),
                _f("amount", "money", "Total amount (negative for refunds and credit notes)."),
                CURRENCY,
                ATTRIBUTES,
            ),
        ),
        Entity(
            "order_lines",
            "A line of an order or invoice (product, quantity, price).",
            key=("order_id", "line_number"),
            fields=(
                _f("order_id", "string", "Order the line belongs to.", required=True, references="orders"),
                _f("line_number", "integer", "Position within the order.", required=True, minimum=0),
                _f("account_id", "string", "Buying account.", references="accounts"),
                _f("ordered_at", "timestamp", "Order date."),
                _f("product_id", "string", "Product or SKU."),
                _f("description", "string", "Product description."),
                _f("quantity", "double", "Quantity (negative for returns)."),
                _f("unit_price", "money", "Unit price."),
                _f("amount", "money", "Line total."),
                CURRENCY,
                ATTRIBUTES,
            ),
        ),
        Entity(
            "usage_events",
            "Something a user did in the product (Segment `track`-style).",
            key=("event_id",),
            key_from_content=True,
            fields=(
                _f("event_id", "string", "Canonical id (Segment messageId); hashed from the row when absent."),
                _f("account_id", "string", "Account.", references="accounts"),
                _f("contact_id", "string", "User.", references="contacts"),
                _f("event", "string", "Event name.", required=True),
                _f("feature", "string", "Product feature the event belongs to."),
                _f("occurred_at", "timestamp", "When it happened.", required=True),
                _f("quantity", "double", "How many (default 1)."),
                _f("duration_seconds", "double", "Time spent.", minimum=0),
                _f("properties", "json", "Event properties."),
                ATTRIBUTES,
            ),
        ),
        Entity(
            "tickets",
            "A support request: channel, priority, status and the help-desk's own metrics.",
            key=("ticket_id",),
            fields=(
                _f("ticket_id", "string", "Canonical id.", required=True),
                _f("account_id", "string", "Requesting account.", references="accounts"),
                _f("contact_id", "string", "Requester.", references="contacts"),
                _f("subject", "string", "Subject."),
                _f("description", "string", "First message text."),
                _f("channel", "string", "Channel.", allowed=CHANNELS),
                _f("priority", "string", "Priority.", allowed=("low", "normal", "high", "urgent")),
                _f("status", "string", "Current status.", allowed=TICKET_STATUSES),
                _f("type", "string", "Type (question, incident, problem, task, ...)."),
                _f("team", "string", "Group / team."),
                _f("assignee", "string", "Agent."),
                _f("created_at", "timestamp", "Opened.", required=True),
                _f("first_reply_at", "timestamp", "First public agent reply."),
                _f("solved_at", "timestamp", "Last solved."),
                _f("closed_at", "timestamp", "Closed."),
                _f("updated_at", "timestamp", "Last update."),
                _f("reopens", "integer", "Times reopened (as the help desk counts).", minimum=0),
                _f("replies", "integer", "Public agent replies.", minimum=0),
                _f("csat_score", "double", "Satisfaction rating given to the ticket."),
                _f("csat_scale", "integer", "Top of the CSAT scale (2 = good/bad, 5 = 1-5).", minimum=1),
                _f("tags", "string", "Tags, comma-separated."),
                ATTRIBUTES,
            ),
        ),
        Entity(
            "ticket_events",
            "Status history of a ticket: one row per change (status, assignment, reply).",
            key=("event_id",),
            key_from_content=True,
            fields=(
                _f("event_id", "string", "Canonical id; hashed from the row when absent."),
                _f("ticket_id", "string", "Ticket.", required=True, references="tickets"),
                _f("occurred_at", "timestamp", "When.", required=True),
                _f("sequence", "integer", "Order of the change within the ticket.", minimum=0),
                _f("kind", "string", "status, assignment, public_reply, internal_note, field.", required=True),
                _f("status", "string", "Ticket status after the change (canonical).", allowed=TICKET_STATUSES),
                _f("source_status", "string", "Status label as the source gives it."),
                _f("actor", "string", "Who: agent, requester, system."),
                _f("team", "string", "Group after the change."),
                _f("assignee", "string", "Assignee after the change."),
                ATTRIBUTES,
            ),
        ),
        Entity(
            "survey_responses",
            "An NPS, CSAT or CES answer with its scale, comment, touchpoint and journey stage.",
            key=("response_id",),
            fields=(
                _f("response_id", "string", "Canonical id.", required=True),
                _f("account_id", "string", "Account.", references="accounts"),
                _f("contact_id", "string", "Respondent.", references="contacts"),
                _f("ticket_id", "string", "Ticket the answer rates, if any.", references="tickets"),
                _f("survey", "string", "nps, csat or ces.", required=True, allowed=SURVEY_KINDS),
                _f("score", "double", "Answer on the scale; null when unrated."),
                _f("scale_min", "integer", "Lowest value of the scale (0 for NPS)."),
                _f("scale_max", "integer", "Highest value of the scale (10 for NPS).", minimum=1),
                _f("comment", "string", "Free-text comment."),
                _f("touchpoint", "string", "Touchpoint asked about (onboarding, support, delivery, ...)."),
                _f("journey_stage", "string", "Before, during or after the purchase.", allowed=JOURNEY_STAGES),
                _f("channel", "string", "Channel the survey went out on.", allowed=CHANNELS),
                _f("language", "string", "Answer language."),
                _f("sent_at", "timestamp", "When the survey was sent."),
                _f("responded_at", "timestamp", "When it was answered.", required=True),
                ATTRIBUTES,
            ),
        ),
        Entity(
            "feedback",
            "Free text from customers: reviews, mentions, comments.",
            key=("feedback_id",),
            fields=(
                _f("feedback_id", "string", "Canonical id.", required=True),
                _f("account_id", "string", "Account.", references="accounts"),
                _f("contact_id", "string", "Author.", references="contacts"),
                _f("kind", "string", "review, mention, comment, ticket_text.", required=True),
                _f("text", "string", "The text.", required=True),
                _f("title", "string", "Title, if any."),
                _f("rating", "double", "Rating attached to the text, if any."),
                _f("rating_scale", "integer", "Top of the rating scale.", minimum=1),
                _f("touchpoint", "string", "Touchpoint."),
                _f("journey_stage", "string", "Before, during or after the purchase.", allowed=JOURNEY_STAGES),
                _f("channel", "string", "Where it was said (store, twitter, app store, ...)."),
                _f("language", "string", "Language."),
                _f("created_at", "timestamp", "When.", required=True),
                ATTRIBUTES,
            ),
        ),
        Entity(
            "touchpoints",
            "A moment of the journey: a demo, a kickoff, a QBR, a delivery, a renewal call.",
            key=("touchpoint_id",),
            key_from_content=True,
            fields=(
                _f("touchpoint_id", "string", "Canonical id; hashed from the row when absent."),
                _f("account_id", "string", "Account.", required=True, references="accounts"),
                _f("contact_id", "string", "Person involved.", references="contacts"),
                _f("name", "string", "What happened (demo, kickoff, qbr, ...).", required=True),
                _f("journey_stage", "string", "Before, during or after the purchase.", allowed=JOURNEY_STAGES),
                _f("channel", "string", "Channel.", allowed=CHANNELS),
                _f("occurred_at", "timestamp", "When.", required=True),
                _f("owner", "string", "Who ran it on our side."),
                ATTRIBUTES,
            ),
        ),
    )
}


def entity(name: str) -> Entity:
    """The entity called ``name``; a clear error listing the valid names otherwise."""
    try:
        return ENTITIES[name]
    except KeyError:
        raise UsageError(f"unknown entity '{name}'; entities: {', '.join(ENTITIES)}") from None
