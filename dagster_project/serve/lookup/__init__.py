"""Customer lookup for service and sales agents (`crm customer <email or id>`), on the serving file.

What can be looked up:

- an email (any case, surrounding spaces ignored): the customer's own email (dim_customers) and
  every source identity carrying it (bridge_customer_identities: marketing contacts, leads,
  ticket requesters resolved to a customer);
- a unified customer id (dim_customers.customer_id, e.g. ``C0001234``);
- a source-system id: a lead id, a ticket id, a customer id a ticket carries, or a whole
  identity id (``marketing:lead:L0000042``), through bridge_customer_identities.

An email or id can match several customers (an address shared by colleagues, a ticket id whose
requester's email belongs to several customers): the lookup then lists the candidates and asks
for the customer id, it never picks one. When the serving file is masked (pii.py), the email
typed is hashed with the same key before it is searched, and the card shows tokens for names,
emails and phones.

Everything here takes an open (read-only) connection to the serving file; printing with rich is
in :func:`render_card`, the `crm customer` command only wires the two.
"""

from __future__ import annotations

from dagster_project.serve.lookup.card import load_card
from dagster_project.serve.lookup.find import (
    RECENT_INTERACTIONS,
    TOP_OFFERS,
    WHAT_CAN_BE_LOOKED_UP,
    Candidate,
    CannotSearchMaskedEmail,
    CustomerCard,
    LookupFailed,
    Match,
    NoMatch,
    SeveralMatches,
    find_customer,
    masked_email_key_id,
)
from dagster_project.serve.lookup.render import (
    UNSCORED_CHURN_STATUSES,
    churn_line,
    clv_line,
    render_candidates,
    render_card,
)

__all__ = [
    "Candidate",
    "CannotSearchMaskedEmail",
    "CustomerCard",
    "LookupFailed",
    "Match",
    "NoMatch",
    "RECENT_INTERACTIONS",
    "SeveralMatches",
    "TOP_OFFERS",
    "UNSCORED_CHURN_STATUSES",
    "WHAT_CAN_BE_LOOKED_UP",
    "churn_line",
    "clv_line",
    "find_customer",
    "load_card",
    "masked_email_key_id",
    "render_candidates",
    "render_card",
]
