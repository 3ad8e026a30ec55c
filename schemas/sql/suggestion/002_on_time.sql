-- suggestion 002: the closed loop's "on time": a resolved proposal whose
-- every part (with unit, that unit's parts) was resolved on or before its due
-- date (Asia/Shanghai days), and their share of the resolved ones. The rest
-- of the statistics row is unchanged.

CREATE OR REPLACE FUNCTION stats_figures(ids uuid[], unit text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH s AS (SELECT * FROM suggestions WHERE id = ANY (ids)),
    f AS (
        SELECT count(*) AS received,
               count(*) FILTER (WHERE accepted_at IS NOT NULL) AS accepted,
               count(*) FILTER (WHERE state = 'rejected') AS rejected,
               count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved,
               count(*) FILTER (WHERE state = 'closed') AS closed,
               count(*) FILTER (WHERE state IN ('assigned', 'in_progress') AND EXISTS (
                   SELECT 1 FROM parts p WHERE p.suggestion_id = s.id
                   AND (unit IS NULL OR p.unit_id = unit)
                   AND p.overdue_at IS NOT NULL AND p.state <> 'resolved')) AS overdue,
               count(*) FILTER (WHERE resolved_at IS NOT NULL AND NOT EXISTS (
                   SELECT 1 FROM parts p WHERE p.suggestion_id = s.id
                   AND (unit IS NULL OR p.unit_id = unit)
                   AND (p.resolved_at IS NULL OR local_day(p.resolved_at) > p.due_date)))
                   AS on_time,
               count(*) FILTER (WHERE satisfied IS NOT NULL) AS feedback,
               count(*) FILTER (WHERE satisfied) AS satisfied,
               percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY extract(epoch FROM resolved_at - submitted_at) / 86400)
                   FILTER (WHERE resolved_at IS NOT NULL) AS median_days,
               percentile_cont(0.9) WITHIN GROUP (
                   ORDER BY extract(epoch FROM resolved_at - submitted_at) / 86400)
                   FILTER (WHERE resolved_at IS NOT NULL) AS p90_days
        FROM s)
    SELECT jsonb_build_object(
        'received', received, 'accepted', accepted, 'rejected', rejected,
        'resolved', resolved, 'closed', closed, 'overdue', overdue,
        'resolution_rate', CASE WHEN accepted > 0 THEN round(resolved::numeric / accepted, 4) END,
        'resolved_on_time', on_time,
        'on_time_rate', CASE WHEN resolved > 0 THEN round(on_time::numeric / resolved, 4) END,
        'median_days_to_resolve', round(median_days::numeric, 1),
        'p90_days_to_resolve', round(p90_days::numeric, 1),
        'feedback', feedback,
        'satisfaction_rate', CASE WHEN feedback > 0 THEN round(satisfied::numeric / feedback, 4) END)
    FROM f
$$;
