"""Surveys: NPS, CSAT and CES definitions, signed invitations, public answers and an inbound webhook.

* :mod:`sinergia.surveys.config` — the ``surveys:`` section of ``sinergia.yaml`` (definitions, throttle, expiry);
* :mod:`sinergia.surveys.tokens` — the signed invitation link (HMAC-SHA256, expiry);
* :mod:`sinergia.surveys.core` — definitions in the serving store, invitations (throttling, outbox e-mail), answers
  written as canonical ``survey_responses`` rows through the ingestion loader, response rate of invitations;
* :mod:`sinergia.surveys.http` — the public page ``/s/{token}`` and ``POST /api/v1/surveys/webhook``.

This ``__init__`` imports nothing: the workspace config imports :mod:`sinergia.surveys.config`.
"""
