"""ORM models. Importing this package registers every table on Base.metadata."""

from medgrader.models.audit import AuditRun
from medgrader.models.base import Base
from medgrader.models.catalog import CreditPackage
from medgrader.models.checkout import CheckoutSession, CheckoutStatus
from medgrader.models.documents import BillingDetails, Document, DocumentCounter
from medgrader.models.holds import CreditHold, HoldStatus
from medgrader.models.idempotency import IdempotencyKey
from medgrader.models.ledger import CreditTransaction, EntryType, SourceType
from medgrader.models.lots import CreditDebt, CreditLot, LotMovement, LotReservation
from medgrader.models.notices import SentNotice
from medgrader.models.payments import Dispute, Payment, PaymentStatus, Refund
from medgrader.models.promotions import Promotion, PromotionRedemption, RedemptionStatus
from medgrader.models.security import PasswordResetCode, RateLimitBucket, RevokedToken
from medgrader.models.subscriptions import (
    Plan,
    PlanInterval,
    Subscription,
    SubscriptionInvoice,
    SubscriptionStatus,
)
from medgrader.models.topups import AutoTopUpAttempt, AutoTopUpSettings
from medgrader.models.users import InstructorProfile, PendingRegistration, StudentProfile, User
from medgrader.models.webhooks import WebhookEvent

__all__ = [
    "AuditRun",
    "AutoTopUpAttempt",
    "AutoTopUpSettings",
    "Base",
    "BillingDetails",
    "CheckoutSession",
    "CheckoutStatus",
    "CreditDebt",
    "CreditHold",
    "CreditLot",
    "CreditPackage",
    "CreditTransaction",
    "Dispute",
    "Document",
    "DocumentCounter",
    "EntryType",
    "HoldStatus",
    "IdempotencyKey",
    "InstructorProfile",
    "LotMovement",
    "LotReservation",
    "PasswordResetCode",
    "Payment",
    "PaymentStatus",
    "PendingRegistration",
    "Plan",
    "PlanInterval",
    "Promotion",
    "PromotionRedemption",
    "RateLimitBucket",
    "RedemptionStatus",
    "Refund",
    "RevokedToken",
    "SentNotice",
    "SourceType",
    "StudentProfile",
    "Subscription",
    "SubscriptionInvoice",
    "SubscriptionStatus",
    "User",
    "WebhookEvent",
]
