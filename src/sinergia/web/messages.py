"""Words that reach templates as data (roles, bands, statuses, dimensions, units) and so are translated at run
time with ``_(value)``: listed here so that message extraction and the catalog-completeness test see them.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark for translation, do not translate (the gettext convention)."""
    return message


ROLES = (N_("admin"), N_("manager"), N_("csm"), N_("support"), N_("viewer"))
HEALTH_BANDS = (N_("green"), N_("yellow"), N_("red"), N_("good"), N_("warn"), N_("bad"), N_("amber"), N_("unscored"))
TRENDS = (N_("up"), N_("down"), N_("same"), N_("flat"))
TASK_STATUSES = (N_("open"), N_("done"), N_("snoozed"), N_("solved"))
TASK_PRIORITIES = (N_("low"), N_("normal"), N_("high"), N_("urgent"))
SLA_STATES = (N_("met"), N_("achieved"), N_("breached"), N_("pending"))
DIMENSIONS = (N_("touchpoint"), N_("journey_stage"), N_("persona"), N_("channel"), N_("priority"), N_("team"),
              N_("segment"))
#: The unit descriptions, spelled out for extraction (the registry owns them; a test keeps the two equal).
UNIT_MESSAGES = (
    N_("a fraction (0.25 = 25 %)"),
    N_("an amount in the workspace currency"),
    N_("a count"),
    N_("hours"),
    N_("days"),
    N_("a score on the survey's scale"),
    N_("NPS points, −100 to +100"),
)

ALL: tuple[str, ...] = (
    ROLES + HEALTH_BANDS + TRENDS + TASK_STATUSES + TASK_PRIORITIES + SLA_STATES + DIMENSIONS + UNIT_MESSAGES
)
