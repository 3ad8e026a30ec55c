/*
 * suggestion_fsm.c - the proposal lifecycle's tables and the functions that
 * read them; see suggestion_fsm.h for the rules and the design decisions.
 *
 * Pure: no I/O, no allocation, no configuration. Every lookup checks its
 * index before reading a table.
 */
#include "suggestion_fsm.h"

#include <stdio.h>
#include <string.h>

_Static_assert((SFSM_ACTOR_SYSTEM & ROLE_ANY) == 0, "the system actor must not be a token role");

static const char *const state_names[SFSM_NSTATES] = {
    [SFSM_SUBMITTED] = "submitted",     [SFSM_ACCEPTED] = "accepted",
    [SFSM_REJECTED] = "rejected",       [SFSM_ASSIGNED] = "assigned",
    [SFSM_IN_PROGRESS] = "in_progress", [SFSM_RESOLVED] = "resolved",
    [SFSM_CLOSED] = "closed",
};

static const char *const action_names[SFSM_NACTIONS] = {
    [SFSM_ACT_ACCEPT] = "accept",   [SFSM_ACT_REJECT] = "reject",
    [SFSM_ACT_ASSIGN] = "assign",   [SFSM_ACT_PROGRESS] = "progress",
    [SFSM_ACT_RESOLVE] = "resolve", [SFSM_ACT_FEEDBACK] = "feedback",
    [SFSM_ACT_CLOSE] = "close",     [SFSM_ACT_REOPEN] = "reopen",
};

/*
 * The transition table: next_state[from][action] is the target state, or
 * X where the action is forbidden. One row per state; read across.
 */
#define X SFSM_NONE
#define ACC SFSM_ACCEPTED
#define REJ SFSM_REJECTED
#define ASG SFSM_ASSIGNED
#define INP SFSM_IN_PROGRESS
#define RES SFSM_RESOLVED
#define CLO SFSM_CLOSED
/* clang-format off */
static const sfsm_state next_state[SFSM_NSTATES][SFSM_NACTIONS] = {
    /*                   accept reject assign progress resolve feedback close reopen */
    [SFSM_SUBMITTED]   = {ACC,  REJ,   X,     X,       X,      X,       X,    X},
    [SFSM_ACCEPTED]    = {X,    X,     ASG,   X,       X,      X,       X,    X},
    [SFSM_REJECTED]    = {X,    X,     X,     X,       X,      X,       X,    X},
    [SFSM_ASSIGNED]    = {X,    X,     X,     INP,     RES,    X,       X,    X},
    [SFSM_IN_PROGRESS] = {X,    X,     X,     INP,     RES,    X,       X,    X},
    [SFSM_RESOLVED]    = {X,    X,     X,     X,       X,      CLO,     CLO,  X},
    [SFSM_CLOSED]      = {X,    X,     X,     X,       X,      X,       X,    ASG},
};
/* clang-format on */
#undef X
#undef ACC
#undef REJ
#undef ASG
#undef INP
#undef RES
#undef CLO

/* Who may make each action (actor bits), what it needs, what it publishes. */
static const struct {
    int roles;
    unsigned needs;
    const char *event;
} action_rules[SFSM_NACTIONS] = {
    [SFSM_ACT_ACCEPT] = {ROLE_SUPERVISOR | ROLE_ADMIN, 0, "suggestion.accepted"},
    [SFSM_ACT_REJECT] = {ROLE_SUPERVISOR | ROLE_ADMIN, SFSM_NEED_REASON, "suggestion.rejected"},
    [SFSM_ACT_ASSIGN] = {ROLE_SUPERVISOR | ROLE_ADMIN, SFSM_NEED_UNIT, "suggestion.assigned"},
    [SFSM_ACT_PROGRESS] = {ROLE_HANDLER, SFSM_NEED_NOTE, "suggestion.progressed"},
    [SFSM_ACT_RESOLVE] = {ROLE_HANDLER, SFSM_NEED_ANSWER, "suggestion.resolved"},
    [SFSM_ACT_FEEDBACK] = {ROLE_NOTABLE, SFSM_NEED_SATISFIED | SFSM_NEED_COMMENT,
                           "suggestion.closed"},
    [SFSM_ACT_CLOSE] = {ROLE_SUPERVISOR | ROLE_ADMIN | SFSM_ACTOR_SYSTEM, 0, "suggestion.closed"},
    [SFSM_ACT_REOPEN] = {ROLE_NOTABLE, 0, "suggestion.reopened"},
};

static const char *const need_fields[] = {"reason", "unit_id",   "due_date", "note",
                                          "answer", "satisfied", "comment"};

static const char *const side_names[SFSM_NSIDES] = {
    [SFSM_SIDE_ZHEJIANG] = "zhejiang", [SFSM_SIDE_SHANGHAI] = "shanghai"};

/* state_ok - 1 if s indexes the state tables */
static int state_ok(sfsm_state s)
{
    return (int)s >= 0 && (int)s < SFSM_NSTATES;
}

/* action_ok - 1 if a indexes the action tables */
static int action_ok(sfsm_action a)
{
    return (int)a >= 0 && (int)a < SFSM_NACTIONS;
}

/* sfsm_state_name - the name of a state */
const char *sfsm_state_name(sfsm_state s)
{
    return state_ok(s) ? state_names[s] : "unknown";
}

/* sfsm_state_parse - a state from its name */
sfsm_state sfsm_state_parse(const char *name)
{
    for (int i = 0; name && i < SFSM_NSTATES; i++)
        if (strcmp(name, state_names[i]) == 0)
            return (sfsm_state)i;
    return SFSM_NONE;
}

/* sfsm_action_name - the name of an action */
const char *sfsm_action_name(sfsm_action a)
{
    return action_ok(a) ? action_names[a] : "unknown";
}

/* sfsm_action_parse - an action from its name */
sfsm_action sfsm_action_parse(const char *name)
{
    for (int i = 0; name && i < SFSM_NACTIONS; i++)
        if (strcmp(name, action_names[i]) == 0)
            return (sfsm_action)i;
    return SFSM_ACT_NONE;
}

/* sfsm_next - the target of a transition, from the table */
int sfsm_next(sfsm_state from, sfsm_action a, sfsm_state *to)
{
    if (!state_ok(from) || !action_ok(a) || next_state[from][a] == SFSM_NONE)
        return -1;
    if (to)
        *to = next_state[from][a];
    return 0;
}

/* sfsm_allowed - the actions with a target from a state */
size_t sfsm_allowed(sfsm_state from, sfsm_action *out, size_t max)
{
    size_t n = 0;
    for (int a = 0; out && a < SFSM_NACTIONS && n < max; a++)
        if (sfsm_next(from, (sfsm_action)a, NULL) == 0)
            out[n++] = (sfsm_action)a;
    return n;
}

/* sfsm_conflict_message - "current state X, allowed: a, b" */
char *sfsm_conflict_message(sfsm_state from, char *buf, size_t len)
{
    sfsm_action acts[SFSM_NACTIONS];
    size_t n = sfsm_allowed(from, acts, SFSM_NACTIONS);
    size_t used;
    int w;

    if (!buf || len == 0)
        return buf;
    w = snprintf(buf, len, "current state %s, allowed: %s", sfsm_state_name(from),
                 n ? sfsm_action_name(acts[0]) : "none");
    used = w < 0 ? 0 : (size_t)w;
    for (size_t i = 1; i < n && used < len; i++) {
        w = snprintf(buf + used, len - used, ", %s", sfsm_action_name(acts[i]));
        used += w < 0 ? 0 : (size_t)w;
    }
    return buf;
}

/* sfsm_guard - the record's facts on a transition the table allows */
int sfsm_guard(sfsm_state from, sfsm_action a, const sfsm_facts *f, char *err, size_t errlen)
{
    const char *why = NULL;

    if (sfsm_next(from, a, NULL) != 0)
        why = "transition not allowed from this state";
    else if (a == SFSM_ACT_REOPEN) {
        if (!f)
            why = "the proposal's record is needed to reopen it";
        else if (!f->has_feedback)
            why = "only a proposal closed with the submitter's feedback can be reopened";
        else if (f->satisfied)
            why = "the submitter was satisfied; only unsatisfied feedback allows reopening";
        else if (f->reopen_count > 0)
            why = "the proposal has already been reopened once";
    }
    if (!why)
        return 0;
    if (err && errlen)
        snprintf(err, errlen, "%s", why);
    return -1;
}

/* sfsm_roles - the actor bits that may make an action */
int sfsm_roles(sfsm_action a)
{
    return action_ok(a) ? action_rules[a].roles : 0;
}

/* sfsm_role_may - 1 if some bit of role may make the action */
int sfsm_role_may(sfsm_action a, int role)
{
    return (sfsm_roles(a) & role) != 0;
}

/* sfsm_may - role plus the relation the role needs */
int sfsm_may(sfsm_action a, int role, int is_submitter, int is_assigned_unit)
{
    int ok = sfsm_roles(a) & role;

    /* a handler only for its own unit's part, a notable only for its own proposal */
    if (!is_assigned_unit)
        ok &= ~ROLE_HANDLER;
    if (!is_submitter)
        ok &= ~ROLE_NOTABLE;
    return ok != 0;
}

/* sfsm_needs - the fields an action needs */
unsigned sfsm_needs(sfsm_action a)
{
    return action_ok(a) ? action_rules[a].needs : 0;
}

/* sfsm_need_field - the JSON name of one need bit */
const char *sfsm_need_field(unsigned need)
{
    for (size_t i = 0; i < sizeof need_fields / sizeof need_fields[0]; i++)
        if (need == 1u << i)
            return need_fields[i];
    return NULL;
}

/* sfsm_event_type - the event a transition publishes */
const char *sfsm_event_type(sfsm_action a)
{
    return action_ok(a) ? action_rules[a].event : NULL;
}

/* sfsm_overall - the proposal's state from its parts */
sfsm_state sfsm_overall(const sfsm_state *parts, size_t n)
{
    size_t resolved = 0, moving = 0;

    if (!parts || n == 0)
        return SFSM_NONE;
    for (size_t i = 0; i < n; i++) {
        if (parts[i] == SFSM_RESOLVED)
            resolved++;
        else if (parts[i] == SFSM_IN_PROGRESS)
            moving++;
        else if (parts[i] != SFSM_ASSIGNED)
            return SFSM_NONE;
    }
    if (resolved == n)
        return SFSM_RESOLVED;
    if (resolved || moving)
        return SFSM_IN_PROGRESS;
    return SFSM_ASSIGNED;
}

/* sfsm_side_of - the side of the border of a region code */
sfsm_side sfsm_side_of(const char *region_code)
{
    if (!region_code || strlen(region_code) != 12)
        return SFSM_SIDE_NONE;
    for (int i = 0; i < 12; i++)
        if (region_code[i] < '0' || region_code[i] > '9')
            return SFSM_SIDE_NONE;
    if (region_code[0] == '3' && region_code[1] == '3')
        return SFSM_SIDE_ZHEJIANG;
    if (region_code[0] == '3' && region_code[1] == '1')
        return SFSM_SIDE_SHANGHAI;
    return SFSM_SIDE_NONE;
}

/* sfsm_side_name - the name of a side */
const char *sfsm_side_name(sfsm_side side)
{
    return (int)side >= 0 && (int)side < SFSM_NSIDES ? side_names[side] : "unknown";
}
