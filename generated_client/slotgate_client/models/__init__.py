"""Contains all the data models used in inputs/outputs"""

from .access import Access
from .access_role import AccessRole
from .health import Health
from .health_status import HealthStatus
from .health_store import HealthStore
from .lease import Lease
from .lease_page import LeasePage
from .lease_renewal import LeaseRenewal
from .lease_request import LeaseRequest
from .limit import Limit
from .limit_config import LimitConfig
from .limit_create import LimitCreate
from .limit_page import LimitPage
from .limit_patch import LimitPatch
from .missing_limits_problem import MissingLimitsProblem
from .problem import Problem
from .rate_limit_grant import RateLimitGrant
from .rate_limit_request import RateLimitRequest
from .slots_unavailable_problem import SlotsUnavailableProblem

__all__ = (
    "Access",
    "AccessRole",
    "Health",
    "HealthStatus",
    "HealthStore",
    "Lease",
    "LeasePage",
    "LeaseRenewal",
    "LeaseRequest",
    "Limit",
    "LimitConfig",
    "LimitCreate",
    "LimitPage",
    "LimitPatch",
    "MissingLimitsProblem",
    "Problem",
    "RateLimitGrant",
    "RateLimitRequest",
    "SlotsUnavailableProblem",
)
