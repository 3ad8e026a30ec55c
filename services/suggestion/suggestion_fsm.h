/*
 * suggestion_fsm.h - the lifecycle of a prosperity proposal (助富建议) as an
 * explicit table: states, actions, who may act, what each action needs, and
 * how the parts of a cross-border proposal add up to one state.
 *
 * Pure functions over constant tables: no I/O, no allocation, no clock, no
 * configuration. They trust nothing about their inputs: an out-of-range
 * state or action, a NULL name or pointer is answered as "unknown" or
 * "forbidden", never read past. They report by return value only.
 *
 * The lifecycle (from services/suggestion's issue):
 *
 *   submitted --accept--> accepted --assign--> assigned --progress--> in_progress
 *   submitted --reject--> rejected (final)            in_progress --progress--> in_progress
 *   assigned | in_progress --resolve--> resolved
 *   resolved --feedback--> closed        (the submitter: satisfied or not, with a comment)
 *   resolved --close-->    closed        (automatic after N days, or a supervisor/admin)
 *   closed --reopen--> assigned          (once, after unsatisfied feedback; a new due date)
 *
 * Design decisions:
 * - The table answers only "does this action lead anywhere from this
 *   state". Facts it cannot see -- was the feedback unsatisfied, has the
 *   proposal been reopened before -- are checked by sfsm_guard() on what the
 *   caller read from the proposal's record. sfsm_allowed() therefore lists
 *   reopen for every closed proposal; the guard then refuses it with a
 *   reason (the HTTP layer answers 409 either way).
 * - A proposal closed automatically or by a supervisor has no feedback, so
 *   it can never be reopened: feedback is only possible while resolved.
 * - Roles come from core/auth.h: one ROLE_* bit per token. The scheduled
 *   auto-close has no token; it acts as SFSM_ACTOR_SYSTEM, a bit outside
 *   ROLE_ANY that auth_jwt_verify() can never produce, so no token can claim
 *   to be the system.
 * - A role is necessary, not sufficient: a handler may act only on a part
 *   assigned to its own unit, a notable only on its own proposal. sfsm_may()
 *   combines the role with those two relations, which the caller decides
 *   from the token (unit, sub) and the record.
 * - The admin may do what the supervisor may (accept, reject, assign,
 *   close) but does not answer for a handling unit nor speak for the
 *   submitter: progress, resolve, feedback and reopen are theirs alone.
 * - Cross-border: a proposal concerning villages on both sides has one part
 *   per side (region code prefix 33 Zhejiang, 31 Shanghai), each with its own
 *   unit, due date, progress and answer. A part moves through assigned,
 *   in_progress and resolved with the same table (progress, resolve); the
 *   proposal's state while assigned is sfsm_overall() of its parts. Accept,
 *   reject, feedback, close and reopen act on the whole proposal; reopen
 *   puts every part back to assigned with a new due date, because the
 *   submitter's feedback judges the one answer the proposal got.
 */
#ifndef SHANTANG_SUGGESTION_FSM_H
#define SHANTANG_SUGGESTION_FSM_H

#include <stddef.h>

#include "core/auth.h"

/* A proposal's (or one part's) state. Values index the tables; SFSM_NONE is "no state". */
typedef enum sfsm_state {
    SFSM_NONE = -1,       /* unknown name, or no state (sfsm_overall of nothing) */
    SFSM_SUBMITTED = 0,   /* "submitted": received, waiting for a supervisor */
    SFSM_ACCEPTED = 1,    /* "accepted": taken up, not yet given to a unit */
    SFSM_REJECTED = 2,    /* "rejected": refused with a reason; final */
    SFSM_ASSIGNED = 3,    /* "assigned": 交办 to a handling unit with a due date */
    SFSM_IN_PROGRESS = 4, /* "in_progress": the unit has posted progress */
    SFSM_RESOLVED = 5,    /* "resolved": 办结, answered; waiting for feedback or auto-close */
    SFSM_CLOSED = 6,      /* "closed": final unless reopened once */
    SFSM_NSTATES = 7
} sfsm_state;

/* What someone asks to do; the "action" of POST /v1/suggestions/{id}/transitions. */
typedef enum sfsm_action {
    SFSM_ACT_NONE = -1,    /* unknown name */
    SFSM_ACT_ACCEPT = 0,   /* "accept" */
    SFSM_ACT_REJECT = 1,   /* "reject" */
    SFSM_ACT_ASSIGN = 2,   /* "assign" */
    SFSM_ACT_PROGRESS = 3, /* "progress" */
    SFSM_ACT_RESOLVE = 4,  /* "resolve" */
    SFSM_ACT_FEEDBACK = 5, /* "feedback" */
    SFSM_ACT_CLOSE = 6,    /* "close" */
    SFSM_ACT_REOPEN = 7,   /* "reopen" */
    SFSM_NACTIONS = 8
} sfsm_action;

/* The scheduler's auto-close: an actor bit no token carries (outside ROLE_ANY). */
#define SFSM_ACTOR_SYSTEM (1 << 8)

/*
 * Fields an action needs in its request body (bits of sfsm_needs()). A due
 * date is never needed: assignment and reopening take the category's
 * default (in working days) unless the body gives "due_date"; the bit names
 * that optional field for callers that describe it.
 */
enum {
    SFSM_NEED_REASON = 1 << 0,    /* "reason": why it is rejected */
    SFSM_NEED_UNIT = 1 << 1,      /* "unit_id": the handling unit (one per side) */
    SFSM_NEED_DUE_DATE = 1 << 2,  /* "due_date": YYYY-MM-DD, optional at assign/reopen */
    SFSM_NEED_NOTE = 1 << 3,      /* "note": the progress note */
    SFSM_NEED_ANSWER = 1 << 4,    /* "answer": the unit's answer (办结答复) */
    SFSM_NEED_SATISFIED = 1 << 5, /* "satisfied": true or false */
    SFSM_NEED_COMMENT = 1 << 6    /* "comment": the submitter's words */
};

/* The two sides of the border, by region code prefix. */
typedef enum sfsm_side {
    SFSM_SIDE_NONE = -1,    /* a code of neither side, or malformed */
    SFSM_SIDE_ZHEJIANG = 0, /* "zhejiang": codes 33... */
    SFSM_SIDE_SHANGHAI = 1, /* "shanghai": codes 31... */
    SFSM_NSIDES = 2
} sfsm_side;

/* What the table cannot see: facts from the proposal's record that guard a transition. */
typedef struct sfsm_facts {
    int has_feedback; /* 1 if the submitter gave feedback (closed by feedback) */
    int satisfied;    /* that feedback's verdict; read only when has_feedback */
    int reopen_count; /* times the proposal has been reopened so far */
} sfsm_facts;

/* sfsm_state_name - "submitted".."closed"; "unknown" for anything else. Never NULL. */
const char *sfsm_state_name(sfsm_state s);

/* sfsm_state_parse - the state named name (exact, lower case); SFSM_NONE (-1) if unknown or NULL */
sfsm_state sfsm_state_parse(const char *name);

/* sfsm_action_name - "accept".."reopen"; "unknown" for anything else. Never NULL. */
const char *sfsm_action_name(sfsm_action a);

/* sfsm_action_parse - the action named name; SFSM_ACT_NONE (-1) if unknown or NULL */
sfsm_action sfsm_action_parse(const char *name);

/*
 * sfsm_next - the state action a leads to from state from. Returns 0 and
 * sets *to, or -1 (forbidden, or from/a out of range; *to untouched). to may
 * be NULL to ask only whether the transition exists.
 */
int sfsm_next(sfsm_state from, sfsm_action a, sfsm_state *to);

/*
 * sfsm_allowed - the actions that lead somewhere from state from, in
 * sfsm_action order, into out (at most max of them). Returns the number
 * written; 0 for a final or unknown state. SFSM_NACTIONS always suffices.
 */
size_t sfsm_allowed(sfsm_state from, sfsm_action *out, size_t max);

/*
 * sfsm_conflict_message - the 409 detail for a transition not allowed from
 * from: "current state resolved, allowed: feedback, close" ("allowed: none"
 * for a final state). Truncated to fit len. Returns buf.
 */
char *sfsm_conflict_message(sfsm_state from, char *buf, size_t len);

/*
 * sfsm_guard - the facts' say on a transition the table allows: reopen
 * needs unsatisfied feedback and no earlier reopening. Returns 0 if
 * permitted, -1 with the reason in err (errlen bytes) otherwise. Other
 * transitions have no guard; f may then be NULL.
 */
int sfsm_guard(sfsm_state from, sfsm_action a, const sfsm_facts *f, char *err, size_t errlen);

/*
 * sfsm_roles - the actor bits (ROLE_* of core/auth.h, SFSM_ACTOR_SYSTEM)
 * that may make action a; 0 for an unknown action.
 */
int sfsm_roles(sfsm_action a);

/*
 * sfsm_role_may - 1 if role may make action a, else 0. role is one ROLE_*
 * bit as auth_claims.role holds it, or SFSM_ACTOR_SYSTEM; a mask of several
 * bits may if any of them may. 0 and unknown actions: 0.
 */
int sfsm_role_may(sfsm_action a, int role);

/*
 * sfsm_may - the whole permission: sfsm_role_may(), and for a handler
 * is_assigned_unit (the token's unit is the one the part is assigned to),
 * for a notable is_submitter (the token's sub submitted the proposal).
 * Returns 1 or 0.
 */
int sfsm_may(sfsm_action a, int role, int is_submitter, int is_assigned_unit);

/* sfsm_needs - the SFSM_NEED_* bits of the fields action a needs; 0 for accept, close, unknown */
unsigned sfsm_needs(sfsm_action a);

/* sfsm_need_field - the JSON field name of one SFSM_NEED_* bit ("reason", ...); NULL otherwise */
const char *sfsm_need_field(unsigned need);

/*
 * sfsm_event_type - the CloudEvents type a transition by a publishes on
 * suggestions.v1: "suggestion.accepted", ..., feedback and close both
 * "suggestion.closed"; NULL for an unknown action.
 */
const char *sfsm_event_type(sfsm_action a);

/*
 * sfsm_overall - a cross-border proposal's state from its parts' states:
 * resolved when every part is resolved; in_progress when some part is in
 * progress or resolved but not all are resolved; assigned when every part
 * is assigned. SFSM_NONE when n is 0, parts is NULL, or a part is in any
 * other state (parts exist only from assignment to resolution).
 */
sfsm_state sfsm_overall(const sfsm_state *parts, size_t n);

/*
 * sfsm_side_of - the side of the border a 12-digit region code lies on:
 * prefix 33 Zhejiang, 31 Shanghai; SFSM_SIDE_NONE for any other or a
 * malformed code (not 12 ASCII digits).
 */
sfsm_side sfsm_side_of(const char *region_code);

/* sfsm_side_name - "zhejiang" or "shanghai"; "unknown" otherwise. Never NULL. */
const char *sfsm_side_name(sfsm_side side);

#endif
