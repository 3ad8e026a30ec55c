/*
 * test_suggestion_fsm.c - the proposal lifecycle (suggestion_fsm.h) against
 * a table written here, by name, independently of the service's own table:
 * every (state, action) pair (allowed -> its target, forbidden -> -1), the
 * allowed lists and the 409 message, the reopen guard, who may make each
 * action (every role, the system actor, the handler's unit and the
 * submitter relations), the fields each action needs and the event it
 * publishes, name parsing (unknown names -> -1), the overall state of a
 * cross-border proposal's parts, and the side of the border of region codes.
 */
#include <string.h>

#include "check.h"
#include "suggestion_fsm.h"

static const char *const states[] = {"submitted",   "accepted", "rejected", "assigned",
                                     "in_progress", "resolved", "closed"};
static const char *const actions[] = {"accept",  "reject",   "assign", "progress",
                                      "resolve", "feedback", "close",  "reopen"};
#define NSTATES (sizeof states / sizeof states[0])
#define NACTIONS (sizeof actions / sizeof actions[0])

/* The lifecycle, every allowed transition; everything else is forbidden. */
static const struct {
    const char *from, *action, *to;
} allowed[] = {
    {"submitted", "accept", "accepted"},
    {"submitted", "reject", "rejected"},
    {"accepted", "assign", "assigned"},
    {"assigned", "progress", "in_progress"},
    {"in_progress", "progress", "in_progress"},
    {"assigned", "resolve", "resolved"},
    {"in_progress", "resolve", "resolved"},
    {"resolved", "feedback", "closed"},
    {"resolved", "close", "closed"},
    {"closed", "reopen", "assigned"},
};
#define NALLOWED (sizeof allowed / sizeof allowed[0])

/* want_target - the expected target of (from, action), NULL if forbidden */
static const char *want_target(const char *from, const char *action)
{
    for (size_t i = 0; i < NALLOWED; i++)
        if (strcmp(allowed[i].from, from) == 0 && strcmp(allowed[i].action, action) == 0)
            return allowed[i].to;
    return NULL;
}

/* test_names - names round-trip; unknown names, NULL and out-of-range values are refused */
static void test_names(void)
{
    for (size_t i = 0; i < NSTATES; i++) {
        sfsm_state s = sfsm_state_parse(states[i]);
        CHECK(s != SFSM_NONE, "state %s parses", states[i]);
        CHECK_STR(sfsm_state_name(s), states[i], "state name round trip");
    }
    for (size_t i = 0; i < NACTIONS; i++) {
        sfsm_action a = sfsm_action_parse(actions[i]);
        CHECK(a != SFSM_ACT_NONE, "action %s parses", actions[i]);
        CHECK_STR(sfsm_action_name(a), actions[i], "action name round trip");
    }
    CHECK_INT(SFSM_NSTATES, NSTATES, "number of states");
    CHECK_INT(SFSM_NACTIONS, NACTIONS, "number of actions");

    static const char *const bad[] = {"",           "Submitted", "in-progress",
                                      "inprogress", "open",      "submitted ",
                                      "closedx",    "accept",    "done"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INT(sfsm_state_parse(bad[i]), -1, bad[i]);
    static const char *const badact[] = {"",       "Accept",  "approve", "assigned", "comment",
                                         "close ", "re-open", "submit",  "escalate"};
    for (size_t i = 0; i < sizeof badact / sizeof badact[0]; i++)
        CHECK_INT(sfsm_action_parse(badact[i]), -1, badact[i]);
    CHECK_INT(sfsm_state_parse(NULL), -1, "NULL state name");
    CHECK_INT(sfsm_action_parse(NULL), -1, "NULL action name");
    CHECK_STR(sfsm_state_name((sfsm_state)7), "unknown", "state 7 has no name");
    CHECK_STR(sfsm_state_name(SFSM_NONE), "unknown", "SFSM_NONE has no name");
    CHECK_STR(sfsm_action_name((sfsm_action)8), "unknown", "action 8 has no name");
    CHECK_STR(sfsm_action_name((sfsm_action)-5), "unknown", "action -5 has no name");
}

/* test_every_pair - all 7 x 8 (state, action) pairs against the table above */
static void test_every_pair(void)
{
    int nallowed = 0;
    for (size_t i = 0; i < NSTATES; i++) {
        for (size_t j = 0; j < NACTIONS; j++) {
            const char *want = want_target(states[i], actions[j]);
            sfsm_state to = (sfsm_state)99;
            int rc = sfsm_next(sfsm_state_parse(states[i]), sfsm_action_parse(actions[j]), &to);
            if (want) {
                nallowed++;
                CHECK(rc == 0, "%s --%s--> %s: got rc %d, want 0", states[i], actions[j], want, rc);
                CHECK(rc == 0 && strcmp(sfsm_state_name(to), want) == 0,
                      "%s --%s-->: got %s, want %s", states[i], actions[j], sfsm_state_name(to),
                      want);
            } else {
                CHECK(rc == -1, "%s --%s--> must be forbidden: got rc %d", states[i], actions[j],
                      rc);
                CHECK((int)to == 99, "%s --%s-->: target written on refusal", states[i],
                      actions[j]);
            }
            CHECK_INT(sfsm_next(sfsm_state_parse(states[i]), sfsm_action_parse(actions[j]), NULL),
                      want ? 0 : -1, "NULL target pointer");
        }
    }
    CHECK_INT(nallowed, 10, "allowed transitions in the expected table");
    CHECK_INT(sfsm_next(SFSM_NONE, SFSM_ACT_ACCEPT, NULL), -1, "no state");
    CHECK_INT(sfsm_next((sfsm_state)7, SFSM_ACT_ACCEPT, NULL), -1, "state out of range");
    CHECK_INT(sfsm_next(SFSM_SUBMITTED, SFSM_ACT_NONE, NULL), -1, "no action");
    CHECK_INT(sfsm_next(SFSM_SUBMITTED, (sfsm_action)8, NULL), -1, "action out of range");
}

/* test_allowed_lists - sfsm_allowed in action order, and the 409 detail */
static void test_allowed_lists(void)
{
    static const struct {
        const char *state, *want, *message;
    } cases[] = {
        {"submitted", "accept,reject", "current state submitted, allowed: accept, reject"},
        {"accepted", "assign", "current state accepted, allowed: assign"},
        {"rejected", "", "current state rejected, allowed: none"},
        {"assigned", "progress,resolve", "current state assigned, allowed: progress, resolve"},
        {"in_progress", "progress,resolve",
         "current state in_progress, allowed: progress, resolve"},
        {"resolved", "feedback,close", "current state resolved, allowed: feedback, close"},
        {"closed", "reopen", "current state closed, allowed: reopen"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sfsm_action out[SFSM_NACTIONS];
        char got[128] = "", msg[128];
        size_t n = sfsm_allowed(sfsm_state_parse(cases[i].state), out, SFSM_NACTIONS);
        for (size_t k = 0; k < n; k++) {
            if (k)
                strcat(got, ",");
            strcat(got, sfsm_action_name(out[k]));
        }
        CHECK_STR(got, cases[i].want, cases[i].state);
        CHECK_STR(sfsm_conflict_message(sfsm_state_parse(cases[i].state), msg, sizeof msg),
                  cases[i].message, "409 detail");
    }
    sfsm_action one[1];
    CHECK_INT(sfsm_allowed(SFSM_SUBMITTED, one, 1), 1, "max respected");
    CHECK_STR(sfsm_action_name(one[0]), "accept", "first allowed action");
    CHECK_INT(sfsm_allowed(SFSM_SUBMITTED, one, 0), 0, "max 0");
    CHECK_INT(sfsm_allowed(SFSM_NONE, one, 1), 0, "unknown state");
    char small[20];
    sfsm_conflict_message(SFSM_RESOLVED, small, sizeof small);
    CHECK_STR(small, "current state resol", "message truncated to its buffer");
}

/* test_guard - reopen once, and only after unsatisfied feedback */
static void test_guard(void)
{
    static const struct {
        int has_feedback, satisfied, reopen_count, want;
        const char *what;
    } cases[] = {
        {1, 0, 0, 0, "unsatisfied, never reopened"}, {1, 1, 0, -1, "satisfied"},
        {0, 0, 0, -1, "auto-closed, no feedback"},   {1, 0, 1, -1, "already reopened once"},
        {1, 1, 1, -1, "satisfied and reopened"},
    };
    char err[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sfsm_facts f = {cases[i].has_feedback, cases[i].satisfied, cases[i].reopen_count};
        err[0] = '\0';
        CHECK_INT(sfsm_guard(SFSM_CLOSED, SFSM_ACT_REOPEN, &f, err, sizeof err), cases[i].want,
                  cases[i].what);
        CHECK(cases[i].want == 0 || err[0] != '\0', "%s: a reason is given", cases[i].what);
    }
    CHECK_INT(sfsm_guard(SFSM_CLOSED, SFSM_ACT_REOPEN, NULL, err, sizeof err), -1,
              "reopen without the record");
    CHECK_INT(sfsm_guard(SFSM_SUBMITTED, SFSM_ACT_ACCEPT, NULL, err, sizeof err), 0,
              "accept has no guard");
    CHECK_INT(sfsm_guard(SFSM_RESOLVED, SFSM_ACT_CLOSE, NULL, NULL, 0), 0, "close has no guard");
    CHECK_INT(sfsm_guard(SFSM_SUBMITTED, SFSM_ACT_REOPEN, NULL, err, sizeof err), -1,
              "the guard refuses what the table forbids");
    sfsm_facts ok = {1, 0, 0};
    CHECK_INT(sfsm_guard(SFSM_RESOLVED, SFSM_ACT_REOPEN, &ok, NULL, 0), -1,
              "reopen from resolved, no error buffer");
}

/* test_roles - who may make each action: every role bit and the system actor */
static void test_roles(void)
{
    static const char *const roles[] = {"admin",   "coordinator", "notable",
                                        "handler", "supervisor",  "planner"};
    /* per action, the actors that may make it, space separated */
    static const struct {
        const char *action, *who;
    } want[] = {
        {"accept", "admin supervisor"},
        {"reject", "admin supervisor"},
        {"assign", "admin supervisor"},
        {"progress", "handler"},
        {"resolve", "handler"},
        {"feedback", "notable"},
        {"close", "admin supervisor system"},
        {"reopen", "notable"},
    };
    CHECK_INT(sizeof want / sizeof want[0], NACTIONS, "every action has a role row");
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        sfsm_action a = sfsm_action_parse(want[i].action);
        char who[128] = "";
        for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++) {
            int bit = auth_role_parse(roles[r]);
            CHECK(bit != 0, "role %s is known to auth", roles[r]);
            if (sfsm_role_may(a, bit)) {
                if (who[0])
                    strcat(who, " ");
                strcat(who, roles[r]);
            }
        }
        if (sfsm_role_may(a, SFSM_ACTOR_SYSTEM)) {
            if (who[0])
                strcat(who, " ");
            strcat(who, "system");
        }
        CHECK_STR(who, want[i].who, want[i].action);
        CHECK_INT(sfsm_role_may(a, 0), 0, "no role");
    }
    CHECK_INT(SFSM_ACTOR_SYSTEM & ROLE_ANY, 0, "system is no token role");
    CHECK_INT(sfsm_role_may(SFSM_ACT_NONE, ROLE_ANY | SFSM_ACTOR_SYSTEM), 0, "unknown action");
    CHECK_INT(sfsm_roles((sfsm_action)8), 0, "action out of range has no roles");
    CHECK_INT(sfsm_role_may(SFSM_ACT_ACCEPT, ROLE_PLANNER | ROLE_SUPERVISOR), 1,
              "a mask may if one bit may");
    CHECK_INT(sfsm_role_may(SFSM_ACT_ACCEPT, ROLE_PLANNER | ROLE_NOTABLE), 0,
              "a mask of bits that may not");

    /* the relations: a handler for its own unit, a notable for its own proposal */
    static const struct {
        const char *action;
        int role, is_submitter, is_unit, want;
    } rel[] = {
        {"progress", ROLE_HANDLER, 0, 1, 1},   {"progress", ROLE_HANDLER, 0, 0, 0},
        {"resolve", ROLE_HANDLER, 1, 1, 1},    {"resolve", ROLE_HANDLER, 1, 0, 0},
        {"feedback", ROLE_NOTABLE, 1, 0, 1},   {"feedback", ROLE_NOTABLE, 0, 0, 0},
        {"feedback", ROLE_NOTABLE, 0, 1, 0},   {"reopen", ROLE_NOTABLE, 1, 0, 1},
        {"reopen", ROLE_NOTABLE, 0, 1, 0},     {"reopen", ROLE_ADMIN, 1, 1, 0},
        {"accept", ROLE_SUPERVISOR, 0, 0, 1},  {"assign", ROLE_ADMIN, 0, 0, 1},
        {"assign", ROLE_HANDLER, 0, 1, 0},     {"close", SFSM_ACTOR_SYSTEM, 0, 0, 1},
        {"close", ROLE_NOTABLE, 1, 0, 0},      {"resolve", ROLE_SUPERVISOR, 0, 1, 0},
        {"progress", ROLE_ADMIN, 0, 1, 0},     {"accept", ROLE_PLANNER, 1, 1, 0},
        {"reject", ROLE_COORDINATOR, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++)
        CHECK(sfsm_may(sfsm_action_parse(rel[i].action), rel[i].role, rel[i].is_submitter,
                       rel[i].is_unit) == rel[i].want,
              "%s by %s (submitter %d, unit %d): want %d", rel[i].action,
              rel[i].role == SFSM_ACTOR_SYSTEM ? "system" : auth_role_name(rel[i].role),
              rel[i].is_submitter, rel[i].is_unit, rel[i].want);
}

/* test_needs - the fields each action needs, and the event it publishes */
static void test_needs(void)
{
    static const struct {
        const char *action, *fields, *event;
    } want[] = {
        {"accept", "", "suggestion.accepted"},
        {"reject", "reason", "suggestion.rejected"},
        {"assign", "unit_id", "suggestion.assigned"},
        {"progress", "note", "suggestion.progressed"},
        {"resolve", "answer", "suggestion.resolved"},
        {"feedback", "satisfied comment", "suggestion.closed"},
        {"close", "", "suggestion.closed"},
        {"reopen", "", "suggestion.reopened"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        sfsm_action a = sfsm_action_parse(want[i].action);
        unsigned needs = sfsm_needs(a);
        char got[128] = "";
        for (unsigned bit = 1; bit; bit <<= 1) {
            if (!(needs & bit))
                continue;
            const char *f = sfsm_need_field(bit);
            CHECK(f != NULL, "%s: need bit %u has a field name", want[i].action, bit);
            if (got[0])
                strcat(got, " ");
            strcat(got, f ? f : "?");
        }
        CHECK_STR(got, want[i].fields, want[i].action);
        CHECK_STR(sfsm_event_type(a), want[i].event, want[i].action);
    }
    CHECK_INT(sfsm_needs(SFSM_ACT_NONE), 0, "unknown action needs nothing");
    CHECK(sfsm_need_field(0) == NULL, "no field for 0");
    CHECK(sfsm_need_field(SFSM_NEED_UNIT | SFSM_NEED_DUE_DATE) == NULL, "no field for two bits");
    CHECK(sfsm_event_type(SFSM_ACT_NONE) == NULL, "no event for an unknown action");
}

/* test_overall - a cross-border proposal's state from its parts */
static void test_overall(void)
{
    static const struct {
        const char *parts[3];
        size_t n;
        const char *want; /* NULL: SFSM_NONE */
    } cases[] = {
        {{"assigned"}, 1, "assigned"},
        {{"in_progress"}, 1, "in_progress"},
        {{"resolved"}, 1, "resolved"},
        {{"assigned", "assigned"}, 2, "assigned"},
        {{"assigned", "in_progress"}, 2, "in_progress"},
        {{"in_progress", "assigned"}, 2, "in_progress"},
        {{"resolved", "assigned"}, 2, "in_progress"},
        {{"assigned", "resolved"}, 2, "in_progress"},
        {{"resolved", "in_progress"}, 2, "in_progress"},
        {{"in_progress", "in_progress"}, 2, "in_progress"},
        {{"resolved", "resolved"}, 2, "resolved"},
        {{"resolved", "resolved", "assigned"}, 3, "in_progress"},
        {{"resolved", "resolved", "resolved"}, 3, "resolved"},
        {{"submitted", "assigned"}, 2, NULL},
        {{"resolved", "closed"}, 2, NULL},
        {{"accepted"}, 1, NULL},
        {{"rejected", "resolved"}, 2, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sfsm_state parts[3];
        for (size_t k = 0; k < cases[i].n; k++)
            parts[k] = sfsm_state_parse(cases[i].parts[k]);
        sfsm_state got = sfsm_overall(parts, cases[i].n);
        if (cases[i].want)
            CHECK_STR(sfsm_state_name(got), cases[i].want, "overall state");
        else
            CHECK(got == SFSM_NONE,
                  "case %zu: parts not all between assignment and resolution, "
                  "got %s",
                  i, sfsm_state_name(got));
    }
    sfsm_state one = SFSM_RESOLVED;
    CHECK(sfsm_overall(&one, 0) == SFSM_NONE, "no parts");
    CHECK(sfsm_overall(NULL, 2) == SFSM_NONE, "NULL parts");
    sfsm_state junk[2] = {SFSM_RESOLVED, (sfsm_state)42};
    CHECK(sfsm_overall(junk, 2) == SFSM_NONE, "a part out of range");
}

/* test_sides - the side of the border from a region code */
static void test_sides(void)
{
    static const struct {
        const char *code, *want;
    } cases[] = {
        {"330482105201", "zhejiang"}, /* 山塘村, 广陈镇 (schemas/data/regions.csv) */
        {"310116106201", "shanghai"}, /* 山塘村, 廊下镇 (schemas/data/regions.csv) */
        {"330000000000", "zhejiang"},
        {"310000000000", "shanghai"},
        {"320000000000", "unknown"},
        {"3304821052", "unknown"},
        {"3304821052011", "unknown"},
        {"33048210520a", "unknown"},
        {"", "unknown"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_STR(sfsm_side_name(sfsm_side_of(cases[i].code)), cases[i].want, cases[i].code);
    CHECK(sfsm_side_of(NULL) == SFSM_SIDE_NONE, "NULL code");
    CHECK_STR(sfsm_side_name((sfsm_side)2), "unknown", "side out of range");
}

int main(void)
{
    test_names();
    test_every_pair();
    test_allowed_lists();
    test_guard();
    test_roles();
    test_needs();
    test_overall();
    test_sides();
    return check_done();
}
