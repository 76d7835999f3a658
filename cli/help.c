/*
 * help.c: the one table of commands and exit statuses.  `shelf help` prints
 * it (--json: as data); scripts/gen-docs writes README's command list from
 * that, and tests/cli/test_docs.sh checks that doc/shelf.1 and README agree
 * with it, so the three cannot drift apart.
 */
#include <string.h>
#include "cli.h"

/*
 * One entry: the commands it documents (names: "cmd" or "cmd sub",
 * separated by ", "), the synopsis as printed (lines after the first
 * indented by the text), and what it does (lines joined by '\n').  A
 * section starts at an entry with a heading.
 */
typedef struct cmd_doc {
    const char *heading;
    const char *names;
    const char *usage;
    const char *text;
} cmd_doc;

static const cmd_doc cmd_docs[] = {
    { "Library", "init", "init [DIR]", "create a library (default: see -L)" },
    { NULL, "import", "import [--copy] [--replace] [--batch N] [-v] PATH...",
      "add audio files and folders; re-running finds\n"
      "changed, moved and missing files and resumes an\n"
      "interrupted import; --copy keeps a copy in the\n"
      "library's store; an original that differs from\n"
      "its copy is reported, --replace takes it; -v\n"
      "names every file" },
    { NULL, "watch", "watch [--debounce MS] [--poll MS] [--no-scan]",
      "keep the catalog in step with the root folders by\n"
      "itself (doc/service.md): rescan them, then import\n"
      "what is written, moved or deleted there within a\n"
      "second (MS of quiet, 500); prints one line per\n"
      "change (imported, updated, moved, missing, failed\n"
      "PATH) and per note (queue overflow, a root gone or\n"
      "back, the watch limit: such a root is rescanned\n"
      "every --poll MS, 60000); until SIGINT or SIGTERM\n"
      "(exit 0)" },
    { NULL, "stats", "stats", "counts and sizes of the library" },

    { "Browse", "ls", "ls [--sort [-]KEY] [-r] [--limit N] [--offset N] [--missing] [--fav]",
      "list samples (alias: list); KEY: id name path\n"
      "size length rate key bpm added used rating; a\n"
      "leading - or -r/--reverse sorts descending" },
    { NULL, "search", "search [--limit N] [--offset N] [--sort [-]KEY] [--check] QUERY...\n"
      "search --facets [--max-values N] [QUERY...]",
      "words match by prefix in name, path, tags,\n"
      "category and metadata; field:value filters (tag:\n"
      "cat: format: rate: key: bpm: len: rating: fav:\n"
      "added: used: ...), -negation, \"phrases\", OR,\n"
      "(groups); see doc/query.md; best matches first;\n"
      "first 50 unless --limit (0: all); at most 256\n"
      "words and filters; '--' before words that look\n"
      "like options; --facets counts the matches by\n"
      "category, format, rate, key, length, rating, tag...\n"
      "with the filter that selects each value" },
    { NULL, "info", "info ID|PATH...", "everything the catalog knows about a sample" },
    { NULL, "collection new, collection add, collection rm, collection delete, collection ls, "
            "collection show",
      "collection new NAME [QUERY] | add [--at N] NAME ID... | rm NAME ID... |\n"
      "           delete NAME | ls | show NAME",
      "manual collections (ordered lists) and saved\n"
      "searches; search inside one with in:NAME" },
    { NULL, "synonyms ls, synonyms add, synonyms rm", "synonyms [ls] | add WORD WORD... | rm WORD",
      "words that find each other (kick = bd)" },
    { NULL, "dupes", "dupes [--bytes] [--audio] [--name]",
      "identical files, the same audio in other files\n"
      "or encodings, the same name with other sound" },
    { NULL, "dupes fold", "dupes fold KEEP ID|PATH...",
      "fold duplicates into KEEP: their tags, rating,\n"
      "favourite, collections and patch uses move to\n"
      "it, then they leave the catalog (files stay)" },

    { "Edit", "tag add, tag rm", "tag add|rm ID|PATH TAG...", "add or remove tags" },
    { NULL, "rate", "rate ID|PATH 0-5", "rate a sample (0 clears)" },
    { NULL, "fav", "fav [--off] ID|PATH...", "mark (or unmark) favourites" },
    { NULL, "touch", "touch ID|PATH...", "record that a sample was auditioned now" },
    { NULL, "rm", "rm [--force] ID|PATH...",
      "remove from the catalog (files stay; a managed\n"
      "copy nobody else uses is deleted); a sample a\n"
      "patch or project uses needs --force" },
    { NULL, "purge", "purge [--preview] [--force] [--wait] [--backup TARGET]... [--password-file F]\n"
      "       ID|PATH|patch:REF|project:REF...",
      "delete items and every trace shelf keeps: rows,\n"
      "history, tags only they wear, audit rows naming\n"
      "them, search terms, managed copies, sync log and\n"
      "hub segments; paired devices purge them too;\n"
      "--backup repositories too; lists your files and\n"
      "the exports it cannot reach; --preview changes\n"
      "nothing" },

    { "Patches and projects (documents with a version history; doc/documents.md)",
      "patch import", "patch import [--copy] [--allow-missing] [--as-new] [--require-signed] [--format F]\n"
      "       [-v] FILE|DIR...",
      "SFZ, Hydrogen drumkit.xml, ZynAddSubFX .xiz, LMMS\n"
      ".xpf, Decent Sampler .dspreset or shelf .json; the\n"
      "samples they use are imported too; a file imported\n"
      "before is unchanged unless --as-new; a history\n"
      "with FILE.sig beside it is checked and its signer\n"
      "named (see keys); a signature that does not match:\n"
      "exit 10; --require-signed refuses unsigned or\n"
      "untrusted files (exit 10)" },
    { NULL, "patch new", "patch new NAME [--author A] [--category C] | new --file DOC.json", "" },
    { NULL, "patch show", "patch show ID[@VER]",
      "a version (default: the head); VER is a number\n"
      "or a hash prefix; --json prints the document" },
    { NULL, "patch set", "patch set ID PATH=VALUE... [--rm PATH] [-m MSG]",
      "change values (PATH like params/filter/cutoff;\n"
      "tags+=T, tags-=T); checked against the types" },
    { NULL, "patch edit", "patch edit ID[@VER] [--file F|-] [-m MSG]",
      "edit in $EDITOR (or take F); from an older\n"
      "version it starts a branch" },
    { NULL, "patch ls, patch rm, patch touch, patch history, patch diff, patch revert",
      "patch ls | rm [--force] ID... | touch ID... | history ID | diff ID[@A] [B] |\n"
      "      revert ID VER",
      "touch records use (last_used); a patch a\n"
      "project uses needs rm --force" },
    { NULL, "patch merge", "patch merge ID VER [--ours[=PATH]] [--theirs[=PATH]] [--set PATH=VALUE]\n"
      "      [--preview]",
      "three-way merge of VER into the head; conflicts\n"
      "are listed and nothing changes until each is\n"
      "resolved" },
    { NULL, "patch export", "patch export ID[@VER] OUT.sfz | ID OUT.json [--sign-with KEY | --no-sign]",
      "SFZ with the samples copied next to it, or the\n"
      "whole version history (import takes it back),\n"
      "signed by this device (or KEY) in OUT.json.sig" },
    { NULL, "project new, project add, project drop, project show, project set, project edit, "
            "project ls, project rm, project history, project diff, project revert, project merge, "
            "project export, project import",
      "project new NAME [--tempo BPM] | add ID ITEM... | drop ID ITEM... |\n"
      "        show | set | edit | ls | rm | history | diff | revert | merge |\n"
      "        export ID OUT.json [--sign-with KEY | --no-sign] |\n"
      "        import [--as-new] [--require-signed] HISTORY.json",
      "ITEM: patch:ID, sample:ID, a sample id or path" },
    { NULL, "project archive, project unarchive, project archives",
      "project archive ID... [--to TARGET] [--parity N | --no-parity] [--keep-local]\n"
      "        [--ca-file F] [--limit-upload R] [--limit-download R] | unarchive ID... |\n"
      "        archives [ID]",
      "send a project (patches, samples, history) to\n"
      "TARGET as a bag with parity (10%), fetch it back\n"
      "and check it, then free here the samples nothing\n"
      "else uses (kept in the catalog, archived:yes); a\n"
      "run stopped anywhere is finished by the next one\n"
      "(TARGET remembered); unarchive brings the same\n"
      "bytes back, checked; archives lists them" },
    { NULL, "automation add, automation show",
      "automation add PROJECT TARGET TIME:VALUE... [--start S] [--duration S]\n"
      "           [--curve] | show PROJECT [LANE]", "" },
    { NULL, "refs", "refs ID|PATH|patch:ID|project:ID", "what an item uses and what uses it" },
    { NULL, "undo", "undo",
      "undo the newest change to a patch or project\n"
      "(as a new version), or the newest removal;\n"
      "again to go further back" },

    { "Backup (doc/disaster-recovery.md; TARGET: a folder such as a USB stick,\n"
      "s3:https://HOST[:PORT]/BUCKET[/PREFIX] (s3+vhost: for BUCKET.HOST),\n"
      "webdav:https://HOST[:PORT][/PATH], rclone:REMOTE:PATH or a remote's NAME\n"
      "(a URL with another scheme is refused, never made a folder; dir:PATH for\n"
      "any folder name); it may also come from\n"
      "-r TARGET or $SHELF_REPOSITORY; password: --password-file F, $SHELF_PASSWORD,\n"
      "or a prompt.  Every backup, restore and archive command takes --ca-file F\n"
      "(a private CA), --limit-upload RATE and --limit-download RATE (bytes per\n"
      "second: 500K, 10M) and --connections N (parallel transfers, 1-32, 4))",
      "backup init", "backup init [--no-encryption] [--kdf-cost N] TARGET",
      "create a repository (encrypted unless told); on a\n"
      "remote, prints what the provider can see" },
    { NULL, "backup", "backup [--full|--incremental|--differential] [--tag T] TARGET",
      "snapshot the library: catalog, blobs, referenced\n"
      "samples; incremental (default) stores what changed\n"
      "since the last snapshot, differential since the\n"
      "last full, full everything again" },
    { NULL, "backup list, backup show, backup diff", "backup list|show SNAP|diff SNAP1 SNAP2 TARGET...",
      "snapshots (type, base, size added, which ones a\n"
      "restore reads), items, changes" },
    { NULL, "backup check", "backup check [--read-data | --read-data-subset N%] TARGET",
      "names the snapshots and items a damaged file hits" },
    { NULL, "backup repair-index", "backup repair-index TARGET",
      "index again the packs no readable index lists;\n"
      "remove damaged index files" },
    { NULL, "backup forget", "backup forget [--keep-last N] [--keep-daily N] [--keep-weekly N]\n"
      "              [--keep-monthly N] [--dry-run] [--prune] TARGET", "" },
    { NULL, "backup prune", "backup prune [--dry-run] TARGET",
      "remove data no snapshot needs (crash-safe)" },
    { NULL, "backup purge", "backup purge [--dry-run] [--device ID] [--sample SHA256]...\n"
      "              [--doc p:HASH|j:HASH]... TARGET",
      "take samples (by the SHA-256 of their bytes) and\n"
      "patches or projects (names 'shelf purge --preview'\n"
      "shows) out of every snapshot: snapshots written\n"
      "again without them, then every pack that held\n"
      "them rewritten; --dry-run lists the snapshots" },
    { NULL, "backup test-restore", "backup test-restore TARGET [SNAP]",
      "restore into a temporary folder, re-hash all" },
    { NULL, "backup copy", "backup copy [--dst-password-file F] SRC DST [SNAP...]",
      "copy snapshots (all, or SNAP...) to another\n"
      "repository: only blobs DST lacks are sent,\n"
      "checked and encrypted with DST's key; DST's\n"
      "password: $SHELF_DST_PASSWORD, else SRC's" },
    { NULL, "backup key", "backup key list|add|rm ID TARGET",
      "passwords (key files) of a repository" },
    { NULL, "backup unlock", "backup unlock [--all] TARGET",
      "list other runs' locks, remove stale ones (all)" },
    { NULL, "restore", "restore TARGET SNAP [ITEM...|--query Q] [--preview] [--on-conflict P]\n"
      "        [--to DIR [--files-to-original]]",
      "the whole library, or samples (ID), patch:ID,\n"
      "project:ID (with their samples); P: overwrite,\n"
      "keep-both, skip, ask; --to: into an empty folder" },
    { NULL, "log", "log [--limit N]", "the audit log (restores, merges)" },

    { "Archive (BagIt bags for the long term; doc/formats.md, Archives)",
      "archive export", "archive export (--project ID | --patch ID | --query Q | --all)...\n"
      "       OUT.tar|OUT.tar.zst|OUT.zip [--parity N%] [--sync] [--allow-missing]\n"
      "       [--sign-with KEY | --no-sign] [--to TARGET]",
      "items with their samples, catalog metadata and\n"
      "version histories; SHA-256 + SHA-512 manifests;\n"
      "--parity writes PAR2 files par2cmdline reads;\n"
      "a referenced sample missing: exit 3 with the list;\n"
      "signed by this device's key (--sign-with: a key\n"
      "of keys new; --no-sign: not at all);\n"
      "--to: written locally, then uploaded with its\n"
      "PAR2 files to TARGET's archives/ (OUT: a name)" },
    { NULL, "archive verify", "archive verify ARCHIVE [--require-signed] [--from TARGET]",
      "every checksum, and the parity files beside it;\n"
      "the signer and whether it is trusted (this\n"
      "device, paired, trusted, revoked, unknown); a\n"
      "signature that does not match: exit 10;\n"
      "--require-signed: unsigned or untrusted, exit 10;\n"
      "exit 16 + 1 missing | 2 unlisted | 4 corrupt |\n"
      "8 repairable from the parity; --from: download\n"
      "ARCHIVE and its PAR2 files from TARGET first" },
    { NULL, "archive import",
      "archive import ARCHIVE [--preview] [--on-conflict skip|overwrite|keep-both|ask]\n"
      "       [--require-signed] [--from TARGET]",
      "check everything first (unsafe archives are\n"
      "refused), repair from parity, then import;\n"
      "damage: exit 16+ as verify, nothing imported;\n"
      "the signer as verify says; a bad signature, or\n"
      "--require-signed and unsigned or untrusted:\n"
      "exit 10, nothing imported" },
    { NULL, "export-all", "export-all OUT.tar|OUT.tar.zst|OUT.zip [--parity N%] [--allow-missing]\n"
      "       [--sign-with KEY | --no-sign] [--to TARGET]",
      "everything the library holds, in open formats:\n"
      "samples, histories, the catalog as SQLite and\n"
      "each table as CSV and JSON, settings, a README;\n"
      "a BagIt bag (secrets withheld)" },
    { NULL, "export-media", "export-media DIR [--query Q] [--max-per-dir N] [--fat] [--patches] [--sync]",
      "samples for a workstation's card: balanced\n"
      "shard folders (A-C, D-F...) of at most N files\n"
      "(256), DIR/index of names, tags and paths;\n"
      "--fat: FAT-safe names; a re-run writes only\n"
      "what changed and deletes what is gone;\n"
      "--patches: every patch whose samples are on\n"
      "the card as DIR/PATCHES/NAME.sfz" },

    { "Maintenance", "verify", "verify [--repair]",
      "check the catalog, re-hash every file and blob;\n"
      "report missing, changed and corrupt ones;\n"
      "--repair first rebuilds damaged catalog indexes" },
    { NULL, "gc", "gc [--dry-run] [--wait]", "delete unreferenced blobs, crash leftovers and\ncached peaks of bytes no sample has" },
    { NULL, "vacuum", "vacuum [--wait]", "compact the catalog; reports space reclaimed" },
    { NULL, "db-backup", "db-backup FILE", "consistent copy of the catalog while in use" },

    { "Remotes (doc/design.md, \"Credentials\"; a NAME goes anywhere a TARGET does)",
      "remote add", "remote add NAME URL [--ca-file F] [--region R] [--budget BYTES]\n"
      "           [--store-secret keyring|file]",
      "name a target (s3:https://HOST/BUCKET/PREFIX,\n"
      "webdav:https://HOST/PATH, rclone:REMOTE:PATH, a\n"
      "folder); its secret comes from the environment or\n"
      "a prompt and goes to the keyring or the encrypted\n"
      "credential file; prints what the provider can see" },
    { NULL, "remote ls", "remote ls [--snapshots [--repo TARGET]... [--password-file F]]",
      "names, URLs and where each secret is kept;\n"
      "--snapshots: each backup (oldest first) and its\n"
      "snapshot id in every remote (and --repo) holding a\n"
      "copy, '-' where none; one that cannot be opened\n"
      "is one line on stderr, exit 4" },
    { NULL, "remote rm", "remote rm NAME", "forget a remote and delete its stored secret" },
    { NULL, "remote test", "remote test NAME|URL",
      "save, stat, load, list and remove a probe file" },
    { NULL, "remote terms", "remote terms NAME|URL",
      "what the provider can see, known limits, space" },

    { "Devices and sync (doc/sync.md)",
      "device id", "device id [--png FILE] [--qr|--no-qr]",
      "this library's device id (made on first use: an\n"
      "Ed25519 key and certificate in DIR/device/), its\n"
      "name, and on a terminal its QR code; --png FILE:\n"
      "the QR code as an image" },
    { NULL, "device name", "device name [NEW-NAME]", "show or change this device's name" },
    { NULL, "device add", "device add ID [--name NAME]",
      "pair with a device by its id (the Syncthing way:\n"
      "each side adds the other's)" },
    { NULL, "device ls", "device ls [--all]", "paired devices (--all: removed ones too)" },
    { NULL, "device rename", "device rename ID NAME", "rename a paired device" },
    { NULL, "device rm", "device rm ID",
      "remove a paired device: refused from now on; the\n"
      "library key rotates to a new generation" },
    { NULL, "device invite",
      "device invite [--name NAME] [--expires DURATION] [--address HOST:PORT]... [--png FILE] [--out FILE]",
      "a one-time invitation (id, addresses, secret) as\n"
      "text and QR code; --out FILE for a USB stick;\n"
      "then run sync listen" },
    { NULL, "device accept", "device accept INVITATION|FILE [--name NAME]",
      "accept an invitation: pair both ways, take the\n"
      "library key, sync" },

    { NULL, "sync log", "sync log [--device ID [--after N]] [--limit N]",
      "the change log: every change to what syncs (samples,\n"
      "tags, ratings, favourites, collections), oldest\n"
      "first, numbered per device and stamped by a hybrid\n"
      "logical clock; logs changes made since the last call" },
    { NULL, "sync status", "sync status",
      "per device: how many of its changes this one holds\n"
      "(the version vector); per hub: changes waiting to\n"
      "go out, last push and pull, the last error; open\n"
      "conflicts" },
    { NULL, "sync listen", "sync listen [--address HOST:PORT] [--once] [--no-announce]\n"
      "           [--announce-interval S] [--io-timeout S]",
      "wait for paired devices (TLS 1.3, ids pinned) and\n"
      "exchange with each that connects; port 22700 by\n"
      "default, 0 for any; --once: one exchange, its status;\n"
      "announces itself on the LAN (UDP broadcast, port\n"
      "22701) every 5 s unless --no-announce" },
    { NULL, "sync discover", "sync discover [--timeout S]",
      "list the devices announcing themselves on the LAN\n"
      "(6 s by default), paired or not" },
    { NULL, "sync DEVICE", "sync DEVICE|HOST:PORT [--max-delete PCT] [--files managed|all|none] [--io-timeout S]",
      "exchange with a paired device (by name or id, at the\n"
      "address it was last reached, or where it announces\n"
      "itself on the LAN) or an address: each\n"
      "side gets the changes it lacks, merged by the rules\n"
      "of doc/sync.md; a refused peer is one line, exit 1;\n"
      "a run that would remove more than PCT% (50) of the\n"
      "samples here stops, exit 1 (also for pull, watch,\n"
      "listen); samples new here get rows at once and the\n"
      "copies of managed ones follow (--files all: referenced\n"
      "files too, into DIR/synced; none: rows only); a peer\n"
      "silent for S s (60) fails it, exit 1 (also listen; a\n"
      "peer busy applying says it is there)" },
    { NULL, "sync watch", "sync watch (--hub HUB | --peer HOST:PORT)... [--debounce S] [--interval S]",
      "keep in step by itself: push soon after local\n"
      "changes (when none came for 2 s), pull every 60 s,\n"
      "retry what cannot be reached; until interrupted" },
    { NULL, "sync push, sync pull, sync HUB", "sync push|pull HUB | sync HUB",
      "sync through a hub nobody runs code on: a folder\n"
      "(a USB stick), s3:, webdav:, rclone: or remote:NAME;\n"
      "push writes this device's new changes, sealed with\n"
      "the library key and signed, and the copies of its\n"
      "new managed samples (--files all: its referenced\n"
      "files too); pull reads paired devices' and merges\n"
      "them, then fetches files as sync DEVICE does; sync\n"
      "HUB does both" },
    { NULL, "conflicts", "conflicts",
      "patches and projects whose histories sync could not\n"
      "merge (both devices changed the same value): both\n"
      "heads, since when; resolve with patch|project merge;\n"
      "exit 0 when none, 7 when some are open" },

    { "Schedules (doc/service.md)",
      "schedule add", "schedule add KIND SPEC --target T [--name N] [--strategy S] [--keep-last N]\n"
      "           [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--to T2]\n"
      "           [--read-all-within 30d] [--samples N] [--peer] [--password-file F]\n"
      "           [--to-password-file F] [--unused-days N] [--parity N] [--keep-local]",
      "run a job by itself: KIND backup (with retention:\n"
      "forget and prune after it), copy (to --to), sync\n"
      "(a hub, or --peer HOST:PORT), check (reads a slice\n"
      "of the data each run, all within --read-all-within)\n"
      "test-restore (--samples random samples, hashes\n"
      "compared) or archive (projects unused for\n"
      "--unused-days, 180 by default, as project archive\n"
      "does); SPEC hourly, daily [HH:MM], weekly [DAY]\n"
      "[HH:MM], monthly [DAY] [HH:MM] or every N(m|h|d|w),\n"
      "local time; a bad SPEC is one line with its column;\n"
      "none until added (the daemon runs them)" },
    { NULL, "schedule ls", "schedule [ls]",
      "the schedules: next run, last result" },
    { NULL, "schedule rm, schedule pause, schedule resume", "schedule rm|pause|resume NAME",
      "remove one (and its log), or stop and restart it\n"
      "(a paused schedule is kept, never due)" },
    { NULL, "schedule run", "schedule run NAME | --due",
      "run one now, or every due one once (a run missed\n"
      "while the machine was off runs once); each run is\n"
      "logged; a failed run is one line on stderr, exit 1\n"
      "(8: wrong or missing password); a schedule that is\n"
      "running already: exit 5, nothing run" },
    { NULL, "schedule log", "schedule log [NAME] [--limit N]",
      "the runs kept (the last 100 of each schedule)" },
    { NULL, "schedule suggest", "schedule suggest",
      "a plan from the library's size, remotes, hubs and\n"
      "paired devices: the 'schedule add' lines to run;\n"
      "changes nothing" },

    { "Signing keys (archives and histories; doc/formats.md, Archive signature)",
      "keys ls", "keys [ls]",
      "this device's key, keys made here, trusted keys\n"
      "(revoked ones marked)" },
    { NULL, "keys new", "keys new NAME [--file PATH]",
      "a signing key for someone else (a sound designer\n"
      "selling packs): LIBRARY/keys/NAME.key or PATH,\n"
      "mode 0600; prints its public key file" },
    { NULL, "keys export", "keys export [KEY]",
      "the public key file of this device (or of KEY:\n"
      "a name of keys new or a path) on stdout" },
    { NULL, "keys trust", "keys trust FILE|- [--name NAME]",
      "trust the key of a public key file: what it signs\n"
      "reads as trusted" },
    { NULL, "keys revoke", "keys revoke KEY|NAME",
      "stop trusting a key; it stays listed, revoked" },

    { "Streaming (doc/streaming.md)",
      "stream stress", "stream stress [--voices N | --ramp] [--duration S] [--block 128] [--rate 48000]\n"
      "           [--cold] [--inject-errors RATE] [--inject-latency MS@RATE]\n"
      "           [--mirror DIR] [--fail-primary FROM[:TO] | --slow-primary MS@FROM[:TO]]\n"
      "           [--failover MS] [--recheck MS] [--feed] [--worst [--preroll S]]\n"
      "           [--no-reserve] [--no-fixed] [--no-simd] [--out DIR]\n"
      "           [--dir FOLDER | --query Q | ID...]",
      "play a seeded note script from disk, paced in\n"
      "real time; per-second CSV and PNG in --out;\n"
      "--ramp finds the highest clean polyphony; from\n"
      "the library (not --dir) it publishes the engine's\n"
      "health each second (LIBRARY/stream/health.json);\n"
      "--mirror DIR: each file's copy under DIR (or in\n"
      "DIR/index: export-media, setlist mirror), read\n"
      "when the primary fails or is late (--fail-primary,\n"
      "--slow-primary: the primary fails those seconds);\n"
      "--feed: the callback only copies the voices' data\n"
      "out (no interpolation, no mix): the storage side;\n"
      "--worst: each voice its own file from a random\n"
      "start, started in a pre-roll of S (1) seconds;\n"
      "the voices' RAM is reserved and faulted in first\n"
      "(--no-reserve: not); --no-fixed: reads go into\n"
      "buffers not registered with io_uring; --no-simd:\n"
      "the mix in plain C, not vector instructions (the\n"
      "same output)" },
    { NULL, "stream monitor", "stream monitor [--once] [--interval S]",
      "the live health of the engine playing this\n"
      "library: underruns, voices dropped, lowest ring\n"
      "fill, read p99, MB/s over the last minute, and\n"
      "when it cannot keep up what to change (polyphony,\n"
      "pins and their RAM, store optimize, a faster\n"
      "medium); redraws every S (1) until SIGINT (exit\n"
      "0); --json: a line per reading; --once: one; no\n"
      "engine running, or its file stale: exit 3" },
    { NULL, "stream render", "stream render [--ram] [--check] [--mirror DIR] [--fail-primary]\n"
      "           [--recheck MS] [--loop-ram MB] SCRIPT OUT.wav",
      "render a note script offline (streamed and RAM\n"
      "renders are bit-identical; --check proves it);\n"
      "--mirror DIR: each sample's copy under DIR (its\n"
      "path under the script's folder; #ID by DIR/index\n"
      "or its path under its root), read when the\n"
      "primary fails; --fail-primary fails every read\n"
      "of the primaries (to check the mirror); --recheck:\n"
      "a failed primary is tried again after MS of the\n"
      "render's run (500); --loop-ram: a backward or\n"
      "alternating loop of up to MB (16) is held whole in\n"
      "RAM, a longer one streams" },
    { NULL, "cache pin, cache unpin, cache stats", "cache pin|unpin ID|PATH... | stats [--load] [--budget MB]",
      "samples kept whole in RAM while performing" },
    { NULL, "setlist new, setlist add, setlist drop, setlist rm, setlist ls, setlist show, setlist mirror, "
            "setlist check, setlist pin",
      "setlist new NAME | add NAME ITEM... [--at N] | drop NAME POS | rm NAME |\n"
      "        ls | show NAME | mirror NAME DIR... [--no-fat] | check NAME DIR... |\n"
      "        pin NAME [--off]",
      "an ordered list of projects and patches for a gig\n"
      "(ITEM project:ID or patch:ID); mirror copies what it\n"
      "needs to each medium under DIR/NAME (FAT-safe, each\n"
      "byte checked, an index, setlist.json, the patches\n"
      "as SFZ); check says per medium what is there and\n"
      "intact (missing, corrupt, stale: exit 1); pin puts\n"
      "its samples in the cache pins in the set's order" },
    { NULL, "store frag", "store frag [ID|PATH...]", "fragmentation (extents) of sample files" },
    { NULL, "store optimize", "store optimize [--min N] [--dry-run] [ID|PATH...]",
      "rewrite fragmented files contiguously (same\n"
      "bytes and mtime, atomic rename)" },

    { "Web UI (doc/serve.md)",
      "serve", "serve [--port N] [--address ADDR] [--open] [--no-preload] [-v]\n"
      "      [--repo TARGET]... [--password-file FILE] [--ca-file F]",
      "a local web UI and JSON API over the library:\n"
      "prints one line, the address with a session\n"
      "token (--json: url, port, token), and serves\n"
      "until SIGINT or SIGTERM (exit 0); 127.0.0.1:8417\n"
      "unless told (--port 0: any free port); only\n"
      "requests with the token (a cookie after the\n"
      "first visit) and for this host are answered;\n"
      "--open starts a browser (xdg-open); -v logs each\n"
      "request on stderr; a port in use: exit 1; its\n"
      "restore view offers each --repo and the targets\n"
      "of the library's schedules (a password from\n"
      "--password-file or $SHELF_PASSWORD, else the\n"
      "page asks for it)" },

    { "Background service (doc/service.md)",
      "daemon", "daemon [--serve [--port N] [--address ADDR]] [--hub HUB]...\n"
      "       [--peer HOST:PORT]... [--sync-debounce S] [--sync-interval S]\n"
      "       [--listen[=HOST:PORT] [--no-announce]] [--no-watch] [--no-scan]\n"
      "       [--no-schedules] [--log FILE] [--alert-every S] [--no-notify] [--no-space]",
      "the library's background service, one per library\n"
      "(a second: exit 5): watches the roots into the\n"
      "catalog (as shelf watch, a rescan of every root\n"
      "first unless --no-scan; not with --no-watch), runs\n"
      "the schedules when due (not with --no-schedules),\n"
      "looks for alerts every S s (300) and after each run,\n"
      "logs new and cleared ones and sends them as desktop\n"
      "notifications (notify-send, where a session bus is);\n"
      "--serve hosts shelf serve; --hub and --peer run sync\n"
      "watch (its --debounce, --interval); --listen syncs\n"
      "with paired devices that connect (as sync listen,\n"
      "*:22700, announced on the LAN unless --no-announce);\n"
      "logs to stderr\n"
      "(the journal under systemd) or --log FILE; stops on\n"
      "SIGINT or SIGTERM (exit 0; a run in progress stops\n"
      "at its next step, recorded cancelled)" },
    { NULL, "daemon --install-unit", "daemon --install-unit [--unit-dir DIR] [OPTIONS]",
      "write a systemd user unit that runs the daemon with\n"
      "OPTIONS for this library (~/.config/systemd/user)" },
    { NULL, "status", "status [--offline] [--device-days N]",
      "the library, whether its daemon runs, and the alerts\n"
      "that need you, worst first, each with what to do\n"
      "(missing samples, failed or late schedules, damage a\n"
      "check found, a target short of space, sync conflicts,\n"
      "silent devices; doc/service.md);\n"
      "exit 0 when none need you, 11 for a warning, 12 for\n"
      "an error; --offline asks no target for its space" },

    { "Help", "help", "help", "this text (--json: commands and exit statuses)" },
    { NULL, "version", "version", "the version" },
};

/* Exit statuses: the code, what it means, and the short form README uses. */
static const struct exit_doc {
    const char *code, *text, *brief;
} exit_docs[] = {
    { "0", "success", "ok" },
    { "1", "the command failed (the message says what, on what)", "failed" },
    { "2", "usage: bad option or argument (also an invalid tag or rating)", "usage" },
    { "3", "not found: no such library, sample or file\n"
           "(commands on several samples exit with the last failure's status)", "not found" },
    { "4", "import finished, but some files could not be imported (or an\n"
           "original differs from its managed copy)",
      "some files could not be imported" },
    { "5", "the library is busy (another process holds its lock); schedule run:\n"
           "the schedule is running already", "library busy" },
    { "6", "the library was written by a newer shelf", "library written by a newer shelf" },
    { "7", "merge: conflicts left unresolved; nothing was changed",
      "a merge has unresolved conflicts" },
    { "8", "wrong or missing password (backup repositories; also when a password\n"
           "is needed and there is no terminal to ask on)", "wrong or missing password" },
    { "9", "a backup finished, but some samples could not be read",
      "a backup finished but some samples could not be read" },
    { "10", "a signature does not match (archive verify/import, patch/project\n"
            "import), or --require-signed refused unsigned or untrusted content;\n"
            "nothing was imported", "a signature does not match, or unsigned/untrusted refused" },
    { "11", "status: the worst alert is a warning (data is less safe than planned)",
      "status: a warning" },
    { "12", "status: an alert needs you now (something failed or is damaged)", "status: an error" },
    { "16+", "verify found problems: 16 + 1 (missing) + 2 (changed) + 4 (corrupt)\n"
             "archive verify/import: 16 + 1 (missing) + 2 (unlisted) + 4 (corrupt)\n"
             "+ 8 (repairable from the parity files)", "verify found problems" },
    { "130", "interrupted; work done so far is kept", "interrupted (work so far is kept)" },
};

#define NELEM(a) (sizeof (a) / sizeof (a)[0])
#define TEXT_COL 29

/* Lines of s (split at '\n'), each after indent spaces; the first after
 * first_indent. */
static void put_lines(FILE *f, const char *s, int first_indent, int indent)
{
    int first = 1;

    while (*s) {
        size_t n = strcspn(s, "\n");

        fprintf(f, "%*s%.*s\n", first ? first_indent : indent, "", (int)n, s);
        first = 0;
        s += n;
        if (*s == '\n')
            s++;
    }
}

static void print_text(FILE *f)
{
    size_t i;

    fputs("usage: shelf [-L DIR] [--json] [-q] COMMAND [ARGS]\n"
          "\n"
          "shelf keeps a library of samples: a catalog (SQLite) of typed metadata read\n"
          "from the audio, tags, ratings and favourites, with files referenced in place\n"
          "or copied into a content-addressed store.\n", f);
    for (i = 0; i < NELEM(cmd_docs); i++) {
        const cmd_doc *d = &cmd_docs[i];
        size_t ulen = strcspn(d->usage, "\n");

        if (d->heading) {
            fputc('\n', f);
            put_lines(f, d->heading, 0, 0);
        }
        /* The synopsis; the text beside it when it fits, else below. */
        if (!strchr(d->usage, '\n') && ulen + 4 <= TEXT_COL && *d->text) {
            size_t n = strcspn(d->text, "\n");

            fprintf(f, "  %-*s %.*s\n", TEXT_COL - 3, d->usage, (int)n, d->text);
            if (d->text[n])
                put_lines(f, d->text + n + 1, TEXT_COL, TEXT_COL);
        } else {
            put_lines(f, d->usage, 2, 2);
            put_lines(f, d->text, TEXT_COL, TEXT_COL);
        }
    }
    fputs("\n"
          "Options\n"
          "  -L, --library DIR  the library folder; default $SHELF_LIBRARY, else\n"
          "                     $XDG_DATA_HOME/shelf, else ~/.local/share/shelf;\n"
          "                     -LDIR only before the command\n"
          "  --json             machine-readable output (every command)\n"
          "  -q, --quiet        no progress and no summary\n"
          "  --                 what follows is never an option\n"
          "\n"
          "Exit status\n", f);
    for (i = 0; i < NELEM(exit_docs); i++) {
        fprintf(f, "  %-4s ", exit_docs[i].code);
        put_lines(f, exit_docs[i].text, 0, 7);
    }
}

/* The name of a section: its heading up to a note in parentheses. */
static size_t section_len(const char *heading)
{
    const char *p = strstr(heading, " (");

    return p ? (size_t)(p - heading) : strcspn(heading, "\n");
}

/* The table as data: {"commands": [{"name", "usage", "text", "section"}],
 * "exit_statuses": [{"code", "text", "brief"}]}. */
static json_t *help_json(void)
{
    json_t *cmds = json_array(), *codes = json_array();
    const char *section = "";
    size_t i;

    for (i = 0; i < NELEM(cmd_docs); i++) {
        const cmd_doc *d = &cmd_docs[i];
        const char *p = d->names;

        if (d->heading)
            section = d->heading;
        while (*p) {
            size_t n = strcspn(p, ",");

            cli_json_check(json_array_append_new(cmds, json_pack("{s:s%, s:s, s:s, s:s%}", "name", p, n, "usage",
                                                                 d->usage, "text", d->text, "section", section,
                                                                 section_len(section))));
            p += n;
            while (*p == ',' || *p == ' ')
                p++;
        }
    }
    for (i = 0; i < NELEM(exit_docs); i++)
        cli_json_check(json_array_append_new(codes, json_pack("{s:s, s:s, s:s}", "code", exit_docs[i].code, "text",
                                                              exit_docs[i].text, "brief", exit_docs[i].brief)));
    return json_pack("{s:o, s:o}", "commands", cmds, "exit_statuses", codes);
}

int cli_help(const cli *c, FILE *f)
{
    if (c->json)
        cli_print_json(help_json());
    else
        print_text(f);
    return EXIT_OK;
}
