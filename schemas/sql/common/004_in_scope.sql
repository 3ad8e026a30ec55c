-- common 004: the one village-scope test of every service. A scope is the
-- caller's region codes as prefixes (core/auth.h auth_scope_array: a code
-- without its trailing zero groups); code is inside it when one non-empty
-- prefix begins it. A NULL scope is no restriction (the roles that read
-- everything). Used by the household and project lists and by the entries a
-- coordinator may read, so that the three cannot come to mean different things.

CREATE FUNCTION in_scope(code text, scope text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT scope IS NULL
        OR EXISTS (SELECT 1 FROM unnest(scope) s WHERE s <> '' AND left(code, length(s)) = s)
$$;
