/**
 * One forward-only schema change. Ids are numbered (`0001_init`) and applied
 * in order; an applied id is recorded in `schema_migrations` and never run
 * again. A change to the schema is a new migration, never an edit of an old
 * one: databases in the field have already applied it.
 */
export interface Migration {
  id: string;
  sql: string;
}
