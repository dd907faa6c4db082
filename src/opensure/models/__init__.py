"""Tables, one module per family. Importing this package registers every table on Base.metadata."""

from opensure.models.accounts import (
    Account,
    AccountLogo,
    ApiToken,
    EmailTemplate,
    Segment,
    SegmentOption,
    Staff,
    Team,
    Unsubscribe,
)
from opensure.models.audit import AuditEvent
from opensure.models.feedback import (
    Answer,
    FeedbackRequest,
    FeedbackRequestItem,
    FeedbackResponse,
    RequestSegmentOption,
)
from opensure.models.idempotency import IdempotencyKey
from opensure.models.instance import InstanceSetting
from opensure.models.rollups import (
    NpsDay,
    NpsRatingDay,
    RequestCount,
    ResponseCount,
    ResponseRateByDay,
    ResponseRateDay,
    ResponsesDay,
)
from opensure.models.sites import Site, SiteAlias
from opensure.models.surveys import Question, QuestionRevision, Survey
from opensure.models.users import ConsoleSession, Membership, PasswordLink, SignInFailure, User
from opensure.models.webhooks import WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "Account",
    "AccountLogo",
    "Answer",
    "ApiToken",
    "AuditEvent",
    "ConsoleSession",
    "EmailTemplate",
    "FeedbackRequest",
    "FeedbackRequestItem",
    "FeedbackResponse",
    "IdempotencyKey",
    "InstanceSetting",
    "Membership",
    "NpsDay",
    "NpsRatingDay",
    "PasswordLink",
    "Question",
    "QuestionRevision",
    "RequestCount",
    "RequestSegmentOption",
    "ResponseCount",
    "ResponseRateByDay",
    "ResponseRateDay",
    "ResponsesDay",
    "Segment",
    "SegmentOption",
    "SignInFailure",
    "Site",
    "SiteAlias",
    "Staff",
    "Survey",
    "Team",
    "Unsubscribe",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
