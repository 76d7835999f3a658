-- schema-v1.sql: a catalog of schema version 1, as migration 1 of
-- lib/catalog/schema.c created it (dumped with `sqlite3 shelf.db .dump`),
-- with one root, two samples and a tag on the first.  test_catalog builds
-- a library from it and checks that the newest code migrates it.  This is
-- a fixture of a released format: it never changes.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE roots(
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE
);
INSERT INTO roots VALUES(1,'/srv/old-library/samples');
CREATE TABLE samples(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  root_id INTEGER NOT NULL REFERENCES roots(id),
  relpath TEXT NOT NULL,
  blob TEXT,
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  format TEXT,
  subtype TEXT,
  rate INTEGER,
  channels INTEGER,
  frames INTEGER,
  duration REAL,
  bits INTEGER,
  root_key INTEGER,
  loop_start INTEGER,
  loop_end INTEGER,
  loop_mode INTEGER,
  tempo REAL,
  beats INTEGER,
  category TEXT,
  created INTEGER NOT NULL,
  last_used INTEGER,
  missing INTEGER NOT NULL DEFAULT 0
);
INSERT INTO samples VALUES(1,'Kick_Vintage',1,'Drums/Kick_Vintage.wav',NULL,8864,1600000000000000000,'1111111111111111111111111111111111111111111111111111111111111111','WAV','PCM_16',44100,1,4410,0.10000000000000000555,16,36,NULL,NULL,NULL,NULL,NULL,'kick',1600000000,NULL,0);
INSERT INTO samples VALUES(2,'Warm_Strings',1,'Pads/Warm_Strings.flac',NULL,20480,1600000001000000000,'2222222222222222222222222222222222222222222222222222222222222222','FLAC','PCM_24',48000,2,96000,2.0,24,60,1000,90000,1,90.0,4,'pad',1600000001,1600000100,0);
CREATE TABLE patches(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  author TEXT,
  format TEXT,
  blob TEXT,
  path TEXT,
  version INTEGER NOT NULL DEFAULT 1,
  category TEXT,
  created INTEGER NOT NULL,
  modified INTEGER,
  last_used INTEGER
);
CREATE TABLE projects(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  blob TEXT,
  path TEXT,
  tempo REAL,
  created INTEGER NOT NULL,
  modified INTEGER,
  last_used INTEGER
);
CREATE TABLE automation(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  type TEXT NOT NULL,
  target TEXT NOT NULL,
  start_time REAL NOT NULL DEFAULT 0,
  duration REAL,
  data BLOB
);
CREATE TABLE patch_samples(
  patch_id INTEGER NOT NULL REFERENCES patches(id) ON DELETE CASCADE,
  sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
  PRIMARY KEY(patch_id, sample_id)
) WITHOUT ROWID;
CREATE TABLE project_patches(
  project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  patch_id INTEGER NOT NULL REFERENCES patches(id) ON DELETE CASCADE,
  PRIMARY KEY(project_id, patch_id)
) WITHOUT ROWID;
CREATE TABLE project_samples(
  project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
  PRIMARY KEY(project_id, sample_id)
) WITHOUT ROWID;
CREATE TABLE tags(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE
);
INSERT INTO tags VALUES(1,'analog');
CREATE TABLE tag_items(
  tag_id INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
  kind INTEGER NOT NULL,
  item_id INTEGER NOT NULL,
  PRIMARY KEY(tag_id, kind, item_id)
) WITHOUT ROWID;
INSERT INTO tag_items VALUES(1,1,1);
CREATE TABLE ratings(
  kind INTEGER NOT NULL,
  item_id INTEGER NOT NULL,
  rating INTEGER NOT NULL CHECK(rating BETWEEN 1 AND 5),
  PRIMARY KEY(kind, item_id)
) WITHOUT ROWID;
CREATE TABLE favourites(
  kind INTEGER NOT NULL,
  item_id INTEGER NOT NULL,
  added INTEGER NOT NULL,
  PRIMARY KEY(kind, item_id)
) WITHOUT ROWID;
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('samples',2);
CREATE UNIQUE INDEX samples_path ON samples(root_id, relpath);
CREATE INDEX samples_name ON samples(name COLLATE NOCASE);
CREATE INDEX samples_sha256 ON samples(sha256);
CREATE INDEX samples_blob ON samples(blob) WHERE blob IS NOT NULL;
CREATE INDEX samples_rate ON samples(rate);
CREATE INDEX samples_root_key ON samples(root_key);
CREATE INDEX samples_tempo ON samples(tempo);
CREATE INDEX samples_last_used ON samples(last_used);
CREATE INDEX samples_missing ON samples(missing) WHERE missing;
CREATE INDEX patches_name ON patches(name COLLATE NOCASE);
CREATE INDEX projects_name ON projects(name COLLATE NOCASE);
CREATE INDEX automation_project ON automation(project_id);
CREATE INDEX patch_samples_sample ON patch_samples(sample_id);
CREATE INDEX project_patches_patch ON project_patches(patch_id);
CREATE INDEX project_samples_sample ON project_samples(sample_id);
CREATE INDEX tag_items_item ON tag_items(kind, item_id);
CREATE TRIGGER samples_meta_ad AFTER DELETE ON samples BEGIN
  DELETE FROM tag_items WHERE kind = 1 AND item_id = old.id;
  DELETE FROM ratings WHERE kind = 1 AND item_id = old.id;
  DELETE FROM favourites WHERE kind = 1 AND item_id = old.id;
END;
CREATE TRIGGER patches_meta_ad AFTER DELETE ON patches BEGIN
  DELETE FROM tag_items WHERE kind = 2 AND item_id = old.id;
  DELETE FROM ratings WHERE kind = 2 AND item_id = old.id;
  DELETE FROM favourites WHERE kind = 2 AND item_id = old.id;
END;
CREATE TRIGGER projects_meta_ad AFTER DELETE ON projects BEGIN
  DELETE FROM tag_items WHERE kind = 3 AND item_id = old.id;
  DELETE FROM ratings WHERE kind = 3 AND item_id = old.id;
  DELETE FROM favourites WHERE kind = 3 AND item_id = old.id;
END;
PRAGMA user_version=1;
COMMIT;
