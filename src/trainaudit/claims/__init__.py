"""The claims checker: status documents held against themselves and against the repository."""

from trainaudit.claims.checks import check_documents
from trainaudit.claims.model import Claim, ClaimsResult, Issue
from trainaudit.claims.render import render_claims

__all__ = ["Claim", "ClaimsResult", "Issue", "check_documents", "render_claims"]
