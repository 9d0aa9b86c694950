"""Pre-basil (<= 2025-02-24.acacia) shapes of Invoice, InvoiceLineItem and checkout Session.

The installed SDK (stripe-python 16, API 2026-10-28.endive) describes the *current* shapes.  An
object rendered for an API version older than 2025-03-31.basil (for example an Event whose
``api_version`` is ``2024-06-20``, or a response to a request sent with
``Stripe-Version: 2024-06-20``) has the old shape: ``invoice.subscription``,
``invoice.payment_intent``, ``invoice.paid``, ``line.price``, ``line.type`` and so on, and none of
``invoice.parent`` / ``line.pricing`` / ``line.parent``.

The classes below are that old shape, as data: the annotation-only class trees of stripe-python
tag ``v11.6.0`` (pinned API version ``2025-02-24.acacia``), extracted mechanically (class bodies
reduced to their field annotations; request ``*Params`` classes, methods and docstrings dropped;
``InvoiceLineItem``/``Invoice`` renamed ``LegacyInvoiceLineItem``/``LegacyInvoice`` so that
``Invoice.lines`` points at the legacy line shape).  Sources, from github.com/stripe/stripe-python:
#   stripe/_invoice_line_item.py (blob dccfaaf85860b4390860eceba94bab7f1d451fd2) class InvoiceLineItem -> LegacyInvoiceLineItem
#   stripe/_invoice.py (blob 465de5fd1c5122612da228579429fe358c1b160e) class Invoice -> LegacyInvoice
#   stripe/checkout/_session.py (blob 730fe8e54eb1fa5c9ab23dac4d846221dcc6ca6b) class Session -> LegacySession
``tests/data/stripe/sdk_field_reference_pre-basil_2025-02-24.acacia.txt`` is a dump of the same
tag; ``tests/stripe_sandbox/test_schema.py`` checks that every field listed there appears here with the
same type.  Resources referenced by id or embedded (Price, Plan, TaxRate, ...) resolve to the
installed SDK's classes.

They are ``StripeObject`` subclasses with SDK-style annotations, so ``schema.validate`` checks
them exactly like the SDK's own classes.
"""

# ruff: noqa: UP006, UP007, UP035, UP045, E501
# (generated data: kept in the SDK's own typing dialect, Optional/List/Dict, one field per line)

from typing import ClassVar, Dict, List, Optional, Union

from stripe._expandable_field import ExpandableField
from stripe._list_object import ListObject
from stripe._stripe_object import StripeObject
from typing_extensions import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from stripe._account import Account
    from stripe._application import Application
    from stripe._bank_account import BankAccount
    from stripe._card import Card as CardResource
    from stripe._charge import Charge
    from stripe._coupon import Coupon
    from stripe._customer import Customer
    from stripe._discount import Discount
    from stripe._discount import Discount as DiscountResource
    from stripe._invoice_item import InvoiceItem
    from stripe._line_item import LineItem
    from stripe._payment_intent import PaymentIntent
    from stripe._payment_link import PaymentLink
    from stripe._payment_method import PaymentMethod
    from stripe._plan import Plan
    from stripe._price import Price
    from stripe._promotion_code import PromotionCode
    from stripe._quote import Quote
    from stripe._setup_intent import SetupIntent
    from stripe._shipping_rate import ShippingRate
    from stripe._source import Source
    from stripe._subscription import Subscription
    from stripe._subscription_item import SubscriptionItem
    from stripe._tax_id import TaxId
    from stripe._tax_id import TaxId as TaxIdResource
    from stripe._tax_rate import TaxRate
    from stripe.billing._credit_balance_transaction import CreditBalanceTransaction
    from stripe.test_helpers._test_clock import TestClock

#: the first API version with the basil shapes (invoice.parent, line.pricing, invoice.payments)
BASIL = "2025-03-31.basil"


def is_pre_basil(api_version: str | None) -> bool:
    """True when ``api_version`` (``YYYY-MM-DD[.name]``) is older than 2025-03-31.basil."""
    if not api_version:
        return False
    return api_version[:10] < BASIL[:10]


def legacy_class_for(object_value: str, api_version: str | None) -> type | None:
    """The legacy shape for ``object_value`` rendered at ``api_version``, if it differs."""
    if not is_pre_basil(api_version):
        return None
    return LEGACY_CLASSES.get(object_value)


class LegacyInvoiceLineItem(StripeObject):
    OBJECT_NAME: ClassVar[str] = "line_item"

    class DiscountAmount(StripeObject):
        amount: int
        discount: ExpandableField["Discount"]

    class Period(StripeObject):
        end: int
        start: int

    class PretaxCreditAmount(StripeObject):
        amount: int
        credit_balance_transaction: Optional[ExpandableField["CreditBalanceTransaction"]]
        discount: Optional[ExpandableField["Discount"]]
        type: Literal["credit_balance_transaction", "discount"]

    class ProrationDetails(StripeObject):
        class CreditedItems(StripeObject):
            invoice: str
            invoice_line_items: List[str]

        credited_items: Optional[CreditedItems]

    class TaxAmount(StripeObject):
        amount: int
        inclusive: bool
        tax_rate: ExpandableField["TaxRate"]
        taxability_reason: Optional[
            Literal[
                "customer_exempt",
                "not_collecting",
                "not_subject_to_tax",
                "not_supported",
                "portion_product_exempt",
                "portion_reduced_rated",
                "portion_standard_rated",
                "product_exempt",
                "product_exempt_holiday",
                "proportionally_rated",
                "reduced_rated",
                "reverse_charge",
                "standard_rated",
                "taxable_basis_reduced",
                "zero_rated",
            ]
        ]
        taxable_amount: Optional[int]

    amount: int
    amount_excluding_tax: Optional[int]
    currency: str
    description: Optional[str]
    discount_amounts: Optional[List[DiscountAmount]]
    discountable: bool
    discounts: List[ExpandableField["Discount"]]
    id: str
    invoice: Optional[str]
    invoice_item: Optional[ExpandableField["InvoiceItem"]]
    livemode: bool
    metadata: Dict[str, str]
    object: Literal["line_item"]
    period: Period
    plan: Optional["Plan"]
    pretax_credit_amounts: Optional[List[PretaxCreditAmount]]
    price: Optional["Price"]
    proration: bool
    proration_details: Optional[ProrationDetails]
    quantity: Optional[int]
    subscription: Optional[ExpandableField["Subscription"]]
    subscription_item: Optional[ExpandableField["SubscriptionItem"]]
    tax_amounts: List[TaxAmount]
    tax_rates: List["TaxRate"]
    type: Literal["invoiceitem", "subscription"]
    unit_amount_excluding_tax: Optional[str]


class LegacyInvoice(StripeObject):
    OBJECT_NAME: ClassVar[str] = "invoice"

    class AutomaticTax(StripeObject):
        class Liability(StripeObject):
            account: Optional[ExpandableField["Account"]]
            type: Literal["account", "self"]

        disabled_reason: Optional[
            Literal["finalization_requires_location_inputs", "finalization_system_error"]
        ]
        enabled: bool
        liability: Optional[Liability]
        status: Optional[Literal["complete", "failed", "requires_location_inputs"]]

    class CustomField(StripeObject):
        name: str
        value: str

    class CustomerAddress(StripeObject):
        city: Optional[str]
        country: Optional[str]
        line1: Optional[str]
        line2: Optional[str]
        postal_code: Optional[str]
        state: Optional[str]

    class CustomerShipping(StripeObject):
        class Address(StripeObject):
            city: Optional[str]
            country: Optional[str]
            line1: Optional[str]
            line2: Optional[str]
            postal_code: Optional[str]
            state: Optional[str]

        address: Optional[Address]
        carrier: Optional[str]
        name: Optional[str]
        phone: Optional[str]
        tracking_number: Optional[str]

    class CustomerTaxId(StripeObject):
        type: Literal[
            "ad_nrt",
            "ae_trn",
            "al_tin",
            "am_tin",
            "ao_tin",
            "ar_cuit",
            "au_abn",
            "au_arn",
            "ba_tin",
            "bb_tin",
            "bg_uic",
            "bh_vat",
            "bo_tin",
            "br_cnpj",
            "br_cpf",
            "bs_tin",
            "by_tin",
            "ca_bn",
            "ca_gst_hst",
            "ca_pst_bc",
            "ca_pst_mb",
            "ca_pst_sk",
            "ca_qst",
            "cd_nif",
            "ch_uid",
            "ch_vat",
            "cl_tin",
            "cn_tin",
            "co_nit",
            "cr_tin",
            "de_stn",
            "do_rcn",
            "ec_ruc",
            "eg_tin",
            "es_cif",
            "eu_oss_vat",
            "eu_vat",
            "gb_vat",
            "ge_vat",
            "gn_nif",
            "hk_br",
            "hr_oib",
            "hu_tin",
            "id_npwp",
            "il_vat",
            "in_gst",
            "is_vat",
            "jp_cn",
            "jp_rn",
            "jp_trn",
            "ke_pin",
            "kh_tin",
            "kr_brn",
            "kz_bin",
            "li_uid",
            "li_vat",
            "ma_vat",
            "md_vat",
            "me_pib",
            "mk_vat",
            "mr_nif",
            "mx_rfc",
            "my_frp",
            "my_itn",
            "my_sst",
            "ng_tin",
            "no_vat",
            "no_voec",
            "np_pan",
            "nz_gst",
            "om_vat",
            "pe_ruc",
            "ph_tin",
            "ro_tin",
            "rs_pib",
            "ru_inn",
            "ru_kpp",
            "sa_vat",
            "sg_gst",
            "sg_uen",
            "si_tin",
            "sn_ninea",
            "sr_fin",
            "sv_nit",
            "th_vat",
            "tj_tin",
            "tr_tin",
            "tw_vat",
            "tz_vat",
            "ua_vat",
            "ug_tin",
            "unknown",
            "us_ein",
            "uy_ruc",
            "uz_tin",
            "uz_vat",
            "ve_rif",
            "vn_tin",
            "za_vat",
            "zm_tin",
            "zw_tin",
        ]
        value: Optional[str]

    class FromInvoice(StripeObject):
        action: str
        invoice: ExpandableField["LegacyInvoice"]

    class Issuer(StripeObject):
        account: Optional[ExpandableField["Account"]]
        type: Literal["account", "self"]

    class LastFinalizationError(StripeObject):
        advice_code: Optional[str]
        charge: Optional[str]
        code: Optional[
            Literal[
                "account_closed",
                "account_country_invalid_address",
                "account_error_country_change_requires_additional_steps",
                "account_information_mismatch",
                "account_invalid",
                "account_number_invalid",
                "acss_debit_session_incomplete",
                "alipay_upgrade_required",
                "amount_too_large",
                "amount_too_small",
                "api_key_expired",
                "application_fees_not_allowed",
                "authentication_required",
                "balance_insufficient",
                "balance_invalid_parameter",
                "bank_account_bad_routing_numbers",
                "bank_account_declined",
                "bank_account_exists",
                "bank_account_restricted",
                "bank_account_unusable",
                "bank_account_unverified",
                "bank_account_verification_failed",
                "billing_invalid_mandate",
                "bitcoin_upgrade_required",
                "capture_charge_authorization_expired",
                "capture_unauthorized_payment",
                "card_decline_rate_limit_exceeded",
                "card_declined",
                "cardholder_phone_number_required",
                "charge_already_captured",
                "charge_already_refunded",
                "charge_disputed",
                "charge_exceeds_source_limit",
                "charge_exceeds_transaction_limit",
                "charge_expired_for_capture",
                "charge_invalid_parameter",
                "charge_not_refundable",
                "clearing_code_unsupported",
                "country_code_invalid",
                "country_unsupported",
                "coupon_expired",
                "customer_max_payment_methods",
                "customer_max_subscriptions",
                "customer_tax_location_invalid",
                "debit_not_authorized",
                "email_invalid",
                "expired_card",
                "financial_connections_account_inactive",
                "financial_connections_no_successful_transaction_refresh",
                "forwarding_api_inactive",
                "forwarding_api_invalid_parameter",
                "forwarding_api_upstream_connection_error",
                "forwarding_api_upstream_connection_timeout",
                "idempotency_key_in_use",
                "incorrect_address",
                "incorrect_cvc",
                "incorrect_number",
                "incorrect_zip",
                "instant_payouts_config_disabled",
                "instant_payouts_currency_disabled",
                "instant_payouts_limit_exceeded",
                "instant_payouts_unsupported",
                "insufficient_funds",
                "intent_invalid_state",
                "intent_verification_method_missing",
                "invalid_card_type",
                "invalid_characters",
                "invalid_charge_amount",
                "invalid_cvc",
                "invalid_expiry_month",
                "invalid_expiry_year",
                "invalid_mandate_reference_prefix_format",
                "invalid_number",
                "invalid_source_usage",
                "invalid_tax_location",
                "invoice_no_customer_line_items",
                "invoice_no_payment_method_types",
                "invoice_no_subscription_line_items",
                "invoice_not_editable",
                "invoice_on_behalf_of_not_editable",
                "invoice_payment_intent_requires_action",
                "invoice_upcoming_none",
                "livemode_mismatch",
                "lock_timeout",
                "missing",
                "no_account",
                "not_allowed_on_standard_account",
                "out_of_inventory",
                "ownership_declaration_not_allowed",
                "parameter_invalid_empty",
                "parameter_invalid_integer",
                "parameter_invalid_string_blank",
                "parameter_invalid_string_empty",
                "parameter_missing",
                "parameter_unknown",
                "parameters_exclusive",
                "payment_intent_action_required",
                "payment_intent_authentication_failure",
                "payment_intent_incompatible_payment_method",
                "payment_intent_invalid_parameter",
                "payment_intent_konbini_rejected_confirmation_number",
                "payment_intent_mandate_invalid",
                "payment_intent_payment_attempt_expired",
                "payment_intent_payment_attempt_failed",
                "payment_intent_unexpected_state",
                "payment_method_bank_account_already_verified",
                "payment_method_bank_account_blocked",
                "payment_method_billing_details_address_missing",
                "payment_method_configuration_failures",
                "payment_method_currency_mismatch",
                "payment_method_customer_decline",
                "payment_method_invalid_parameter",
                "payment_method_invalid_parameter_testmode",
                "payment_method_microdeposit_failed",
                "payment_method_microdeposit_verification_amounts_invalid",
                "payment_method_microdeposit_verification_amounts_mismatch",
                "payment_method_microdeposit_verification_attempts_exceeded",
                "payment_method_microdeposit_verification_descriptor_code_mismatch",
                "payment_method_microdeposit_verification_timeout",
                "payment_method_not_available",
                "payment_method_provider_decline",
                "payment_method_provider_timeout",
                "payment_method_unactivated",
                "payment_method_unexpected_state",
                "payment_method_unsupported_type",
                "payout_reconciliation_not_ready",
                "payouts_limit_exceeded",
                "payouts_not_allowed",
                "platform_account_required",
                "platform_api_key_expired",
                "postal_code_invalid",
                "processing_error",
                "product_inactive",
                "progressive_onboarding_limit_exceeded",
                "rate_limit",
                "refer_to_customer",
                "refund_disputed_payment",
                "resource_already_exists",
                "resource_missing",
                "return_intent_already_processed",
                "routing_number_invalid",
                "secret_key_required",
                "sepa_unsupported_account",
                "setup_attempt_failed",
                "setup_intent_authentication_failure",
                "setup_intent_invalid_parameter",
                "setup_intent_mandate_invalid",
                "setup_intent_setup_attempt_expired",
                "setup_intent_unexpected_state",
                "shipping_address_invalid",
                "shipping_calculation_failed",
                "sku_inactive",
                "state_unsupported",
                "status_transition_invalid",
                "stripe_tax_inactive",
                "tax_id_invalid",
                "taxes_calculation_failed",
                "terminal_location_country_unsupported",
                "terminal_reader_busy",
                "terminal_reader_hardware_fault",
                "terminal_reader_invalid_location_for_activation",
                "terminal_reader_invalid_location_for_payment",
                "terminal_reader_offline",
                "terminal_reader_timeout",
                "testmode_charges_only",
                "tls_version_unsupported",
                "token_already_used",
                "token_card_network_invalid",
                "token_in_use",
                "transfer_source_balance_parameters_mismatch",
                "transfers_not_allowed",
                "url_invalid",
            ]
        ]
        decline_code: Optional[str]
        doc_url: Optional[str]
        message: Optional[str]
        network_advice_code: Optional[str]
        network_decline_code: Optional[str]
        param: Optional[str]
        payment_intent: Optional["PaymentIntent"]
        payment_method: Optional["PaymentMethod"]
        payment_method_type: Optional[str]
        request_log_url: Optional[str]
        setup_intent: Optional["SetupIntent"]
        source: Optional[Union["Account", "BankAccount", "CardResource", "Source"]]
        type: Literal["api_error", "card_error", "idempotency_error", "invalid_request_error"]

    class PaymentSettings(StripeObject):
        class PaymentMethodOptions(StripeObject):
            class AcssDebit(StripeObject):
                class MandateOptions(StripeObject):
                    transaction_type: Optional[Literal["business", "personal"]]

                mandate_options: Optional[MandateOptions]
                verification_method: Optional[Literal["automatic", "instant", "microdeposits"]]

            class Bancontact(StripeObject):
                preferred_language: Literal["de", "en", "fr", "nl"]

            class Card(StripeObject):
                class Installments(StripeObject):
                    enabled: Optional[bool]

                installments: Optional[Installments]
                request_three_d_secure: Optional[Literal["any", "automatic", "challenge"]]

            class CustomerBalance(StripeObject):
                class BankTransfer(StripeObject):
                    class EuBankTransfer(StripeObject):
                        country: Literal["BE", "DE", "ES", "FR", "IE", "NL"]

                    eu_bank_transfer: Optional[EuBankTransfer]
                    type: Optional[str]

                bank_transfer: Optional[BankTransfer]
                funding_type: Optional[Literal["bank_transfer"]]

            class Konbini(StripeObject):
                pass

            class SepaDebit(StripeObject):
                pass

            class UsBankAccount(StripeObject):
                class FinancialConnections(StripeObject):
                    class Filters(StripeObject):
                        account_subcategories: Optional[List[Literal["checking", "savings"]]]

                    filters: Optional[Filters]
                    permissions: Optional[
                        List[Literal["balances", "ownership", "payment_method", "transactions"]]
                    ]
                    prefetch: Optional[List[Literal["balances", "ownership", "transactions"]]]

                financial_connections: Optional[FinancialConnections]
                verification_method: Optional[Literal["automatic", "instant", "microdeposits"]]

            acss_debit: Optional[AcssDebit]
            bancontact: Optional[Bancontact]
            card: Optional[Card]
            customer_balance: Optional[CustomerBalance]
            konbini: Optional[Konbini]
            sepa_debit: Optional[SepaDebit]
            us_bank_account: Optional[UsBankAccount]

        default_mandate: Optional[str]
        payment_method_options: Optional[PaymentMethodOptions]
        payment_method_types: Optional[
            List[
                Literal[
                    "ach_credit_transfer",
                    "ach_debit",
                    "acss_debit",
                    "amazon_pay",
                    "au_becs_debit",
                    "bacs_debit",
                    "bancontact",
                    "boleto",
                    "card",
                    "cashapp",
                    "customer_balance",
                    "eps",
                    "fpx",
                    "giropay",
                    "grabpay",
                    "ideal",
                    "jp_credit_transfer",
                    "kakao_pay",
                    "konbini",
                    "kr_card",
                    "link",
                    "multibanco",
                    "naver_pay",
                    "p24",
                    "payco",
                    "paynow",
                    "paypal",
                    "promptpay",
                    "revolut_pay",
                    "sepa_credit_transfer",
                    "sepa_debit",
                    "sofort",
                    "swish",
                    "us_bank_account",
                    "wechat_pay",
                ]
            ]
        ]

    class Rendering(StripeObject):
        class Pdf(StripeObject):
            page_size: Optional[Literal["a4", "auto", "letter"]]

        amount_tax_display: Optional[str]
        pdf: Optional[Pdf]
        template: Optional[str]
        template_version: Optional[int]

    class ShippingCost(StripeObject):
        class Tax(StripeObject):
            amount: int
            rate: "TaxRate"
            taxability_reason: Optional[
                Literal[
                    "customer_exempt",
                    "not_collecting",
                    "not_subject_to_tax",
                    "not_supported",
                    "portion_product_exempt",
                    "portion_reduced_rated",
                    "portion_standard_rated",
                    "product_exempt",
                    "product_exempt_holiday",
                    "proportionally_rated",
                    "reduced_rated",
                    "reverse_charge",
                    "standard_rated",
                    "taxable_basis_reduced",
                    "zero_rated",
                ]
            ]
            taxable_amount: Optional[int]

        amount_subtotal: int
        amount_tax: int
        amount_total: int
        shipping_rate: Optional[ExpandableField["ShippingRate"]]
        taxes: Optional[List[Tax]]

    class ShippingDetails(StripeObject):
        class Address(StripeObject):
            city: Optional[str]
            country: Optional[str]
            line1: Optional[str]
            line2: Optional[str]
            postal_code: Optional[str]
            state: Optional[str]

        address: Optional[Address]
        carrier: Optional[str]
        name: Optional[str]
        phone: Optional[str]
        tracking_number: Optional[str]

    class StatusTransitions(StripeObject):
        finalized_at: Optional[int]
        marked_uncollectible_at: Optional[int]
        paid_at: Optional[int]
        voided_at: Optional[int]

    class SubscriptionDetails(StripeObject):
        metadata: Optional[Dict[str, str]]

    class ThresholdReason(StripeObject):
        class ItemReason(StripeObject):
            line_item_ids: List[str]
            usage_gte: int

        amount_gte: Optional[int]
        item_reasons: List[ItemReason]

    class TotalDiscountAmount(StripeObject):
        amount: int
        discount: ExpandableField["Discount"]

    class TotalPretaxCreditAmount(StripeObject):
        amount: int
        credit_balance_transaction: Optional[ExpandableField["CreditBalanceTransaction"]]
        discount: Optional[ExpandableField["Discount"]]
        type: Literal["credit_balance_transaction", "discount"]

    class TotalTaxAmount(StripeObject):
        amount: int
        inclusive: bool
        tax_rate: ExpandableField["TaxRate"]
        taxability_reason: Optional[
            Literal[
                "customer_exempt",
                "not_collecting",
                "not_subject_to_tax",
                "not_supported",
                "portion_product_exempt",
                "portion_reduced_rated",
                "portion_standard_rated",
                "product_exempt",
                "product_exempt_holiday",
                "proportionally_rated",
                "reduced_rated",
                "reverse_charge",
                "standard_rated",
                "taxable_basis_reduced",
                "zero_rated",
            ]
        ]
        taxable_amount: Optional[int]

    class TransferData(StripeObject):
        amount: Optional[int]
        destination: ExpandableField["Account"]

    account_country: Optional[str]
    account_name: Optional[str]
    account_tax_ids: Optional[List[ExpandableField["TaxId"]]]
    amount_due: int
    amount_paid: int
    amount_remaining: int
    amount_shipping: int
    application: Optional[ExpandableField["Application"]]
    application_fee_amount: Optional[int]
    attempt_count: int
    attempted: bool
    auto_advance: Optional[bool]
    automatic_tax: AutomaticTax
    automatically_finalizes_at: Optional[int]
    billing_reason: Optional[
        Literal[
            "automatic_pending_invoice_item_invoice",
            "manual",
            "quote_accept",
            "subscription",
            "subscription_create",
            "subscription_cycle",
            "subscription_threshold",
            "subscription_update",
            "upcoming",
        ]
    ]
    charge: Optional[ExpandableField["Charge"]]
    collection_method: Literal["charge_automatically", "send_invoice"]
    created: int
    currency: str
    custom_fields: Optional[List[CustomField]]
    customer: Optional[ExpandableField["Customer"]]
    customer_address: Optional[CustomerAddress]
    customer_email: Optional[str]
    customer_name: Optional[str]
    customer_phone: Optional[str]
    customer_shipping: Optional[CustomerShipping]
    customer_tax_exempt: Optional[Literal["exempt", "none", "reverse"]]
    customer_tax_ids: Optional[List[CustomerTaxId]]
    default_payment_method: Optional[ExpandableField["PaymentMethod"]]
    default_source: Optional[
        ExpandableField[Union["Account", "BankAccount", "CardResource", "Source"]]
    ]
    default_tax_rates: List["TaxRate"]
    description: Optional[str]
    discount: Optional["Discount"]
    discounts: List[ExpandableField["Discount"]]
    due_date: Optional[int]
    effective_at: Optional[int]
    ending_balance: Optional[int]
    footer: Optional[str]
    from_invoice: Optional[FromInvoice]
    hosted_invoice_url: Optional[str]
    id: Optional[str]
    invoice_pdf: Optional[str]
    issuer: Issuer
    last_finalization_error: Optional[LastFinalizationError]
    latest_revision: Optional[ExpandableField["LegacyInvoice"]]
    lines: ListObject["LegacyInvoiceLineItem"]
    livemode: bool
    metadata: Optional[Dict[str, str]]
    next_payment_attempt: Optional[int]
    number: Optional[str]
    object: Literal["invoice"]
    on_behalf_of: Optional[ExpandableField["Account"]]
    paid: bool
    paid_out_of_band: bool
    payment_intent: Optional[ExpandableField["PaymentIntent"]]
    payment_settings: PaymentSettings
    period_end: int
    period_start: int
    post_payment_credit_notes_amount: int
    pre_payment_credit_notes_amount: int
    quote: Optional[ExpandableField["Quote"]]
    receipt_number: Optional[str]
    rendering: Optional[Rendering]
    shipping_cost: Optional[ShippingCost]
    shipping_details: Optional[ShippingDetails]
    starting_balance: int
    statement_descriptor: Optional[str]
    status: Optional[Literal["draft", "open", "paid", "uncollectible", "void"]]
    status_transitions: StatusTransitions
    subscription: Optional[ExpandableField["Subscription"]]
    subscription_details: Optional[SubscriptionDetails]
    subscription_proration_date: Optional[int]
    subtotal: int
    subtotal_excluding_tax: Optional[int]
    tax: Optional[int]
    test_clock: Optional[ExpandableField["TestClock"]]
    threshold_reason: Optional[ThresholdReason]
    total: int
    total_discount_amounts: Optional[List[TotalDiscountAmount]]
    total_excluding_tax: Optional[int]
    total_pretax_credit_amounts: Optional[List[TotalPretaxCreditAmount]]
    total_tax_amounts: List[TotalTaxAmount]
    transfer_data: Optional[TransferData]
    webhooks_delivered_at: Optional[int]
    deleted: Optional[Literal[True]]


class LegacySession(StripeObject):
    OBJECT_NAME: ClassVar[str] = "checkout.session"

    class AdaptivePricing(StripeObject):
        enabled: bool

    class AfterExpiration(StripeObject):
        class Recovery(StripeObject):
            allow_promotion_codes: bool
            enabled: bool
            expires_at: Optional[int]
            url: Optional[str]

        recovery: Optional[Recovery]

    class AutomaticTax(StripeObject):
        class Liability(StripeObject):
            account: Optional[ExpandableField["Account"]]
            type: Literal["account", "self"]

        enabled: bool
        liability: Optional[Liability]
        status: Optional[Literal["complete", "failed", "requires_location_inputs"]]

    class CollectedInformation(StripeObject):
        class ShippingDetails(StripeObject):
            class Address(StripeObject):
                city: Optional[str]
                country: Optional[str]
                line1: Optional[str]
                line2: Optional[str]
                postal_code: Optional[str]
                state: Optional[str]

            address: Optional[Address]
            carrier: Optional[str]
            name: Optional[str]
            phone: Optional[str]
            tracking_number: Optional[str]

        shipping_details: Optional[ShippingDetails]

    class Consent(StripeObject):
        promotions: Optional[Literal["opt_in", "opt_out"]]
        terms_of_service: Optional[Literal["accepted"]]

    class ConsentCollection(StripeObject):
        class PaymentMethodReuseAgreement(StripeObject):
            position: Literal["auto", "hidden"]

        payment_method_reuse_agreement: Optional[PaymentMethodReuseAgreement]
        promotions: Optional[Literal["auto", "none"]]
        terms_of_service: Optional[Literal["none", "required"]]

    class CurrencyConversion(StripeObject):
        amount_subtotal: int
        amount_total: int
        fx_rate: str
        source_currency: str

    class CustomField(StripeObject):
        class Dropdown(StripeObject):
            class Option(StripeObject):
                label: str
                value: str

            default_value: Optional[str]
            options: List[Option]
            value: Optional[str]

        class Label(StripeObject):
            custom: Optional[str]
            type: Literal["custom"]

        class Numeric(StripeObject):
            default_value: Optional[str]
            maximum_length: Optional[int]
            minimum_length: Optional[int]
            value: Optional[str]

        class Text(StripeObject):
            default_value: Optional[str]
            maximum_length: Optional[int]
            minimum_length: Optional[int]
            value: Optional[str]

        dropdown: Optional[Dropdown]
        key: str
        label: Label
        numeric: Optional[Numeric]
        optional: bool
        text: Optional[Text]
        type: Literal["dropdown", "numeric", "text"]

    class CustomText(StripeObject):
        class AfterSubmit(StripeObject):
            message: str

        class ShippingAddress(StripeObject):
            message: str

        class Submit(StripeObject):
            message: str

        class TermsOfServiceAcceptance(StripeObject):
            message: str

        after_submit: Optional[AfterSubmit]
        shipping_address: Optional[ShippingAddress]
        submit: Optional[Submit]
        terms_of_service_acceptance: Optional[TermsOfServiceAcceptance]

    class CustomerDetails(StripeObject):
        class Address(StripeObject):
            city: Optional[str]
            country: Optional[str]
            line1: Optional[str]
            line2: Optional[str]
            postal_code: Optional[str]
            state: Optional[str]

        class TaxId(StripeObject):
            type: Literal[
                "ad_nrt",
                "ae_trn",
                "al_tin",
                "am_tin",
                "ao_tin",
                "ar_cuit",
                "au_abn",
                "au_arn",
                "ba_tin",
                "bb_tin",
                "bg_uic",
                "bh_vat",
                "bo_tin",
                "br_cnpj",
                "br_cpf",
                "bs_tin",
                "by_tin",
                "ca_bn",
                "ca_gst_hst",
                "ca_pst_bc",
                "ca_pst_mb",
                "ca_pst_sk",
                "ca_qst",
                "cd_nif",
                "ch_uid",
                "ch_vat",
                "cl_tin",
                "cn_tin",
                "co_nit",
                "cr_tin",
                "de_stn",
                "do_rcn",
                "ec_ruc",
                "eg_tin",
                "es_cif",
                "eu_oss_vat",
                "eu_vat",
                "gb_vat",
                "ge_vat",
                "gn_nif",
                "hk_br",
                "hr_oib",
                "hu_tin",
                "id_npwp",
                "il_vat",
                "in_gst",
                "is_vat",
                "jp_cn",
                "jp_rn",
                "jp_trn",
                "ke_pin",
                "kh_tin",
                "kr_brn",
                "kz_bin",
                "li_uid",
                "li_vat",
                "ma_vat",
                "md_vat",
                "me_pib",
                "mk_vat",
                "mr_nif",
                "mx_rfc",
                "my_frp",
                "my_itn",
                "my_sst",
                "ng_tin",
                "no_vat",
                "no_voec",
                "np_pan",
                "nz_gst",
                "om_vat",
                "pe_ruc",
                "ph_tin",
                "ro_tin",
                "rs_pib",
                "ru_inn",
                "ru_kpp",
                "sa_vat",
                "sg_gst",
                "sg_uen",
                "si_tin",
                "sn_ninea",
                "sr_fin",
                "sv_nit",
                "th_vat",
                "tj_tin",
                "tr_tin",
                "tw_vat",
                "tz_vat",
                "ua_vat",
                "ug_tin",
                "unknown",
                "us_ein",
                "uy_ruc",
                "uz_tin",
                "uz_vat",
                "ve_rif",
                "vn_tin",
                "za_vat",
                "zm_tin",
                "zw_tin",
            ]
            value: Optional[str]

        address: Optional[Address]
        email: Optional[str]
        name: Optional[str]
        phone: Optional[str]
        tax_exempt: Optional[Literal["exempt", "none", "reverse"]]
        tax_ids: Optional[List[TaxId]]

    class Discount(StripeObject):
        coupon: Optional[ExpandableField["Coupon"]]
        promotion_code: Optional[ExpandableField["PromotionCode"]]

    class InvoiceCreation(StripeObject):
        class InvoiceData(StripeObject):
            class CustomField(StripeObject):
                name: str
                value: str

            class Issuer(StripeObject):
                account: Optional[ExpandableField["Account"]]
                type: Literal["account", "self"]

            class RenderingOptions(StripeObject):
                amount_tax_display: Optional[str]

            account_tax_ids: Optional[List[ExpandableField["TaxIdResource"]]]
            custom_fields: Optional[List[CustomField]]
            description: Optional[str]
            footer: Optional[str]
            issuer: Optional[Issuer]
            metadata: Optional[Dict[str, str]]
            rendering_options: Optional[RenderingOptions]

        enabled: bool
        invoice_data: InvoiceData

    class PaymentMethodConfigurationDetails(StripeObject):
        id: str
        parent: Optional[str]

    class PaymentMethodOptions(StripeObject):
        class AcssDebit(StripeObject):
            class MandateOptions(StripeObject):
                custom_mandate_url: Optional[str]
                default_for: Optional[List[Literal["invoice", "subscription"]]]
                interval_description: Optional[str]
                payment_schedule: Optional[Literal["combined", "interval", "sporadic"]]
                transaction_type: Optional[Literal["business", "personal"]]

            currency: Optional[Literal["cad", "usd"]]
            mandate_options: Optional[MandateOptions]
            setup_future_usage: Optional[Literal["none", "off_session", "on_session"]]
            target_date: Optional[str]
            verification_method: Optional[Literal["automatic", "instant", "microdeposits"]]

        class Affirm(StripeObject):
            setup_future_usage: Optional[Literal["none"]]

        class AfterpayClearpay(StripeObject):
            setup_future_usage: Optional[Literal["none"]]

        class Alipay(StripeObject):
            setup_future_usage: Optional[Literal["none"]]

        class AmazonPay(StripeObject):
            setup_future_usage: Optional[Literal["none", "off_session"]]

        class AuBecsDebit(StripeObject):
            setup_future_usage: Optional[Literal["none"]]
            target_date: Optional[str]

        class BacsDebit(StripeObject):
            class MandateOptions(StripeObject):
                reference_prefix: Optional[str]

            mandate_options: Optional[MandateOptions]
            setup_future_usage: Optional[Literal["none", "off_session", "on_session"]]
            target_date: Optional[str]

        class Bancontact(StripeObject):
            setup_future_usage: Optional[Literal["none"]]

        class Boleto(StripeObject):
            expires_after_days: int
            setup_future_usage: Optional[Literal["none", "off_session", "on_session"]]

        class Card(StripeObject):
            class Installments(StripeObject):
                enabled: Optional[bool]

            class Restrictions(StripeObject):
                brands_blocked: Optional[
                    List[
                        Literal["american_express", "discover_global_network", "mastercard", "visa"]
                    ]
                ]

            installments: Optional[Installments]
            request_extended_authorization: Optional[Literal["if_available", "never"]]
            request_incremental_authorization: Optional[Literal["if_available", "never"]]
            request_multicapture: Optional[Literal["if_available", "never"]]
            request_overcapture: Optional[Literal["if_available", "never"]]
            request_three_d_secure: Literal["any", "automatic", "challenge"]
            restrictions: Optional[Restrictions]
            setup_future_usage: Optional[Literal["none", "off_session", "on_session"]]
            statement_descriptor_suffix_kana: Optional[str]
            statement_descriptor_suffix_kanji: Optional[str]

        class Cashapp(StripeObject):
            setup_future_usage: Optional[Literal["none"]]

        class CustomerBalance(StripeObject):
            class BankTransfer(StripeObject):
                class EuBankTransfer(StripeObject):
                    country: Literal["BE", "DE", "ES", "FR", "IE", "NL"]

                eu_bank_transfer: Optional[EuBankTransfer]
                requested_address_types: Optional[
                    List[Literal["aba", "iban", "sepa", "sort_code", "spei", "swift", "zengin"]]
                ]
                type: Optional[
                    Literal[
                        "eu_bank_transfer",
                        "gb_bank_transfer",
                        "jp_bank_transfer",
                        "mx_bank_transfer",
                        "us_bank_transfer",
                    ]
                ]

            bank_transfer: Optional[BankTransfer]
            funding_type: Optional[Literal["bank_transfer"]]
            setup_future_usage: Optional[Literal["none"]]

        class Eps(StripeObject):
            setup_future_usage: Optional[Literal["none"]]

        class Fpx(StripeObject):
            setup_future_usage: Optional[Literal["none"]]

        class Giropay(StripeObject):
            setup_future_usage: Optional[Literal["none"]]

        class Grabpay(StripeObject):
            setup_future_usage: Optional[Literal["none"]]

        class Ideal(StripeObject):
            setup_future_usage: Optional[Literal["none"]]

        class KakaoPay(StripeObject):
            capture_method: Optional[Literal["manual"]]
            setup_future_usage: Optional[Literal["none", "off_session"]]

        class Klarna(StripeObject):
            setup_future_usage: Optional[Literal["none", "off_session", "on_session"]]

        class Konbini(StripeObject):
            expires_after_days: Optional[int]
            setup_future_usage: Optional[Literal["none"]]

        class KrCard(StripeObject):
            capture_method: Optional[Literal["manual"]]
            setup_future_usage: Optional[Literal["none", "off_session"]]

        class Link(StripeObject):
            setup_future_usage: Optional[Literal["none", "off_session"]]

        class Mobilepay(StripeObject):
            setup_future_usage: Optional[Literal["none"]]

        class Multibanco(StripeObject):
            setup_future_usage: Optional[Literal["none"]]

        class NaverPay(StripeObject):
            capture_method: Optional[Literal["manual"]]

        class Oxxo(StripeObject):
            expires_after_days: int
            setup_future_usage: Optional[Literal["none"]]

        class P24(StripeObject):
            setup_future_usage: Optional[Literal["none"]]

        class Payco(StripeObject):
            capture_method: Optional[Literal["manual"]]

        class Paynow(StripeObject):
            setup_future_usage: Optional[Literal["none"]]

        class Paypal(StripeObject):
            capture_method: Optional[Literal["manual"]]
            preferred_locale: Optional[str]
            reference: Optional[str]
            setup_future_usage: Optional[Literal["none", "off_session"]]

        class Pix(StripeObject):
            expires_after_seconds: Optional[int]

        class RevolutPay(StripeObject):
            setup_future_usage: Optional[Literal["none", "off_session"]]

        class SamsungPay(StripeObject):
            capture_method: Optional[Literal["manual"]]

        class SepaDebit(StripeObject):
            class MandateOptions(StripeObject):
                reference_prefix: Optional[str]

            mandate_options: Optional[MandateOptions]
            setup_future_usage: Optional[Literal["none", "off_session", "on_session"]]
            target_date: Optional[str]

        class Sofort(StripeObject):
            setup_future_usage: Optional[Literal["none"]]

        class Swish(StripeObject):
            reference: Optional[str]

        class UsBankAccount(StripeObject):
            class FinancialConnections(StripeObject):
                class Filters(StripeObject):
                    account_subcategories: Optional[List[Literal["checking", "savings"]]]

                filters: Optional[Filters]
                permissions: Optional[
                    List[Literal["balances", "ownership", "payment_method", "transactions"]]
                ]
                prefetch: Optional[List[Literal["balances", "ownership", "transactions"]]]
                return_url: Optional[str]

            financial_connections: Optional[FinancialConnections]
            setup_future_usage: Optional[Literal["none", "off_session", "on_session"]]
            target_date: Optional[str]
            verification_method: Optional[Literal["automatic", "instant"]]

        acss_debit: Optional[AcssDebit]
        affirm: Optional[Affirm]
        afterpay_clearpay: Optional[AfterpayClearpay]
        alipay: Optional[Alipay]
        amazon_pay: Optional[AmazonPay]
        au_becs_debit: Optional[AuBecsDebit]
        bacs_debit: Optional[BacsDebit]
        bancontact: Optional[Bancontact]
        boleto: Optional[Boleto]
        card: Optional[Card]
        cashapp: Optional[Cashapp]
        customer_balance: Optional[CustomerBalance]
        eps: Optional[Eps]
        fpx: Optional[Fpx]
        giropay: Optional[Giropay]
        grabpay: Optional[Grabpay]
        ideal: Optional[Ideal]
        kakao_pay: Optional[KakaoPay]
        klarna: Optional[Klarna]
        konbini: Optional[Konbini]
        kr_card: Optional[KrCard]
        link: Optional[Link]
        mobilepay: Optional[Mobilepay]
        multibanco: Optional[Multibanco]
        naver_pay: Optional[NaverPay]
        oxxo: Optional[Oxxo]
        p24: Optional[P24]
        payco: Optional[Payco]
        paynow: Optional[Paynow]
        paypal: Optional[Paypal]
        pix: Optional[Pix]
        revolut_pay: Optional[RevolutPay]
        samsung_pay: Optional[SamsungPay]
        sepa_debit: Optional[SepaDebit]
        sofort: Optional[Sofort]
        swish: Optional[Swish]
        us_bank_account: Optional[UsBankAccount]

    class PhoneNumberCollection(StripeObject):
        enabled: bool

    class SavedPaymentMethodOptions(StripeObject):
        allow_redisplay_filters: Optional[List[Literal["always", "limited", "unspecified"]]]
        payment_method_remove: Optional[Literal["disabled", "enabled"]]
        payment_method_save: Optional[Literal["disabled", "enabled"]]

    class ShippingAddressCollection(StripeObject):
        allowed_countries: List[
            Literal[
                "AC",
                "AD",
                "AE",
                "AF",
                "AG",
                "AI",
                "AL",
                "AM",
                "AO",
                "AQ",
                "AR",
                "AT",
                "AU",
                "AW",
                "AX",
                "AZ",
                "BA",
                "BB",
                "BD",
                "BE",
                "BF",
                "BG",
                "BH",
                "BI",
                "BJ",
                "BL",
                "BM",
                "BN",
                "BO",
                "BQ",
                "BR",
                "BS",
                "BT",
                "BV",
                "BW",
                "BY",
                "BZ",
                "CA",
                "CD",
                "CF",
                "CG",
                "CH",
                "CI",
                "CK",
                "CL",
                "CM",
                "CN",
                "CO",
                "CR",
                "CV",
                "CW",
                "CY",
                "CZ",
                "DE",
                "DJ",
                "DK",
                "DM",
                "DO",
                "DZ",
                "EC",
                "EE",
                "EG",
                "EH",
                "ER",
                "ES",
                "ET",
                "FI",
                "FJ",
                "FK",
                "FO",
                "FR",
                "GA",
                "GB",
                "GD",
                "GE",
                "GF",
                "GG",
                "GH",
                "GI",
                "GL",
                "GM",
                "GN",
                "GP",
                "GQ",
                "GR",
                "GS",
                "GT",
                "GU",
                "GW",
                "GY",
                "HK",
                "HN",
                "HR",
                "HT",
                "HU",
                "ID",
                "IE",
                "IL",
                "IM",
                "IN",
                "IO",
                "IQ",
                "IS",
                "IT",
                "JE",
                "JM",
                "JO",
                "JP",
                "KE",
                "KG",
                "KH",
                "KI",
                "KM",
                "KN",
                "KR",
                "KW",
                "KY",
                "KZ",
                "LA",
                "LB",
                "LC",
                "LI",
                "LK",
                "LR",
                "LS",
                "LT",
                "LU",
                "LV",
                "LY",
                "MA",
                "MC",
                "MD",
                "ME",
                "MF",
                "MG",
                "MK",
                "ML",
                "MM",
                "MN",
                "MO",
                "MQ",
                "MR",
                "MS",
                "MT",
                "MU",
                "MV",
                "MW",
                "MX",
                "MY",
                "MZ",
                "NA",
                "NC",
                "NE",
                "NG",
                "NI",
                "NL",
                "NO",
                "NP",
                "NR",
                "NU",
                "NZ",
                "OM",
                "PA",
                "PE",
                "PF",
                "PG",
                "PH",
                "PK",
                "PL",
                "PM",
                "PN",
                "PR",
                "PS",
                "PT",
                "PY",
                "QA",
                "RE",
                "RO",
                "RS",
                "RU",
                "RW",
                "SA",
                "SB",
                "SC",
                "SD",
                "SE",
                "SG",
                "SH",
                "SI",
                "SJ",
                "SK",
                "SL",
                "SM",
                "SN",
                "SO",
                "SR",
                "SS",
                "ST",
                "SV",
                "SX",
                "SZ",
                "TA",
                "TC",
                "TD",
                "TF",
                "TG",
                "TH",
                "TJ",
                "TK",
                "TL",
                "TM",
                "TN",
                "TO",
                "TR",
                "TT",
                "TV",
                "TW",
                "TZ",
                "UA",
                "UG",
                "US",
                "UY",
                "UZ",
                "VA",
                "VC",
                "VE",
                "VG",
                "VN",
                "VU",
                "WF",
                "WS",
                "XK",
                "YE",
                "YT",
                "ZA",
                "ZM",
                "ZW",
                "ZZ",
            ]
        ]

    class ShippingCost(StripeObject):
        class Tax(StripeObject):
            amount: int
            rate: "TaxRate"
            taxability_reason: Optional[
                Literal[
                    "customer_exempt",
                    "not_collecting",
                    "not_subject_to_tax",
                    "not_supported",
                    "portion_product_exempt",
                    "portion_reduced_rated",
                    "portion_standard_rated",
                    "product_exempt",
                    "product_exempt_holiday",
                    "proportionally_rated",
                    "reduced_rated",
                    "reverse_charge",
                    "standard_rated",
                    "taxable_basis_reduced",
                    "zero_rated",
                ]
            ]
            taxable_amount: Optional[int]

        amount_subtotal: int
        amount_tax: int
        amount_total: int
        shipping_rate: Optional[ExpandableField["ShippingRate"]]
        taxes: Optional[List[Tax]]

    class ShippingDetails(StripeObject):
        class Address(StripeObject):
            city: Optional[str]
            country: Optional[str]
            line1: Optional[str]
            line2: Optional[str]
            postal_code: Optional[str]
            state: Optional[str]

        address: Optional[Address]
        carrier: Optional[str]
        name: Optional[str]
        phone: Optional[str]
        tracking_number: Optional[str]

    class ShippingOption(StripeObject):
        shipping_amount: int
        shipping_rate: ExpandableField["ShippingRate"]

    class TaxIdCollection(StripeObject):
        enabled: bool
        required: Literal["if_supported", "never"]

    class TotalDetails(StripeObject):
        class Breakdown(StripeObject):
            class Discount(StripeObject):
                amount: int
                discount: "DiscountResource"

            class Tax(StripeObject):
                amount: int
                rate: "TaxRate"
                taxability_reason: Optional[
                    Literal[
                        "customer_exempt",
                        "not_collecting",
                        "not_subject_to_tax",
                        "not_supported",
                        "portion_product_exempt",
                        "portion_reduced_rated",
                        "portion_standard_rated",
                        "product_exempt",
                        "product_exempt_holiday",
                        "proportionally_rated",
                        "reduced_rated",
                        "reverse_charge",
                        "standard_rated",
                        "taxable_basis_reduced",
                        "zero_rated",
                    ]
                ]
                taxable_amount: Optional[int]

            discounts: List[Discount]
            taxes: List[Tax]

        amount_discount: int
        amount_shipping: Optional[int]
        amount_tax: int
        breakdown: Optional[Breakdown]

    adaptive_pricing: Optional[AdaptivePricing]
    after_expiration: Optional[AfterExpiration]
    allow_promotion_codes: Optional[bool]
    amount_subtotal: Optional[int]
    amount_total: Optional[int]
    automatic_tax: AutomaticTax
    billing_address_collection: Optional[Literal["auto", "required"]]
    cancel_url: Optional[str]
    client_reference_id: Optional[str]
    client_secret: Optional[str]
    collected_information: Optional[CollectedInformation]
    consent: Optional[Consent]
    consent_collection: Optional[ConsentCollection]
    created: int
    currency: Optional[str]
    currency_conversion: Optional[CurrencyConversion]
    custom_fields: List[CustomField]
    custom_text: CustomText
    customer: Optional[ExpandableField["Customer"]]
    customer_creation: Optional[Literal["always", "if_required"]]
    customer_details: Optional[CustomerDetails]
    customer_email: Optional[str]
    discounts: Optional[List[Discount]]
    expires_at: int
    id: str
    invoice: Optional[ExpandableField["LegacyInvoice"]]
    invoice_creation: Optional[InvoiceCreation]
    line_items: Optional[ListObject["LineItem"]]
    livemode: bool
    locale: Optional[
        Literal[
            "auto",
            "bg",
            "cs",
            "da",
            "de",
            "el",
            "en",
            "en-GB",
            "es",
            "es-419",
            "et",
            "fi",
            "fil",
            "fr",
            "fr-CA",
            "hr",
            "hu",
            "id",
            "it",
            "ja",
            "ko",
            "lt",
            "lv",
            "ms",
            "mt",
            "nb",
            "nl",
            "pl",
            "pt",
            "pt-BR",
            "ro",
            "ru",
            "sk",
            "sl",
            "sv",
            "th",
            "tr",
            "vi",
            "zh",
            "zh-HK",
            "zh-TW",
        ]
    ]
    metadata: Optional[Dict[str, str]]
    mode: Literal["payment", "setup", "subscription"]
    object: Literal["checkout.session"]
    payment_intent: Optional[ExpandableField["PaymentIntent"]]
    payment_link: Optional[ExpandableField["PaymentLink"]]
    payment_method_collection: Optional[Literal["always", "if_required"]]
    payment_method_configuration_details: Optional[PaymentMethodConfigurationDetails]
    payment_method_options: Optional[PaymentMethodOptions]
    payment_method_types: List[str]
    payment_status: Literal["no_payment_required", "paid", "unpaid"]
    phone_number_collection: Optional[PhoneNumberCollection]
    recovered_from: Optional[str]
    redirect_on_completion: Optional[Literal["always", "if_required", "never"]]
    return_url: Optional[str]
    saved_payment_method_options: Optional[SavedPaymentMethodOptions]
    setup_intent: Optional[ExpandableField["SetupIntent"]]
    shipping_address_collection: Optional[ShippingAddressCollection]
    shipping_cost: Optional[ShippingCost]
    shipping_details: Optional[ShippingDetails]
    shipping_options: List[ShippingOption]
    status: Optional[Literal["complete", "expired", "open"]]
    submit_type: Optional[Literal["auto", "book", "donate", "pay", "subscribe"]]
    subscription: Optional[ExpandableField["Subscription"]]
    success_url: Optional[str]
    tax_id_collection: Optional[TaxIdCollection]
    total_details: Optional[TotalDetails]
    ui_mode: Optional[Literal["embedded", "hosted"]]
    url: Optional[str]


#: legacy class -> the current SDK class of the same object.  Fields the current class declares
#: and the legacy one does not are *additive* changes, which Stripe renders in every API version
#: ("adding new properties to existing API responses" is backward-compatible, docs.stripe.com/upgrades),
#: so a pre-basil object may carry them, except the fields in ``BASIL_FIELDS``.
COUNTERPARTS: Dict[str, str] = {
    "LegacyInvoice": "stripe._invoice.Invoice",
    "LegacyInvoiceLineItem": "stripe._invoice_line_item.InvoiceLineItem",
    "LegacySession": "stripe.checkout._session.Session",
}

#: fields that 2025-03-31.basil introduced as the replacement of a removed field (the basil
#: changelog): rendered only for basil and later, never for an older
#: version.  Keys as in ``schema.field_key``.
BASIL_FIELDS: Dict[str, str] = {
    "invoice:parent": "replaces invoice.subscription / subscription_details / quote",
    "invoice:payments": "replaces invoice.payment_intent / charge",
    "invoice:amount_paid_off_stripe": "replaces invoice.paid_out_of_band",
    "invoice:amount_overpaid": "part of basil's multiple partial payments",
    "invoice:confirmation_secret": "replaces payment_intent.client_secret for invoices",
    "invoice:total_taxes": "replaces invoice.tax / total_tax_amounts",
    "line_item:parent": "replaces line.type / subscription / subscription_item / invoice_item / proration",
    "line_item:pricing": "replaces line.price / plan / unit_amount_excluding_tax",
    "line_item:subtotal": "replaces line.amount_excluding_tax",
    "line_item:taxes": "replaces line.tax_amounts / tax_rates",
}

LEGACY_CLASSES: Dict[str, type] = {
    "invoice": LegacyInvoice,
    "line_item": LegacyInvoiceLineItem,
    "checkout.session": LegacySession,
}
