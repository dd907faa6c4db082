"""Tables, one module per family. Importing this package registers every table on Base.metadata."""

from opensure.models.accounts import (
    Account,
    ApiToken,
    EmailTemplate,
    Segment,
    SegmentOption,
    Staff,
    Team,
    Unsubscribe,
)
from opensure.models.feedback import (
    Answer,
    FeedbackRequest,
    FeedbackRequestItem,
    FeedbackResponse,
    RequestSegmentOption,
)
from opensure.models.idempotency import IdempotencyKey
from opensure.models.instance import InstanceSetting
from opensure.models.rollups import NpsDay, RequestCount, ResponseCount, ResponseRateDay
from opensure.models.sites import Site, SiteAlias
from opensure.models.surveys import Question, Survey

__all__ = [
    "Account",
    "Answer",
    "ApiToken",
    "EmailTemplate",
    "FeedbackRequest",
    "FeedbackRequestItem",
    "FeedbackResponse",
    "IdempotencyKey",
    "InstanceSetting",
    "NpsDay",
    "Question",
    "RequestCount",
    "RequestSegmentOption",
    "ResponseCount",
    "ResponseRateDay",
    "Segment",
    "SegmentOption",
    "Site",
    "SiteAlias",
    "Staff",
    "Survey",
    "Team",
    "Unsubscribe",
]
