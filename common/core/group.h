/*
 * group.h - group commit: concurrent command statements share one
 * transaction and one WAL flush.
 *
 * A command statement (one call of a command function, core/service.h
 * service_create_one) is complete in itself: run alone in autocommit it is
 * its own transaction. group_exec runs it so, or together with the command
 * statements other threads submit meanwhile: their statements are sent in
 * one libpq pipeline without a Sync between them, which PostgreSQL runs as
 * one transaction committed at the Sync, so one round trip and one commit
 * serve them all. No caller gets its result before that commit is durable.
 *
 * Isolation: a statement that fails (an error raised inside its command: a
 * unique violation, a deadlock) rolls the whole group back; every statement
 * of the group is then run again alone, in order, each in its own
 * transaction, so that one request's failure changes no other request's
 * answer. A command answering a 4xx problem returns it as a result (it
 * writes nothing before its checks), which does not fail the group.
 *
 * Waiting: a statement that arrives while no group is running runs at once,
 * so a lone request is not slowed. While groups are running, the next group
 * collects arrivals for at most wait_us, or until it holds max statements,
 * or until a running group ends, whichever comes first.
 */
#ifndef SHANTANG_CORE_GROUP_H
#define SHANTANG_CORE_GROUP_H

#include <libpq-fe.h>

#include "core/db.h"

typedef struct group group;

/* group_new - group commit on pool's connections, max statements a group (at most 256;
   1: every statement alone), collecting for wait_us at most */
group *group_new(db_pool *pool, int max, int wait_us);

/* group_free - NULL; no statement may be waiting */
group *group_free(group *g);

/*
 * group_exec - run the command statement sql with n text parameters (which
 * must stay valid until it returns), alone or in a group, in autocommit:
 * its result once committed, or NULL with err (a database failure, or the
 * pool's wait of timeout_ms for a connection running out; g NULL, a context
 * without a database: at once).
 */
PGresult *group_exec(group *g, int timeout_ms, const char *sql, int n, const char *const *params,
                     db_err *err);

#endif
