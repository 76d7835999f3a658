/*
 * schema.c: the catalog schema as a list of migrations.  Migration N takes
 * a catalog from user_version N-1 to N; a migration, once released, never
 * changes (tests/data/schema-v1.sql is a catalog of version 1 that the
 * newest code must open).  New columns are added by new migrations with
 * defaults, so old libraries keep working.  See doc/formats.md.
 */
#include <stdio.h>
#include "catalog_int.h"

static const char *const migrations[] = {
    /* 1: the first schema. */
    "CREATE TABLE roots(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  path TEXT NOT NULL UNIQUE\n"
    ");\n"
    "CREATE TABLE samples(\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  name TEXT NOT NULL,\n"
    "  root_id INTEGER NOT NULL REFERENCES roots(id),\n"
    "  relpath TEXT NOT NULL,\n"
    "  blob TEXT,\n"
    "  size INTEGER NOT NULL,\n"
    "  mtime_ns INTEGER NOT NULL,\n"
    "  sha256 TEXT NOT NULL,\n"
    "  format TEXT,\n"
    "  subtype TEXT,\n"
    "  rate INTEGER,\n"
    "  channels INTEGER,\n"
    "  frames INTEGER,\n"
    "  duration REAL,\n"
    "  bits INTEGER,\n"
    "  root_key INTEGER,\n"
    "  loop_start INTEGER,\n"
    "  loop_end INTEGER,\n"
    "  loop_mode INTEGER,\n"
    "  tempo REAL,\n"
    "  beats INTEGER,\n"
    "  category TEXT,\n"
    "  created INTEGER NOT NULL,\n"
    "  last_used INTEGER,\n"
    "  missing INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE UNIQUE INDEX samples_path ON samples(root_id, relpath);\n"
    "CREATE INDEX samples_name ON samples(name COLLATE NOCASE);\n"
    "CREATE INDEX samples_sha256 ON samples(sha256);\n"
    "CREATE INDEX samples_blob ON samples(blob) WHERE blob IS NOT NULL;\n"
    "CREATE INDEX samples_rate ON samples(rate);\n"
    "CREATE INDEX samples_root_key ON samples(root_key);\n"
    "CREATE INDEX samples_tempo ON samples(tempo);\n"
    "CREATE INDEX samples_last_used ON samples(last_used);\n"
    "CREATE INDEX samples_missing ON samples(missing) WHERE missing;\n"
    "CREATE TABLE patches(\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  name TEXT NOT NULL,\n"
    "  author TEXT,\n"
    "  format TEXT,\n"
    "  blob TEXT,\n"
    "  path TEXT,\n"
    "  version INTEGER NOT NULL DEFAULT 1,\n"
    "  category TEXT,\n"
    "  created INTEGER NOT NULL,\n"
    "  modified INTEGER,\n"
    "  last_used INTEGER\n"
    ");\n"
    "CREATE INDEX patches_name ON patches(name COLLATE NOCASE);\n"
    "CREATE TABLE projects(\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  name TEXT NOT NULL,\n"
    "  blob TEXT,\n"
    "  path TEXT,\n"
    "  tempo REAL,\n"
    "  created INTEGER NOT NULL,\n"
    "  modified INTEGER,\n"
    "  last_used INTEGER\n"
    ");\n"
    "CREATE INDEX projects_name ON projects(name COLLATE NOCASE);\n"
    "CREATE TABLE automation(\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,\n"
    "  type TEXT NOT NULL,\n"
    "  target TEXT NOT NULL,\n"
    "  start_time REAL NOT NULL DEFAULT 0,\n"
    "  duration REAL,\n"
    "  data BLOB\n"
    ");\n"
    "CREATE INDEX automation_project ON automation(project_id);\n"
    "CREATE TABLE patch_samples(\n"
    "  patch_id INTEGER NOT NULL REFERENCES patches(id) ON DELETE CASCADE,\n"
    "  sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,\n"
    "  PRIMARY KEY(patch_id, sample_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX patch_samples_sample ON patch_samples(sample_id);\n"
    "CREATE TABLE project_patches(\n"
    "  project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,\n"
    "  patch_id INTEGER NOT NULL REFERENCES patches(id) ON DELETE CASCADE,\n"
    "  PRIMARY KEY(project_id, patch_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX project_patches_patch ON project_patches(patch_id);\n"
    "CREATE TABLE project_samples(\n"
    "  project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,\n"
    "  sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,\n"
    "  PRIMARY KEY(project_id, sample_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX project_samples_sample ON project_samples(sample_id);\n"
    /* Tags: tag_items is the inverted index tag -> items. */
    "CREATE TABLE tags(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL UNIQUE COLLATE NOCASE\n"
    ");\n"
    "CREATE TABLE tag_items(\n"
    "  tag_id INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,\n"
    "  kind INTEGER NOT NULL,\n"
    "  item_id INTEGER NOT NULL,\n"
    "  PRIMARY KEY(tag_id, kind, item_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX tag_items_item ON tag_items(kind, item_id);\n"
    "CREATE TABLE ratings(\n"
    "  kind INTEGER NOT NULL,\n"
    "  item_id INTEGER NOT NULL,\n"
    "  rating INTEGER NOT NULL CHECK(rating BETWEEN 1 AND 5),\n"
    "  PRIMARY KEY(kind, item_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE favourites(\n"
    "  kind INTEGER NOT NULL,\n"
    "  item_id INTEGER NOT NULL,\n"
    "  added INTEGER NOT NULL,\n"
    "  PRIMARY KEY(kind, item_id)\n"
    ") WITHOUT ROWID;\n"
    /* User metadata of a removed item goes with it. */
    "CREATE TRIGGER samples_meta_ad AFTER DELETE ON samples BEGIN\n"
    "  DELETE FROM tag_items WHERE kind = " SHELF__KIND_SAMPLE_SQL " AND item_id = old.id;\n"
    "  DELETE FROM ratings WHERE kind = " SHELF__KIND_SAMPLE_SQL " AND item_id = old.id;\n"
    "  DELETE FROM favourites WHERE kind = " SHELF__KIND_SAMPLE_SQL " AND item_id = old.id;\n"
    "END;\n"
    "CREATE TRIGGER patches_meta_ad AFTER DELETE ON patches BEGIN\n"
    "  DELETE FROM tag_items WHERE kind = " SHELF__KIND_PATCH_SQL " AND item_id = old.id;\n"
    "  DELETE FROM ratings WHERE kind = " SHELF__KIND_PATCH_SQL " AND item_id = old.id;\n"
    "  DELETE FROM favourites WHERE kind = " SHELF__KIND_PATCH_SQL " AND item_id = old.id;\n"
    "END;\n"
    "CREATE TRIGGER projects_meta_ad AFTER DELETE ON projects BEGIN\n"
    "  DELETE FROM tag_items WHERE kind = " SHELF__KIND_PROJECT_SQL " AND item_id = old.id;\n"
    "  DELETE FROM ratings WHERE kind = " SHELF__KIND_PROJECT_SQL " AND item_id = old.id;\n"
    "  DELETE FROM favourites WHERE kind = " SHELF__KIND_PROJECT_SQL " AND item_id = old.id;\n"
    "END;\n",

    /* 2: full-text search over samples (name, path words, tags, category),
     * with 2- and 3-letter prefix indexes for type-ahead, kept current by triggers. */
    "CREATE VIRTUAL TABLE samples_fts USING fts5(\n"
    "  name, words, tags, category,\n"
    "  tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'\n"
    ");\n"
    "INSERT INTO samples_fts(samples_fts, rank) VALUES('rank', 'bm25(10.0, 2.0, 6.0, 4.0)');\n"
    "INSERT INTO samples_fts(rowid, name, words, tags, category)\n"
    "  SELECT s.id, s.name, r.path || '/' || s.relpath,\n"
    "    coalesce((SELECT group_concat(t.name, ' ') FROM tag_items ti JOIN tags t\n"
    "              ON t.id = ti.tag_id WHERE ti.kind = " SHELF__KIND_SAMPLE_SQL
    " AND ti.item_id = s.id), ''),\n"
    "    s.category\n"
    "  FROM samples s JOIN roots r ON r.id = s.root_id;\n"
    "CREATE TRIGGER samples_fts_ai AFTER INSERT ON samples BEGIN\n"
    "  INSERT INTO samples_fts(rowid, name, words, tags, category) VALUES(new.id, new.name,\n"
    "    (SELECT path FROM roots WHERE id = new.root_id) || '/' || new.relpath, '', new.category);\n"
    "END;\n"
    "CREATE TRIGGER samples_fts_au AFTER UPDATE OF name, root_id, relpath, category ON samples\n"
    "BEGIN\n"
    "  UPDATE samples_fts SET name = new.name,\n"
    "    words = (SELECT path FROM roots WHERE id = new.root_id) || '/' || new.relpath,\n"
    "    category = new.category WHERE rowid = new.id;\n"
    "END;\n"
    "CREATE TRIGGER samples_fts_ad AFTER DELETE ON samples BEGIN\n"
    "  DELETE FROM samples_fts WHERE rowid = old.id;\n"
    "END;\n"
    "CREATE TRIGGER tag_items_fts_ai AFTER INSERT ON tag_items WHEN new.kind = " SHELF__KIND_SAMPLE_SQL
    " BEGIN\n"
    "  UPDATE samples_fts SET tags = coalesce((SELECT group_concat(t.name, ' ')\n"
    "    FROM tag_items ti JOIN tags t ON t.id = ti.tag_id\n"
    "    WHERE ti.kind = " SHELF__KIND_SAMPLE_SQL
    " AND ti.item_id = new.item_id), '') WHERE rowid = new.item_id;\n"
    "END;\n"
    "CREATE TRIGGER tag_items_fts_ad AFTER DELETE ON tag_items WHEN old.kind = " SHELF__KIND_SAMPLE_SQL
    " BEGIN\n"
    "  UPDATE samples_fts SET tags = coalesce((SELECT group_concat(t.name, ' ')\n"
    "    FROM tag_items ti JOIN tags t ON t.id = ti.tag_id\n"
    "    WHERE ti.kind = " SHELF__KIND_SAMPLE_SQL
    " AND ti.item_id = old.item_id), '') WHERE rowid = old.item_id;\n"
    "END;\n",

    /* 3: metadata the files carry (RIFF INFO, BWF, Vorbis comments, kits),
     * decoded-audio hashes for duplicates, synonyms, collections; the
     * search index gains a column for the metadata. */
    "ALTER TABLE samples ADD COLUMN title TEXT;\n"
    "ALTER TABLE samples ADD COLUMN author TEXT;\n"
    "ALTER TABLE samples ADD COLUMN comment TEXT;\n"
    "ALTER TABLE samples ADD COLUMN genre TEXT;\n"
    "ALTER TABLE samples ADD COLUMN kit TEXT;\n"
    "ALTER TABLE samples ADD COLUMN instrument TEXT;\n"
    "ALTER TABLE samples ADD COLUMN audio_sha TEXT;\n"
    "CREATE INDEX samples_duration ON samples(duration);\n"
    "CREATE INDEX samples_created ON samples(created);\n"
    "CREATE INDEX samples_category ON samples(category);\n"
    "CREATE INDEX samples_author ON samples(author COLLATE NOCASE) WHERE author IS NOT NULL;\n"
    "CREATE TABLE synonyms(\n"
    "  word TEXT PRIMARY KEY,\n"
    "  grp INTEGER NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX synonyms_grp ON synonyms(grp);\n"
    "INSERT INTO synonyms(word, grp) VALUES\n"
    "  ('kick', 1), ('bd', 1), ('bassdrum', 1), ('kickdrum', 1),\n"
    "  ('snare', 2), ('sd', 2), ('snr', 2),\n"
    "  ('hat', 3), ('hh', 3), ('hihat', 3), ('hats', 3),\n"
    "  ('cymbal', 4), ('cym', 4),\n"
    "  ('percussion', 5), ('perc', 5),\n"
    "  ('vocal', 6), ('vox', 6), ('voice', 6),\n"
    "  ('fx', 7), ('sfx', 7), ('effect', 7),\n"
    "  ('clap', 8), ('cp', 8), ('handclap', 8),\n"
    "  ('tom', 9), ('toms', 9),\n"
    "  ('guitar', 10), ('gtr', 10),\n"
    "  ('piano', 11), ('pno', 11);\n"
    "CREATE TABLE collections(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  query TEXT,\n"
    "  created INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE collection_items(\n"
    "  collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,\n"
    "  sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,\n"
    "  position INTEGER NOT NULL,\n"
    "  PRIMARY KEY(collection_id, sample_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX collection_items_order ON collection_items(collection_id, position);\n"
    "CREATE INDEX collection_items_sample ON collection_items(sample_id);\n"
    "DROP TRIGGER samples_fts_ai;\n"
    "DROP TRIGGER samples_fts_au;\n"
    "DROP TRIGGER samples_fts_ad;\n"
    "DROP TRIGGER tag_items_fts_ai;\n"
    "DROP TRIGGER tag_items_fts_ad;\n"
    "DROP TABLE samples_fts;\n"
    "CREATE VIRTUAL TABLE samples_fts USING fts5(\n"
    "  name, words, tags, category, meta,\n"
    "  tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'\n"
    ");\n"
    "INSERT INTO samples_fts(samples_fts, rank) VALUES('rank', 'bm25(10.0, 2.0, 6.0, 4.0, 3.0)');\n"
    "INSERT INTO samples_fts(rowid, name, words, tags, category, meta)\n"
    "  SELECT s.id, s.name, r.path || '/' || s.relpath,\n"
    "    coalesce((SELECT group_concat(t.name, ' ') FROM tag_items ti JOIN tags t\n"
    "              ON t.id = ti.tag_id WHERE ti.kind = " SHELF__KIND_SAMPLE_SQL
    " AND ti.item_id = s.id), ''),\n"
    "    s.category, ''\n"
    "  FROM samples s JOIN roots r ON r.id = s.root_id;\n"
    "CREATE TRIGGER samples_fts_ai AFTER INSERT ON samples BEGIN\n"
    "  INSERT INTO samples_fts(rowid, name, words, tags, category, meta) VALUES(new.id, new.name,\n"
    "    (SELECT path FROM roots WHERE id = new.root_id) || '/' || new.relpath, '', new.category,\n"
    "    coalesce(new.title, '') || ' ' || coalesce(new.author, '') || ' ' ||\n"
    "    coalesce(new.comment, '') || ' ' || coalesce(new.genre, '') || ' ' ||\n"
    "    coalesce(new.kit, '') || ' ' || coalesce(new.instrument, ''));\n"
    "END;\n"
    "CREATE TRIGGER samples_fts_au AFTER UPDATE OF name, root_id, relpath, category, title,\n"
    "  author, comment, genre, kit, instrument ON samples\n"
    "BEGIN\n"
    "  UPDATE samples_fts SET name = new.name,\n"
    "    words = (SELECT path FROM roots WHERE id = new.root_id) || '/' || new.relpath,\n"
    "    category = new.category,\n"
    "    meta = coalesce(new.title, '') || ' ' || coalesce(new.author, '') || ' ' ||\n"
    "    coalesce(new.comment, '') || ' ' || coalesce(new.genre, '') || ' ' ||\n"
    "    coalesce(new.kit, '') || ' ' || coalesce(new.instrument, '')\n"
    "  WHERE rowid = new.id;\n"
    "END;\n"
    "CREATE TRIGGER samples_fts_ad AFTER DELETE ON samples BEGIN\n"
    "  DELETE FROM samples_fts WHERE rowid = old.id;\n"
    "END;\n"
    "CREATE TRIGGER tag_items_fts_ai AFTER INSERT ON tag_items WHEN new.kind = " SHELF__KIND_SAMPLE_SQL
    " BEGIN\n"
    "  UPDATE samples_fts SET tags = coalesce((SELECT group_concat(t.name, ' ')\n"
    "    FROM tag_items ti JOIN tags t ON t.id = ti.tag_id\n"
    "    WHERE ti.kind = " SHELF__KIND_SAMPLE_SQL
    " AND ti.item_id = new.item_id), '') WHERE rowid = new.item_id;\n"
    "END;\n"
    "CREATE TRIGGER tag_items_fts_ad AFTER DELETE ON tag_items WHEN old.kind = " SHELF__KIND_SAMPLE_SQL
    " BEGIN\n"
    "  UPDATE samples_fts SET tags = coalesce((SELECT group_concat(t.name, ' ')\n"
    "    FROM tag_items ti JOIN tags t ON t.id = ti.tag_id\n"
    "    WHERE ti.kind = " SHELF__KIND_SAMPLE_SQL
    " AND ti.item_id = old.item_id), '') WHERE rowid = old.item_id;\n"
    "END;\n",

    /* 4: documents.  Every version of a patch or project, stored whole or
     * as a delta against an earlier version; the item rows mirror the head.
     * The audit log of restores and merges. */
    "CREATE TABLE doc_versions(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  kind INTEGER NOT NULL,\n"
    "  item_id INTEGER NOT NULL,\n"
    "  seq INTEGER NOT NULL,\n"
    "  hash TEXT NOT NULL,\n"
    "  parent INTEGER,\n"
    "  parent2 INTEGER,\n"
    "  time INTEGER NOT NULL,\n"
    "  device TEXT NOT NULL,\n"
    "  message TEXT NOT NULL DEFAULT '',\n"
    "  undoes INTEGER,\n"
    "  base INTEGER,\n"
    "  depth INTEGER NOT NULL DEFAULT 0,\n"
    "  data BLOB NOT NULL,\n"
    "  UNIQUE(kind, item_id, seq)\n"
    ");\n"
    "CREATE INDEX doc_versions_hash ON doc_versions(hash);\n"
    "ALTER TABLE patches ADD COLUMN comment TEXT;\n"
    "ALTER TABLE projects ADD COLUMN version INTEGER NOT NULL DEFAULT 1;\n"
    "ALTER TABLE projects ADD COLUMN comment TEXT;\n"
    "CREATE TRIGGER patches_versions_ad AFTER DELETE ON patches BEGIN\n"
    "  DELETE FROM doc_versions WHERE kind = " SHELF__KIND_PATCH_SQL " AND item_id = old.id;\n"
    "END;\n"
    "CREATE TRIGGER projects_versions_ad AFTER DELETE ON projects BEGIN\n"
    "  DELETE FROM doc_versions WHERE kind = " SHELF__KIND_PROJECT_SQL " AND item_id = old.id;\n"
    "END;\n"
    "CREATE TABLE audit_log(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  time INTEGER NOT NULL,\n"
    "  action TEXT NOT NULL,\n"
    "  kind INTEGER,\n"
    "  item_id INTEGER,\n"
    "  detail TEXT NOT NULL DEFAULT ''\n"
    ");\n",

    /* 5: the devices this one is paired with (lib/sync/devices.c,
     * doc/sync.md).  A removed device keeps its row, revoked, so it stays
     * refused. */
    "CREATE TABLE devices(\n"
    "  id TEXT PRIMARY KEY,\n"
    "  name TEXT NOT NULL,\n"
    "  added INTEGER NOT NULL,\n"
    "  revoked INTEGER,\n"
    "  addresses TEXT NOT NULL DEFAULT '[]',\n"
    "  last_seen INTEGER\n"
    ") WITHOUT ROWID;\n",
};

int shelf__schema_migrate(shelf_library *lib, int target)
{
    sqlite3_stmt *st;
    char set[64];
    int v, rc;

    if (target > (int)(sizeof migrations / sizeof migrations[0]))
        return shelf__seterr(&lib->err, SHELF_EINVAL, "no schema version %d", target);
    /* A writer transaction from the start, so two processes opening a new
     * library at once do not both migrate it. */
    if ((rc = shelf__begin(lib)) != SHELF_OK)
        return rc;
    if (!(st = shelf__prepare(lib, "PRAGMA user_version"))) {
        rc = lib->err.rc;
        goto fail;
    }
    v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (v > SHELF__SCHEMA_VERSION) {
        rc = shelf__seterr(&lib->err, SHELF_EVERSION,
                           "catalog of '%s' has schema %d; this shelf reads up to %d",
                           lib->path, v, SHELF__SCHEMA_VERSION);
        goto fail;
    }
    for (; v < target; v++)
        if (sqlite3_exec(lib->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
            char what[64];

            snprintf(what, sizeof what, "schema migration %d", v + 1);
            rc = shelf__dberr(lib, what);
            goto fail;
        }
    snprintf(set, sizeof set, "PRAGMA user_version=%d", v);
    if ((rc = shelf__exec(lib, set)) != SHELF_OK)
        goto fail;
    return shelf__commit(lib);
fail:
    shelf__rollback(lib);
    return rc;
}
