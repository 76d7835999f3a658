/*
 * schema.c: the catalog schema as a list of migrations.  Migration N takes
 * a catalog from user_version N-1 to N; a migration, once released, never
 * changes (tests/data/schema-v1.sql is a catalog of version 1 that the
 * newest code must open).  New columns are added by new migrations with
 * defaults, so old libraries keep working.  See doc/formats.md.
 */
#include <stdio.h>
#include <string.h>
#include "catalog_int.h"

/* The wall clock in Unix milliseconds, inside SQL (no application
 * function, so the sqlite3 shell can still write a catalog). */
#define NOW_MS "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"

/* The name across devices of the item (kind, id) of the tag, rating and
 * favourite tables, NULL when it has none (doc/formats.md, "Migration 6"):
 * a sample by its bytes, a document by its first version. */
#define ITEM_SQL(kind, id) \
    "CASE " kind " WHEN " SHELF__KIND_SAMPLE_SQL " THEN (SELECT 's:' || sha256 FROM samples " \
    "WHERE id = " id ") WHEN " SHELF__KIND_PATCH_SQL " THEN (SELECT 'p:' || hash FROM " \
    "doc_versions WHERE kind = " SHELF__KIND_PATCH_SQL " AND item_id = " id " ORDER BY seq " \
    "LIMIT 1) WHEN " SHELF__KIND_PROJECT_SQL " THEN (SELECT 'j:' || hash FROM doc_versions " \
    "WHERE kind = " SHELF__KIND_PROJECT_SQL " AND item_id = " id " ORDER BY seq LIMIT 1) END"

/* samples_fts as migration 3 made it (five columns, their bm25 weights);
 * migration 15 makes it again. */
#define SAMPLES_FTS_TABLE                                                                     \
    "CREATE VIRTUAL TABLE samples_fts USING fts5(\n"                                          \
    "  name, words, tags, category, meta,\n"                                                  \
    "  tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3'\n"                          \
    ");\n"                                                                                    \
    "INSERT INTO samples_fts(samples_fts, rank) VALUES('rank', 'bm25(10.0, 2.0, 6.0, 4.0, 3.0)');\n"

/* samples_fts.tags of the sample with id (an SQL expression). */
#define FTS_TAGS(id)                                                                          \
    "coalesce((SELECT group_concat(t.name, ' ') FROM tag_items ti JOIN tags t\n"              \
    "              ON t.id = ti.tag_id WHERE ti.kind = " SHELF__KIND_SAMPLE_SQL                 \
    " AND ti.item_id = " id "), '')"

/* samples_fts.meta of the samples row r ("new", "s"). */
#define FTS_META(r)                                                                           \
    "coalesce(" r ".title, '') || ' ' || coalesce(" r ".author, '') || ' ' ||\n"             \
    "    coalesce(" r ".comment, '') || ' ' || coalesce(" r ".genre, '') || ' ' ||\n"        \
    "    coalesce(" r ".kit, '') || ' ' || coalesce(" r ".instrument, '')"

/* Migration 15's refill of samples_fts, samples with ids in (?1, ?2]. */
#define FTS15_FILL                                                                            \
    "INSERT INTO samples_fts(rowid, name, words, tags, category, meta)\n"                     \
    "  SELECT s.id, s.name, s.relpath,\n"                                                     \
    "    " FTS_TAGS("s.id") ",\n"                                                             \
    "    s.category,\n"                                                                       \
    "    " FTS_META("s") "\n"                                                                 \
    "  FROM samples s WHERE s.id > ?1 AND s.id <= ?2"

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
    "    " FTS_TAGS("s.id") ",\n"
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
    SAMPLES_FTS_TABLE
    "INSERT INTO samples_fts(rowid, name, words, tags, category, meta)\n"
    "  SELECT s.id, s.name, r.path || '/' || s.relpath,\n"
    "    " FTS_TAGS("s.id") ",\n"
    "    s.category, ''\n"
    "  FROM samples s JOIN roots r ON r.id = s.root_id;\n"
    "CREATE TRIGGER samples_fts_ai AFTER INSERT ON samples BEGIN\n"
    "  INSERT INTO samples_fts(rowid, name, words, tags, category, meta) VALUES(new.id, new.name,\n"
    "    (SELECT path FROM roots WHERE id = new.root_id) || '/' || new.relpath, '', new.category,\n"
    "    " FTS_META("new") ");\n"
    "END;\n"
    "CREATE TRIGGER samples_fts_au AFTER UPDATE OF name, root_id, relpath, category, title,\n"
    "  author, comment, genre, kit, instrument ON samples\n"
    "BEGIN\n"
    "  UPDATE samples_fts SET name = new.name,\n"
    "    words = (SELECT path FROM roots WHERE id = new.root_id) || '/' || new.relpath,\n"
    "    category = new.category,\n"
    "    meta = " FTS_META("new") "\n"
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

    /* 6: the change log (lib/sync/changelog.c, doc/sync.md).  Triggers put
     * every change to what syncs into change_queue, in the change's own
     * transaction, naming items across devices (never by rowid); the sync
     * code turns the queue into numbered, clocked records in changes.
     * The queue starts with what the library already holds. */
    "CREATE TABLE change_queue(\n"
    "  seq INTEGER PRIMARY KEY,\n"
    "  ms INTEGER NOT NULL,\n"
    "  item TEXT NOT NULL,\n"
    "  field TEXT NOT NULL,\n"
    "  value TEXT,\n"
    "  row INTEGER\n"
    ");\n"
    "CREATE TABLE changes(\n"
    "  device TEXT NOT NULL,\n"
    "  counter INTEGER NOT NULL,\n"
    "  hlc INTEGER NOT NULL,\n"
    "  item TEXT NOT NULL,\n"
    "  field TEXT NOT NULL,\n"
    "  value TEXT,\n"
    "  PRIMARY KEY(device, counter)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX changes_item ON changes(item, field);\n"
    "CREATE TABLE sync_vector(\n"
    "  device TEXT PRIMARY KEY,\n"
    "  counter INTEGER NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "CREATE TRIGGER changes_vector_ai AFTER INSERT ON changes BEGIN\n"
    "  INSERT INTO sync_vector(device, counter) VALUES(new.device, new.counter)\n"
    "    ON CONFLICT(device) DO UPDATE SET counter = max(counter, excluded.counter);\n"
    "END;\n"
    "CREATE TABLE sync_state(\n"
    "  item TEXT NOT NULL,\n"
    "  field TEXT NOT NULL,\n"
    "  hlc INTEGER NOT NULL,\n"
    "  device TEXT NOT NULL,\n"
    "  value TEXT,\n"
    "  PRIMARY KEY(item, field)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE sync_clock(\n"
    "  id INTEGER PRIMARY KEY CHECK(id = 1),\n"
    "  hlc INTEGER NOT NULL\n"
    ");\n"
    "INSERT INTO sync_clock(id, hlc) VALUES(1, 0);\n"
    "CREATE TRIGGER samples_sync_ai AFTER INSERT ON samples BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, row) VALUES(" NOW_MS ", 's:' || new.sha256, '.',\n"
    "    new.id);\n"
    "END;\n"
    "CREATE TRIGGER samples_sync_ad AFTER DELETE ON samples\n"
    "  WHEN NOT EXISTS (SELECT 1 FROM samples WHERE sha256 = old.sha256) BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, value) VALUES(" NOW_MS ", 's:' || old.sha256, '.',\n"
    "    'null');\n"
    "END;\n"
    "CREATE TRIGGER samples_sync_sha AFTER UPDATE OF sha256 ON samples\n"
    "  WHEN old.sha256 IS NOT new.sha256 BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", 's:' || old.sha256, '.',\n"
    "    'null' WHERE NOT EXISTS (SELECT 1 FROM samples WHERE sha256 = old.sha256);\n"
    "  INSERT INTO change_queue(ms, item, field, row) VALUES(" NOW_MS ", 's:' || new.sha256, '.',\n"
    "    new.id);\n"
    "END;\n"
    "CREATE TRIGGER samples_sync_au AFTER UPDATE OF name, category, title, author, comment, genre, kit\n"
    "  , instrument, tempo, root_key, loop_start, loop_end, loop_mode ON samples\n"
    "  WHEN old.sha256 IS new.sha256 BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", 's:' || new.sha256,\n"
    "    'name', json_quote(new.name) WHERE old.name IS NOT new.name;\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", 's:' || new.sha256,\n"
    "    'category', json_quote(new.category) WHERE old.category IS NOT new.category;\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", 's:' || new.sha256,\n"
    "    'title', json_quote(new.title) WHERE old.title IS NOT new.title;\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", 's:' || new.sha256,\n"
    "    'author', json_quote(new.author) WHERE old.author IS NOT new.author;\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", 's:' || new.sha256,\n"
    "    'comment', json_quote(new.comment) WHERE old.comment IS NOT new.comment;\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", 's:' || new.sha256,\n"
    "    'genre', json_quote(new.genre) WHERE old.genre IS NOT new.genre;\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", 's:' || new.sha256,\n"
    "    'kit', json_quote(new.kit) WHERE old.kit IS NOT new.kit;\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", 's:' || new.sha256,\n"
    "    'instrument', json_quote(new.instrument) WHERE old.instrument IS NOT new.instrument;\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", 's:' || new.sha256,\n"
    "    'tempo', json_quote(new.tempo) WHERE old.tempo IS NOT new.tempo;\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", 's:' || new.sha256,\n"
    "    'root_key', json_quote(new.root_key) WHERE old.root_key IS NOT new.root_key;\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", 's:' || new.sha256,\n"
    "    'loop_start', json_quote(new.loop_start) WHERE old.loop_start IS NOT new.loop_start;\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", 's:' || new.sha256,\n"
    "    'loop_end', json_quote(new.loop_end) WHERE old.loop_end IS NOT new.loop_end;\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", 's:' || new.sha256,\n"
    "    'loop_mode', json_quote(new.loop_mode) WHERE old.loop_mode IS NOT new.loop_mode;\n"
    "END;\n"
    "CREATE TRIGGER tag_items_sync_ai AFTER INSERT ON tag_items BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", i, f, 'true' FROM\n"
    "    (SELECT " ITEM_SQL("new.kind", "new.item_id") " AS i,\n"
    "            'tag:' || (SELECT name FROM tags WHERE id = new.tag_id) AS f)\n"
    "    WHERE i IS NOT NULL AND f IS NOT NULL;\n"
    "END;\n"
    "CREATE TRIGGER tag_items_sync_ad AFTER DELETE ON tag_items BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", i, f, 'null' FROM\n"
    "    (SELECT " ITEM_SQL("old.kind", "old.item_id") " AS i,\n"
    "            'tag:' || (SELECT name FROM tags WHERE id = old.tag_id) AS f)\n"
    "    WHERE i IS NOT NULL AND f IS NOT NULL;\n"
    "END;\n"
    "CREATE TRIGGER ratings_sync_ai AFTER INSERT ON ratings BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", i, 'rating',\n"
    "    json_quote(new.rating) FROM (SELECT " ITEM_SQL("new.kind", "new.item_id") " AS i)\n"
    "    WHERE i IS NOT NULL;\n"
    "END;\n"
    "CREATE TRIGGER ratings_sync_au AFTER UPDATE ON ratings BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", i, 'rating',\n"
    "    json_quote(new.rating) FROM (SELECT " ITEM_SQL("new.kind", "new.item_id") " AS i)\n"
    "    WHERE i IS NOT NULL;\n"
    "END;\n"
    "CREATE TRIGGER ratings_sync_ad AFTER DELETE ON ratings BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", i, 'rating', 'null'\n"
    "    FROM (SELECT " ITEM_SQL("old.kind", "old.item_id") " AS i) WHERE i IS NOT NULL;\n"
    "END;\n"
    "CREATE TRIGGER favourites_sync_ai AFTER INSERT ON favourites BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", i, 'favourite', 'true'\n"
    "    FROM (SELECT " ITEM_SQL("new.kind", "new.item_id") " AS i) WHERE i IS NOT NULL;\n"
    "END;\n"
    "CREATE TRIGGER favourites_sync_ad AFTER DELETE ON favourites BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", i, 'favourite', 'null'\n"
    "    FROM (SELECT " ITEM_SQL("old.kind", "old.item_id") " AS i) WHERE i IS NOT NULL;\n"
    "END;\n"
    "CREATE TRIGGER collections_sync_ai AFTER INSERT ON collections BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, value) VALUES(" NOW_MS ", 'c:' || new.name, '.',\n"
    "    json_object('query', new.query));\n"
    "END;\n"
    "CREATE TRIGGER collections_sync_au AFTER UPDATE OF name, query ON collections BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", 'c:' || old.name, '.',\n"
    "    'null' WHERE old.name IS NOT new.name;\n"
    "  INSERT INTO change_queue(ms, item, field, value) VALUES(" NOW_MS ", 'c:' || new.name, '.',\n"
    "    json_object('query', new.query));\n"
    "END;\n"
    "CREATE TRIGGER collections_sync_ad AFTER DELETE ON collections BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, value) VALUES(" NOW_MS ", 'c:' || old.name, '.',\n"
    "    'null');\n"
    "END;\n"
    "CREATE TRIGGER collection_items_sync_ai AFTER INSERT ON collection_items BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", c, 'has:' || s, 'true'\n"
    "    FROM (SELECT 'c:' || (SELECT name FROM collections WHERE id = new.collection_id) AS c,\n"
    "                 (SELECT 's:' || sha256 FROM samples WHERE id = new.sample_id) AS s)\n"
    "    WHERE c IS NOT NULL AND s IS NOT NULL;\n"
    "END;\n"
    "CREATE TRIGGER collection_items_sync_ad AFTER DELETE ON collection_items BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, value) SELECT " NOW_MS ", c, 'has:' || s, 'null'\n"
    "    FROM (SELECT 'c:' || (SELECT name FROM collections WHERE id = old.collection_id) AS c,\n"
    "                 (SELECT 's:' || sha256 FROM samples WHERE id = old.sample_id) AS s)\n"
    "    WHERE c IS NOT NULL AND s IS NOT NULL;\n"
    "END;\n"
    /* what the library holds already: its samples (each record carries the
     * sample's tags, rating and favourite), the user metadata of documents,
     * its collections */
    "INSERT INTO change_queue(ms, item, field, row)\n"
    "  SELECT created * 1000, 's:' || sha256, '.', id FROM samples ORDER BY id;\n"
    "INSERT INTO change_queue(ms, item, field, value)\n"
    "  SELECT " NOW_MS ", i, f, 'true' FROM (SELECT " ITEM_SQL("ti.kind", "ti.item_id") " AS i,\n"
    "    'tag:' || t.name AS f FROM tag_items ti JOIN tags t ON t.id = ti.tag_id\n"
    "    WHERE ti.kind != " SHELF__KIND_SAMPLE_SQL ") WHERE i IS NOT NULL;\n"
    "INSERT INTO change_queue(ms, item, field, value)\n"
    "  SELECT " NOW_MS ", i, 'rating', r FROM (SELECT " ITEM_SQL("kind", "item_id") " AS i,\n"
    "    json_quote(rating) AS r FROM ratings WHERE kind != " SHELF__KIND_SAMPLE_SQL ")\n"
    "    WHERE i IS NOT NULL;\n"
    "INSERT INTO change_queue(ms, item, field, value)\n"
    "  SELECT " NOW_MS ", i, 'favourite', 'true' FROM (SELECT " ITEM_SQL("kind", "item_id") " AS i\n"
    "    FROM favourites WHERE kind != " SHELF__KIND_SAMPLE_SQL ") WHERE i IS NOT NULL;\n"
    "INSERT INTO change_queue(ms, item, field, value)\n"
    "  SELECT created * 1000, 'c:' || name, '.', json_object('query', query) FROM collections;\n"
    "INSERT INTO change_queue(ms, item, field, value)\n"
    "  SELECT " NOW_MS ", 'c:' || c.name, 'has:s:' || s.sha256, 'true' FROM collection_items ci\n"
    "    JOIN collections c ON c.id = ci.collection_id JOIN samples s ON s.id = ci.sample_id\n"
    "    ORDER BY ci.collection_id, ci.position;\n",

    /* 7: what sync through a hub and invitations keep (lib/sync/libkey.c,
     * hub.c, invite.c; doc/sync.md).  The library key seals what goes to
     * a hub; a new generation is made when a device is revoked.  An
     * invitation is kept by the hash of its secret until used or expired. */
    "CREATE TABLE sync_keys(\n"
    "  gen INTEGER PRIMARY KEY,\n"
    "  key BLOB NOT NULL,\n"
    "  created INTEGER NOT NULL,\n"
    "  made_here INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE TABLE sync_hubs(\n"
    "  target TEXT PRIMARY KEY,\n"
    "  pushed INTEGER NOT NULL DEFAULT 0,\n"
    "  last_push INTEGER,\n"
    "  last_pull INTEGER,\n"
    "  last_error TEXT\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE invitations(\n"
    "  secret TEXT PRIMARY KEY,\n"
    "  name TEXT,\n"
    "  created INTEGER NOT NULL,\n"
    "  expires INTEGER NOT NULL,\n"
    "  used INTEGER,\n"
    "  used_by TEXT\n"
    ") WITHOUT ROWID;\n",

    /* 8: document histories sync (lib/sync/docs.c, doc/sync.md).  Each
     * version gets a version id across devices (vid: from its content and
     * its parents' ids, filled when it is logged); a new version is queued
     * as field 'v' with its row (the drain makes the record); documents
     * whose heads could not be merged are listed in doc_conflicts.  The
     * queue starts with every version held, parents first. */
    "ALTER TABLE doc_versions ADD COLUMN vid TEXT;\n"
    "CREATE INDEX doc_versions_vid ON doc_versions(vid);\n"
    "CREATE TABLE doc_conflicts(\n"
    "  kind INTEGER NOT NULL,\n"
    "  item_id INTEGER NOT NULL,\n"
    "  since INTEGER NOT NULL,\n"
    "  PRIMARY KEY(kind, item_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TRIGGER doc_versions_sync_ai AFTER INSERT ON doc_versions BEGIN\n"
    "  INSERT INTO change_queue(ms, item, field, row) SELECT " NOW_MS ",\n"
    "    iif(new.kind = " SHELF__KIND_PATCH_SQL ", 'p:', 'j:') || hash, 'v', new.id\n"
    "    FROM doc_versions WHERE kind = new.kind AND item_id = new.item_id ORDER BY seq LIMIT 1;\n"
    "END;\n"
    "CREATE TRIGGER patches_conflicts_ad AFTER DELETE ON patches BEGIN\n"
    "  DELETE FROM doc_conflicts WHERE kind = " SHELF__KIND_PATCH_SQL " AND item_id = old.id;\n"
    "END;\n"
    "CREATE TRIGGER projects_conflicts_ad AFTER DELETE ON projects BEGIN\n"
    "  DELETE FROM doc_conflicts WHERE kind = " SHELF__KIND_PROJECT_SQL " AND item_id = old.id;\n"
    "END;\n"
    "INSERT INTO change_queue(ms, item, field, row)\n"
    "  SELECT d.time * 1000, " ITEM_SQL("d.kind", "d.item_id") ", 'v', d.id FROM doc_versions d\n"
    "    WHERE d.kind IN (" SHELF__KIND_PATCH_SQL ", " SHELF__KIND_PROJECT_SQL ")\n"
    "    ORDER BY d.kind, d.item_id, d.seq;\n",

    /* 9: the signing keys the user trusts (lib/sync/keys.c, shelf keys
     * trust; doc/formats.md, "Archive signature").  key: the Ed25519 public
     * key as base64; a revoked key keeps its row so it reads as revoked.
     * Local to this library: not in the change log. */
    "CREATE TABLE trusted_keys(\n"
    "  key TEXT PRIMARY KEY,\n"
    "  name TEXT NOT NULL,\n"
    "  device TEXT NOT NULL DEFAULT '',\n"
    "  added INTEGER NOT NULL,\n"
    "  revoked INTEGER\n"
    ") WITHOUT ROWID;\n",

    /* 10: purge (lib/catalog/purge.c, lib/sync/purge.c; doc/design.md,
     * "Purge").  The records a purge emptied, in the order it emptied
     * them, so each hub's segments that still hold them are rewritten
     * (sync_hubs.emptied: the last id a push to that hub has handled). */
    "CREATE TABLE sync_emptied(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  device TEXT NOT NULL,\n"
    "  counter INTEGER NOT NULL\n"
    ");\n"
    "ALTER TABLE sync_hubs ADD COLUMN emptied INTEGER NOT NULL DEFAULT 0;\n",

    /* 11: schedules (lib/service/schedule.c; doc/service.md, "Schedules").
     * A schedule says what runs (kind, target, options) and when (spec);
     * state is what the schedule carries from run to run (the next slice
     * of a check).  Each run is a row of schedule_runs, written at its
     * start with no end: a row without an end whose schedule lock is free
     * is a run that was killed (kind and name are kept for the log). */
    "CREATE TABLE schedules(\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  name TEXT NOT NULL UNIQUE,\n"
    "  kind TEXT NOT NULL,\n"
    "  spec TEXT NOT NULL,\n"
    "  target TEXT NOT NULL,\n"
    "  options TEXT NOT NULL DEFAULT '{}',\n"
    "  state TEXT NOT NULL DEFAULT '{}',\n"
    "  paused INTEGER NOT NULL DEFAULT 0,\n"
    "  created INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE schedule_runs(\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  schedule INTEGER NOT NULL,\n"
    "  started INTEGER NOT NULL,\n"
    "  ended INTEGER,\n"
    "  status TEXT NOT NULL,\n"
    "  rc INTEGER NOT NULL DEFAULT 0,\n"
    "  message TEXT,\n"
    "  detail TEXT NOT NULL DEFAULT '{}',\n"
    "  pid INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE INDEX schedule_runs_by_schedule ON schedule_runs(schedule, id);\n",

    /* 12: projects archived to a target (lib/archive/project.c; doc/design.md,
     * "Auto-archive").  project_archives: one row per project being or
     * archived, its step (state) so a killed run is finished by the next.
     * archived_samples: the samples each archive holds, with the SHA-256 it
     * holds them at; freed 1 when this archive freed the local copy (the
     * sample's missing is then 2, "archived").  Local to the library: not
     * in the change log. */
    "CREATE TABLE project_archives(\n"
    "  project_id INTEGER PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,\n"
    "  state TEXT NOT NULL,\n"
    "  target TEXT NOT NULL,\n"
    "  name TEXT NOT NULL,\n"
    "  started INTEGER NOT NULL,\n"
    "  archived INTEGER,\n"
    "  bytes INTEGER NOT NULL DEFAULT 0,\n"
    "  sha256 TEXT,\n"
    "  samples INTEGER NOT NULL DEFAULT 0,\n"
    "  freed_bytes INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "CREATE TABLE archived_samples(\n"
    "  project_id INTEGER NOT NULL REFERENCES project_archives(project_id) ON DELETE CASCADE,\n"
    "  sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,\n"
    "  sha256 TEXT NOT NULL,\n"
    "  freed INTEGER NOT NULL DEFAULT 0,\n"
    "  PRIMARY KEY(project_id, sample_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX archived_samples_sample ON archived_samples(sample_id);\n",

    /* 13: set lists (lib/archive/setlist.c; doc/streaming.md, "Set
     * lists"): an ordered list of projects and patches for a gig.  An item
     * removed from the catalog leaves its set lists by the triggers.  Local
     * to the library: not in the change log. */
    "CREATE TABLE setlists(\n"
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "  name TEXT NOT NULL UNIQUE COLLATE NOCASE,\n"
    "  created INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE setlist_items(\n"
    "  setlist_id INTEGER NOT NULL REFERENCES setlists(id) ON DELETE CASCADE,\n"
    "  position INTEGER NOT NULL,\n"
    "  kind INTEGER NOT NULL,\n"
    "  item_id INTEGER NOT NULL,\n"
    "  PRIMARY KEY(setlist_id, position)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX setlist_items_item ON setlist_items(kind, item_id);\n"
    "CREATE TRIGGER patches_setlists_ad AFTER DELETE ON patches BEGIN\n"
    "  DELETE FROM setlist_items WHERE kind = " SHELF__KIND_PATCH_SQL " AND item_id = old.id;\n"
    "END;\n"
    "CREATE TRIGGER projects_setlists_ad AFTER DELETE ON projects BEGIN\n"
    "  DELETE FROM setlist_items WHERE kind = " SHELF__KIND_PROJECT_SQL " AND item_id = old.id;\n"
    "END;\n",

    /* 14: the index log (lib/catalog/memindex.c; doc/design.md, "How the
     * index stays current").  Triggers name every sample whose indexed
     * fields, tags, rating or favourite change, in the change's own
     * transaction, whichever process makes it; a preloaded index replays
     * the rows after the last one it saw.  sample_id 0: something that is
     * not one sample's changed (synonyms, a root's path), so rebuild.
     * Every 1024th row trims the log to its last 65,536. */
    "CREATE TABLE index_log(\n"
    "  seq INTEGER PRIMARY KEY,\n"
    "  sample_id INTEGER NOT NULL\n"
    ");\n"
    "CREATE TRIGGER index_log_trim AFTER INSERT ON index_log WHEN new.seq % 1024 = 0 BEGIN\n"
    "  DELETE FROM index_log WHERE seq <= new.seq - 65536;\n"
    "END;\n"
    "CREATE TRIGGER samples_index_ai AFTER INSERT ON samples BEGIN\n"
    "  INSERT INTO index_log(sample_id) VALUES(new.id);\n"
    "END;\n"
    "CREATE TRIGGER samples_index_ad AFTER DELETE ON samples BEGIN\n"
    "  INSERT INTO index_log(sample_id) VALUES(old.id);\n"
    "END;\n"
    "CREATE TRIGGER samples_index_au AFTER UPDATE ON samples\n"
    "  WHEN old.name IS NOT new.name OR old.root_id IS NOT new.root_id OR\n"
    "    old.relpath IS NOT new.relpath OR old.category IS NOT new.category OR\n"
    "    old.title IS NOT new.title OR old.author IS NOT new.author OR\n"
    "    old.comment IS NOT new.comment OR old.genre IS NOT new.genre OR\n"
    "    old.kit IS NOT new.kit OR old.instrument IS NOT new.instrument OR\n"
    "    old.rate IS NOT new.rate OR old.channels IS NOT new.channels OR\n"
    "    old.bits IS NOT new.bits OR old.root_key IS NOT new.root_key OR\n"
    "    old.tempo IS NOT new.tempo OR old.duration IS NOT new.duration OR\n"
    "    old.missing IS NOT new.missing OR old.loop_start IS NOT new.loop_start OR\n"
    "    old.created IS NOT new.created OR old.last_used IS NOT new.last_used OR\n"
    "    old.format IS NOT new.format OR old.subtype IS NOT new.subtype\n"
    "  BEGIN\n"
    "  INSERT INTO index_log(sample_id) VALUES(new.id);\n"
    "END;\n"
    "CREATE TRIGGER tag_items_index_ai AFTER INSERT ON tag_items WHEN new.kind = "
    SHELF__KIND_SAMPLE_SQL " BEGIN\n"
    "  INSERT INTO index_log(sample_id) VALUES(new.item_id);\n"
    "END;\n"
    "CREATE TRIGGER tag_items_index_ad AFTER DELETE ON tag_items WHEN old.kind = "
    SHELF__KIND_SAMPLE_SQL " BEGIN\n"
    "  INSERT INTO index_log(sample_id) VALUES(old.item_id);\n"
    "END;\n"
    "CREATE TRIGGER tags_index_au AFTER UPDATE OF name ON tags BEGIN\n"
    "  INSERT INTO index_log(sample_id) SELECT item_id FROM tag_items\n"
    "    WHERE tag_id = new.id AND kind = " SHELF__KIND_SAMPLE_SQL ";\n"
    "END;\n"
    "CREATE TRIGGER ratings_index_ai AFTER INSERT ON ratings WHEN new.kind = "
    SHELF__KIND_SAMPLE_SQL " BEGIN\n"
    "  INSERT INTO index_log(sample_id) VALUES(new.item_id);\n"
    "END;\n"
    "CREATE TRIGGER ratings_index_au AFTER UPDATE ON ratings WHEN new.kind = "
    SHELF__KIND_SAMPLE_SQL " BEGIN\n"
    "  INSERT INTO index_log(sample_id) VALUES(new.item_id);\n"
    "END;\n"
    "CREATE TRIGGER ratings_index_ad AFTER DELETE ON ratings WHEN old.kind = "
    SHELF__KIND_SAMPLE_SQL " BEGIN\n"
    "  INSERT INTO index_log(sample_id) VALUES(old.item_id);\n"
    "END;\n"
    "CREATE TRIGGER favourites_index_ai AFTER INSERT ON favourites WHEN new.kind = "
    SHELF__KIND_SAMPLE_SQL " BEGIN\n"
    "  INSERT INTO index_log(sample_id) VALUES(new.item_id);\n"
    "END;\n"
    "CREATE TRIGGER favourites_index_ad AFTER DELETE ON favourites WHEN old.kind = "
    SHELF__KIND_SAMPLE_SQL " BEGIN\n"
    "  INSERT INTO index_log(sample_id) VALUES(old.item_id);\n"
    "END;\n"
    "CREATE TRIGGER roots_index_au AFTER UPDATE OF path ON roots BEGIN\n"
    "  INSERT INTO index_log(sample_id) VALUES(0);\n"
    "END;\n"
    "CREATE TRIGGER synonyms_index_ai AFTER INSERT ON synonyms BEGIN\n"
    "  INSERT INTO index_log(sample_id) VALUES(0);\n"
    "END;\n"
    "CREATE TRIGGER synonyms_index_au AFTER UPDATE ON synonyms BEGIN\n"
    "  INSERT INTO index_log(sample_id) VALUES(0);\n"
    "END;\n"
    "CREATE TRIGGER synonyms_index_ad AFTER DELETE ON synonyms BEGIN\n"
    "  INSERT INTO index_log(sample_id) VALUES(0);\n"
    "END;\n",

    /* 15: the words of a sample's path are those of its path under its
     * root, not of where the root lives: "home", "usr" or "samples" must
     * not find a whole library kept in /home/user/Samples.  samples_fts
     * is made again (FTS5 has no cheaper way to change a column; the
     * triggers of tag_items and the delete trigger name it and stay), and
     * the in-memory index is rebuilt (index_log 0). */
    "DROP TRIGGER samples_fts_ai;\n"
    "DROP TRIGGER samples_fts_au;\n"
    "DROP TABLE samples_fts;\n"
    SAMPLES_FTS_TABLE
    /* then FTS15_FILL for every sample, in batches (fill_fts) */
    "CREATE TRIGGER samples_fts_ai AFTER INSERT ON samples BEGIN\n"
    "  INSERT INTO samples_fts(rowid, name, words, tags, category, meta) VALUES(new.id, new.name,\n"
    "    new.relpath, '', new.category,\n"
    "    " FTS_META("new") ");\n"
    "END;\n"
    "CREATE TRIGGER samples_fts_au AFTER UPDATE OF name, relpath, category, title,\n"
    "  author, comment, genre, kit, instrument ON samples\n"
    "BEGIN\n"
    "  UPDATE samples_fts SET name = new.name, words = new.relpath, category = new.category,\n"
    "    meta = " FTS_META("new") "\n"
    "  WHERE rowid = new.id;\n"
    "END;\n"
    "INSERT INTO index_log(sample_id) VALUES(0);\n",

    /* 16: a paired device's library id, as its hello says (NULL until a
     * session): versions name the library they were made in, and the
     * history shows that device's name for them. */
    "ALTER TABLE devices ADD COLUMN library TEXT;\n",
};

int shelf__migrate_batch = 20000;

/* What a migration tells its watcher (lib->watch): its step, rows done of
 * total, since t0; ticks of SQLite's progress handler tell it again every
 * quarter of a second. */
typedef struct migrate_ctx {
    shelf_library *lib;
    shelf_open_progress p;
    double t0, last;
} migrate_ctx;

static void tell(migrate_ctx *m)
{
    m->last = shelf__monotonic();
    m->p.seconds = m->last - m->t0;
    m->lib->watch->cb(m->lib->watch->ud, &m->p);
}

static int on_tick(void *ud)
{
    migrate_ctx *m = ud;

    if (shelf__monotonic() - m->last >= 0.25)
        tell(m);
    return 0;                   /* never interrupts */
}

/* Migration 15's refill of samples_fts, a batch of ids at a time so that
 * the watcher hears how far it is. */
static int fill_fts(migrate_ctx *m)
{
    shelf_library *lib = m->lib;
    sqlite3_stmt *hi = NULL, *ins = NULL;
    int64_t lo = 0, top;
    int rc = SHELF_OK;

    if ((rc = shelf__query_int(lib, "SELECT count(*) FROM samples", NULL, &m->p.total)) != SHELF_OK)
        return rc;
    if (!(hi = shelf__prepare(lib, "SELECT coalesce((SELECT id FROM samples WHERE id > ?1 ORDER BY id "
                                   "LIMIT 1 OFFSET ?2), (SELECT max(id) FROM samples))")) ||
        !(ins = shelf__prepare(lib, FTS15_FILL))) {
        rc = lib->err.rc;
        goto out;
    }
    while (m->p.done < m->p.total) {
        sqlite3_bind_int64(hi, 1, lo);
        sqlite3_bind_int64(hi, 2, shelf__migrate_batch - 1);
        if (sqlite3_step(hi) != SQLITE_ROW) {
            rc = shelf__dberr(lib, "schema migration 15");
            goto out;
        }
        top = sqlite3_column_int64(hi, 0);
        sqlite3_reset(hi);
        sqlite3_bind_int64(ins, 1, lo);
        sqlite3_bind_int64(ins, 2, top);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            rc = shelf__dberr(lib, "schema migration 15");
            goto out;
        }
        sqlite3_reset(ins);
        if (top <= lo)          /* every sample is in (the count and the ids agree) */
            break;
        m->p.done += sqlite3_changes(lib->db);
        lo = top;
        if (lib->watch)
            tell(m);
    }
out:
    sqlite3_finalize(hi);
    sqlite3_finalize(ins);
    return rc;
}

int shelf__schema_migrate(shelf_library *lib, int target)
{
    sqlite3_stmt *st;
    migrate_ctx m;
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
    memset(&m, 0, sizeof m);
    m.lib = lib;
    m.p.size = sizeof m.p;
    m.p.from = v;
    m.p.to = target;
    m.t0 = shelf__monotonic();
    /* a new catalog (version 0) is created, not upgraded, and a current
     * one not at all: nothing to tell */
    if (lib->watch && (v == 0 || v >= target))
        lib->watch = NULL;
    if (lib->watch)
        sqlite3_progress_handler(lib->db, 20000, on_tick, &m);
    for (rc = SHELF_OK; v < target && rc == SHELF_OK; v++) {
        m.p.step = v + 1;
        m.p.done = m.p.total = 0;
        if (lib->watch)
            tell(&m);
        if (sqlite3_exec(lib->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
            char what[64];

            snprintf(what, sizeof what, "schema migration %d", v + 1);
            rc = shelf__dberr(lib, what);
        } else if (v + 1 == 15) {
            rc = fill_fts(&m);
        }
    }
    if (lib->watch) {
        sqlite3_progress_handler(lib->db, 0, NULL, NULL);
        if (rc == SHELF_OK) {
            m.p.done = m.p.total;
            tell(&m);
        }
    }
    if (rc != SHELF_OK)
        goto fail;
    snprintf(set, sizeof set, "PRAGMA user_version=%d", v);
    if ((rc = shelf__exec(lib, set)) != SHELF_OK)
        goto fail;
    return shelf__commit(lib);
fail:
    shelf__rollback(lib);
    return rc;
}
