"""opensure_client: a typed client for the CustomerSure API v1, as served by OpenSure.

::

    from opensure_client import Client

    with Client(user_agent="Acme Ltd", base_url="https://feedback.example.com") as api:
        for response in api.feedback_responses.list(updated_since=yesterday):
            print(response.id, response.answers)

See docs/client.md for a guide, and ``opensure_client._errors`` for the exception hierarchy.
"""

# ``opensure_client.webhooks.verify``: a module of its own, there after ``import opensure_client``.
from opensure_client import webhooks as webhooks
from opensure_client._async_client import AsyncClient
from opensure_client._client import Client
from opensure_client._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotAcceptableError,
    NotFoundError,
    OpenSureError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
    UnprocessableEntityError,
)
from opensure_client._incremental import Checkpoint
from opensure_client._models import (
    Answer,
    DataItem,
    ErrorDetail,
    FeedbackRequest,
    FeedbackResponse,
    NetPromoterScore,
    ResponseRate,
    Site,
)
from opensure_client._pagination import AsyncPager, Page, Pager
from opensure_client._params import UNSET, Unset
from opensure_client._resources.feedback_responses import AsyncResponseSync, ResponseSync
from opensure_client._version import __version__

__all__ = [
    "UNSET",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "Answer",
    "AsyncClient",
    "AsyncPager",
    "AsyncResponseSync",
    "AuthenticationError",
    "BadRequestError",
    "Checkpoint",
    "Client",
    "DataItem",
    "ErrorDetail",
    "FeedbackRequest",
    "FeedbackResponse",
    "NetPromoterScore",
    "NotAcceptableError",
    "NotFoundError",
    "OpenSureError",
    "Page",
    "Pager",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseRate",
    "ResponseSync",
    "ServerError",
    "Site",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
    "Unset",
    "__version__",
]

# Show the public classes as members of the package (in reprs, tracebacks and docs).
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("opensure_client._"):
        _obj.__module__ = "opensure_client"
del _name, _obj
